r"""Gradient over-smoothing and expansion during training (Park & Kim 2024) as ``python -m dgl_ssm.studies.diagnostics``.

Source: Park & Kim (2024), "Taming Gradient Oversmoothing and Expansion in
Graph Neural Networks", arXiv:2410.04824. Only its abstract is in this
project's offline sources; its claims as the abstract states them:

1. "the presence of gradient oversmoothing preventing optimization during
   training": the per-node gradients of a deep GCN's weights all point one way.
2. residual connections "introduce gradient expansion, a phenomenon of the
   gradient explosion in diverse directions", and "constraining the Lipschitz
   bound of each layer can neutralize the gradient expansion".

``kind: gradient_oversmoothing`` trains GCN, ResGCN, the Lipschitz-normalised
ResGCN (``lip-res-gcn``, our implementation of their principle) and GCN-SSM
(λ = 1) at each depth on one graph, and after each epoch of ``measure_epochs``
(0: at initialisation) records per layer :math:`\ell`, in eval mode, for the
training cross-entropy: the mean pairwise cosine similarity of the per-node
weight gradients :math:`m_i\delta_i^\top`
(:func:`~dgl_ssm.analysis.node_gradient_similarity`), the number of nodes
with a non-zero one, :math:`\lVert\partial\mathcal L/\partial W_\ell\rVert_F`, and the cosine between
:math:`\partial\mathcal L/\partial W_\ell` and :math:`\partial\mathcal L/\partial W_{\ell+1}` (the other reading of
"similar across layers"; ``node_gradients.csv``, ``node_gradients_<depth>.png``).
"""
from __future__ import annotations

import math
from pathlib import Path

from ..analysis import layer_node_gradients, node_gradient_similarity
from ..experiment import write_csv
from .backward import in_eval_mode, measured_training, node_task

__all__ = ["expansion_models", "run_gradient_oversmoothing"]


def expansion_models(input_scale: float, activation: str = "relu") -> dict:
    """Display name -> (preset, builder options): every model a GCN convolution per layer, with ``activation``."""
    ssm = {"block_options": {"state_transition": 1.0, "input_matrix": input_scale}}
    return {name: (preset, {"activation": activation, **options}) for name, (preset, options) in
            {"GCN": ("gcn", {}), "ResGCN": ("res-gcn", {}), "LipResGCN": ("lip-res-gcn", {}),
             "GCN-SSM λ=1.0": ("gcn-ssm", ssm)}.items()}


def _measure(model, graph, feat, loss_fn) -> tuple:
    loss, factors = in_eval_mode(model, lambda: layer_node_gradients(model, graph, feat, loss_fn))
    grads = [(m.T @ delta).flatten() for m, delta in factors]  # ∂L/∂W_ℓ
    layers = []
    for layer, (m, delta) in enumerate(factors, start=1):
        similarity, nodes = node_gradient_similarity(m, delta)
        here = grads[layer - 1]
        following = grads[layer] if layer < len(grads) and grads[layer].shape == here.shape else None
        defined = following is not None and bool(here.norm() > 0) and bool(following.norm() > 0)
        layers.append({"layer": layer, "similarity": similarity, "nodes": nodes, "weight_grad_norm": float(here.norm()),
                       "cosine_next_layer": float(here @ following / (here.norm() * following.norm())) if defined
                       else float("nan")})
    return float(loss), layers


def run_gradient_oversmoothing(d, out: Path, device, data_root, data_dir, log) -> list:
    """The experiment of the module docstring; returns the rows of ``node_gradients.csv``."""
    task = node_task(d, device, data_root, data_dir)
    graph, feat, loss_fn, _ = task

    def log_model(depth, name, rows):
        at = {r["epoch"]: r for r in rows if r["model"] == name and r["depth"] == depth and r["layer"] == 1}
        log(f"  L={depth:3d} {name:14s} layer 1: similarity / ‖∂L/∂W‖ " +
            ", ".join(f"epoch {e} {r['similarity']:.3f} / {r['weight_grad_norm']:.2e}" for e, r in at.items()))

    rows = measured_training(d, expansion_models(d.input_scale, d.activation), task, device,
                             lambda model: _measure(model, graph, feat, loss_fn), log_model)
    write_csv(out / "node_gradients.csv", rows)
    _plot(rows, d, out)
    return rows


def _plot(rows: list, d, out: Path) -> None:
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    names = list(expansion_models(d.input_scale))
    for depth in d.depths:
        fig, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 6.6), sharey="row", squeeze=False)
        for col, name in enumerate(names):
            part = [r for r in rows if r["model"] == name and r["depth"] == depth]
            epochs = sorted({r["epoch"] for r in part})
            colours = plt.cm.viridis([i / max(1, len(epochs) - 1) for i in range(len(epochs))])
            for colour, epoch in zip(colours, epochs):
                at = [r for r in part if r["epoch"] == epoch]
                layers = [r["layer"] for r in at]
                axes[0][col].plot(layers, [r["similarity"] for r in at], color=colour, label=f"epoch {epoch}")
                axes[1][col].plot(layers, [max(r["weight_grad_norm"], 1e-300) if math.isfinite(r["weight_grad_norm"])
                                           else float("nan") for r in at], color=colour)
            axes[0][col].set_title(f"{name}, {depth} layers", fontsize=9)
            axes[1][col].set_yscale("log")
            axes[1][col].set_xlabel("layer ℓ")
        axes[0][0].set_ylabel("mean cosine of per-node gradients")
        axes[1][0].set_ylabel("‖∂L/∂W_ℓ‖")
        axes[0][-1].legend(fontsize=7)
        fig.suptitle(f"{d.graphs[0]}: per-node weight gradients m_i δ_iᵀ during training (Park & Kim 2024)", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / f"node_gradients_{depth}.png", dpi=110)
        plt.close(fig)
