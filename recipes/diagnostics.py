"""Over-smoothing, the layer Jacobian and gradient flow of any model, as initialised, on any graph: Dirichlet energy
against depth, the Jacobian's extreme singular values layer by layer (the edge of chaos: all near 1), and the
gradient norm of every layer's weights.

    python recipes/diagnostics.py --model gcn gcn-ssm res-gcn --dataset cora --layers 64
    python recipes/diagnostics.py --model gcn-ssm --options '{"block_options": {"state_transition": 0.5}}' --dataset texas

Measures (``dgl_ssm.analysis``, each with its source in its docstring): ``dirichlet_energy`` (normalised; over-smoothing
is its decay with depth), ``estimate_singular_values`` of each layer's Jacobian ∂H_{l+1}/∂H_l (matrix-free: ARPACK and
LOBPCG on Jacobian-vector products; ``sigma_min_converged`` is False where σ_min is only an upper bound), and
``gradient_flow`` of the training cross-entropy (‖∂L/∂W_l‖ per layer: vanishing gradients are its decay toward the
input). Models are built with ``dgl_ssm.models.build_model`` (seed 0, eval mode: no dropout). Writes
``diagnostics.csv`` and ``diagnostics.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F

from dgl_ssm.analysis import dirichlet_energy, estimate_singular_values, gradient_flow
from dgl_ssm.data import NODE_DATASETS, load_node_graph, node_task_info
from dgl_ssm.experiment import check_output_folder, exit_on_error, resolve_device, seed_everything
from dgl_ssm.models import build_model


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", default=["gcn", "gcn-ssm"], help="presets (dgl_ssm.models.PRESETS)")
    p.add_argument("--dataset", choices=[d for d in NODE_DATASETS if d != "grid"], help="default cora")
    p.add_argument("--layers", type=int, help="default 32")
    p.add_argument("--hidden", type=int, help="default 64")
    p.add_argument("--options", default="{}", help="options of every model, as JSON")
    p.add_argument("--every", type=int, default=None, help="Jacobian of every k-th layer (default: about 8 layers)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/diagnostics")
    p.add_argument("--quick", action="store_true", help="a smoke run: by default 8 layers, hidden 16, on Texas (183 nodes)")
    return p.parse_args(argv)


def measure(model, graph, every: int) -> pd.DataFrame:
    """One row per layer: Dirichlet energy of H_l, the Jacobian's extreme singular values, ‖∂L/∂W_l‖."""
    feat, label, mask = graph.ndata["feat"], graph.ndata["label"], graph.ndata["train_mask"].bool()
    with torch.no_grad():
        states = model.hidden_states(graph, feat)
    grads = gradient_flow(model, graph, feat, lambda out: F.cross_entropy(out[mask], label[mask]))
    rows = []
    for layer, h in enumerate(states):
        row = {"layer": layer, "dirichlet_energy": float(dirichlet_energy(graph, h, normalized=True)),
               "grad_norm": float(grads.loc[grads["layer"] == layer, "grad_norm"].iloc[0])}
        if layer < model.num_layers and layer % every == 0:  # the Jacobian of layer `layer`, at its input H_layer
            sigma_max, sigma_min, converged = estimate_singular_values(model.layers[layer], graph, h.detach(), tol=1e-3,
                                                                       full_output=True)  # σ_min bounded: its column
            row.update(sigma_max=sigma_max, sigma_min=sigma_min, sigma_min_converged=converged)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    out = check_output_folder(args.out, "--out ")
    defaults = ("texas", 8, 16) if args.quick else ("cora", 32, 64)  # what the flags, when given, replace
    dataset, layers, hidden = (given if given is not None else default
                               for given, default in zip((args.dataset, args.layers, args.hidden), defaults))
    device = resolve_device(args.device)
    graph = load_node_graph(dataset).to(device)
    info = node_task_info(graph)
    frames = []
    for name in args.model:
        seed_everything(0)
        model = build_model(name, info.in_feats, hidden, info.num_targets, layers, **json.loads(args.options)).to(device).eval()
        frame = measure(model, graph, args.every or max(1, layers // 8))
        frames.append(frame.assign(model=name))
        last, jac = frame.iloc[-1], frame.dropna(subset=["sigma_min"])
        low = jac.loc[jac["sigma_min"].idxmin()]  # an upper bound only where LOBPCG did not converge
        print(f"{name}: Dirichlet energy {frame['dirichlet_energy'].iloc[0]:.3g} -> {last['dirichlet_energy']:.3g} over "
              f"{layers} layers; ‖∂L/∂W‖ first/last layer {frame['grad_norm'].iloc[1]:.3g} / {last['grad_norm']:.3g}; "
              f"Jacobian σ in [{'' if low['sigma_min_converged'] else '≤ '}{low['sigma_min']:.3g}, "
              f"{frame['sigma_max'].max():.3g}]")
    table = pd.concat(frames, ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "diagnostics.csv", index=False)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for name, part in table.groupby("model", sort=False):
        axes[0].semilogy(part["layer"], part["dirichlet_energy"], label=name)
        axes[1].semilogy(part["layer"], part["grad_norm"], label=name)
        jac = part.dropna(subset=["sigma_max"])
        axes[2].plot(jac["layer"], jac["sigma_max"], marker="^", label=f"{name} σ_max")
        axes[2].plot(jac["layer"], jac["sigma_min"], marker="v", linestyle="--", label=f"{name} σ_min")
    axes[0].set(xlabel="layer", ylabel="Dirichlet energy (normalised)", title=f"over-smoothing ({dataset})")
    axes[1].set(xlabel="layer", ylabel="‖∂L/∂W_l‖", title="gradient flow")
    axes[2].axhline(1.0, color="grey", linewidth=0.8)
    axes[2].set(xlabel="layer", ylabel="singular value", title="layer Jacobian (edge of chaos: 1)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "diagnostics.png", dpi=120)
    print(f"wrote {out / 'diagnostics.csv'} and {out / 'diagnostics.png'}")
    return table


if __name__ == "__main__":
    exit_on_error(main)  # a bad value, missing data, no CUDA: one line
