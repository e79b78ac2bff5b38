"""The diagnostics at initialization (``diagnostic.kind``: ``oversmoothing``, ``jacobian``, ``gradients``; a
study's own cells at initialization are :mod:`dgl_ssm.studies.study_init`'s): each runner
``(d, out, device, data_root, data_dir, log) -> rows`` measures untrained models and writes its CSVs and
figures into ``out``. Configuration, validation and dispatch are :mod:`dgl_ssm.studies.diagnostics`'s; the
training kinds are :mod:`dgl_ssm.studies.backward`'s and :mod:`dgl_ssm.studies.gradient_expansion`'s.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..analysis import (
    SignalProbe,
    edge_of_chaos_distance,
    estimate_singular_values,
    estimate_spectral_radius,
    jacobian_eigenvalues,
    jacobian_singular_values,
)
from ..data import load_node_graph
from ..experiment import write_csv
from ..models import build_model

__all__ = ["run_oversmoothing", "run_jacobian", "run_gradients", "oversmoothing_models", "jacobian_models",
           "gradient_models", "propagate", "bfs_subgraph", "matrix_free"]


def oversmoothing_models(input_scale: float) -> dict:
    """Display name -> (preset, builder options)."""
    ssm = {
        f"GCN-SSM λ={lam}": ("gcn-ssm", {"block_options": {"state_transition": lam, "input_matrix": input_scale}})
        for lam in (0.5, 0.75, 1.0)
    }
    return {"GCN": ("gcn", {}), "GAT": ("gat", {}), **ssm, "ResGCN": ("res-gcn", {})}


def propagate(preset: str, options: dict, graph, feat: torch.Tensor, layers: int, activation: str, seed: int) -> list:
    """Per-layer measurements of one untrained model on one graph (rows of SignalProbe's table), in ``feat``'s dtype.

    Adds ``relative_energy`` :math:`E(H)/\\|H\\|_F^2`, which tells a collapse to a constant (falls) from a
    collapse to zero (the energy falls with the norm, the ratio need not).
    """
    torch.manual_seed(seed)
    dim = feat.shape[1]
    model = build_model(preset, dim, dim, 1, layers, activation=activation, **options)
    model = model.to(device=feat.device, dtype=feat.dtype).eval()
    with SignalProbe(model, backward=False) as probe, torch.no_grad():
        model.propagate(graph, feat)
    rows = probe.table().drop(columns="step").to_dict("records")
    for row in rows:
        norm2 = row["feature_norm"] ** 2
        row["relative_energy"] = row["dirichlet_energy"] / norm2 if norm2 > 0 else math.nan
    return rows


def plot_oversmoothing(rows: list, graphs: list, names: list, path) -> None:
    fig, axes = _plt().subplots(2, len(graphs), figsize=(4.5 * len(graphs), 6.5), squeeze=False)
    for col, graph in enumerate(graphs):
        for name in names:
            part = [r for r in rows if r["graph"] == graph and r["model"] == name]
            layers = [r["layer"] for r in part]
            for row_ax, key in zip(axes[:, col], ("dirichlet_energy", "feature_norm")):
                row_ax.plot(layers, [max(r[key], 1e-30) for r in part], label=name)
        axes[0, col].set_title(graph)
        for ax, label in zip(axes[:, col], ("Dirichlet energy", "‖H‖_F")):
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def note(row: dict) -> str:
    if not math.isfinite(row["feature_norm"]):
        return "  (overflow)"
    return "  (underflow to 0 in float32)" if row["feature_norm"] == 0 else ""


def jacobian_models(lambdas, input_scale: float) -> dict:
    """Display name -> (preset, builder options)."""
    ssm = {
        f"GCN-SSM λ={lam}": ("gcn-ssm", {"block_options": {"state_transition": lam, "input_matrix": input_scale}})
        for lam in lambdas
    }
    return {"GCN": ("gcn", {}), "GAT": ("gat", {}), "GIN": ("gin", {}), **ssm}


def bfs_subgraph(graph, max_nodes: int):
    """The first ``max_nodes`` nodes reached by BFS from node 0 (a connected subgraph), or the whole graph."""
    if max_nodes is None or graph.num_nodes() <= max_nodes:
        return graph
    import dgl

    order = torch.cat(dgl.bfs_nodes_generator(graph.cpu(), 0))[:max_nodes]
    return dgl.node_subgraph(graph, order.to(graph.device))


def plot_histograms(spectra: dict, path) -> None:
    fig, axes = _plt().subplots(1, len(spectra), figsize=(3.2 * len(spectra), 3), sharey=True, squeeze=False)
    for ax, (name, sigma) in zip(axes[0], spectra.items()):
        ax.hist(np.log10(np.maximum(sigma**2, 1e-12)), bins=40, color="tab:blue")
        ax.axvline(0.0, color="k", lw=0.8, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log10 σ²  (σ² < 1e-12 at -12)")
    axes[0, 0].set_ylabel("count")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def plot_eigenvalues(eigen: dict, path) -> None:
    fig, axes = _plt().subplots(1, max(len(eigen), 1), figsize=(3.6 * max(len(eigen), 1), 3.6), squeeze=False)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    for ax, (name, eig) in zip(axes[0], eigen.items()):
        ax.plot(circle.real, circle.imag, "k-", lw=0.8, label="unit circle")
        ax.scatter(eig.real, eig.imag, s=4, alpha=0.6)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: ρ = {np.abs(eig).max():.3f}", fontsize=9)
        ax.set_xlabel("Re λ")
    axes[0, 0].set_ylabel("Im λ")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def matrix_free(table: dict, graph, hidden: int, activation: str, seed: int, device) -> list:
    """σ_max, σ_min and ρ(J) of each model's first block, matrix-free (``sigma_min_converged`` False where σ_min is
    only an upper bound: ``estimate_singular_values(..., full_output=True)``)."""
    feat = torch.randn(graph.num_nodes(), hidden, generator=torch.Generator().manual_seed(seed)).to(device)
    rows = []
    for name, (preset, options) in table.items():
        torch.manual_seed(seed)
        layer = build_model(preset, hidden, hidden, 1, 1, activation=activation, **options).to(device).layers[0]
        top, bottom, converged = estimate_singular_values(layer, graph, feat, seed=seed, full_output=True)
        rho = estimate_spectral_radius(layer, graph, feat, seed=seed)
        rows.append({"model": name, "sigma_max": top, "sigma_min": bottom, "sigma_min_converged": converged,
                     "spectral_radius": rho})
    return rows


def _plt():
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    return plt


def gradient_models(input_scale: float) -> dict:
    """Display name -> (preset, builder options) of the gradient-flow diagnostic."""
    return {"GCN": ("gcn", {}), "ResGCN": ("res-gcn", {}), "LipResGCN": ("lip-res-gcn", {}), "GCNII": ("gcnii", {}),
            "GCN-SSM λ=1.0": ("gcn-ssm", {"block_options": {"state_transition": 1.0, "input_matrix": input_scale}})}


def run_gradients(d, out: Path, device, data_root, data_dir, log) -> list:
    """Gradient flow at initialization (eval mode) of the training cross-entropy of node classifiers on ``graphs[0]``:
    per layer ``‖∂L/∂W_ℓ‖`` and the Dirichlet energy and norm of the backpropagated error ``∂L/∂H_ℓ`` (backward
    over-smoothing, Keriven 2025), for every model and depth (``gradients.csv``, ``gradients.png``)."""
    import torch.nn.functional as F

    from ..analysis import gradient_flow
    from ..report import plot_lines

    graph = load_node_graph(d.graphs[0], root=data_root, data_dir=data_dir).to(device)
    mask, label = graph.ndata["train_mask"].bool(), graph.ndata["label"]
    classes = int(label.max()) + 1
    rows = []
    for depth in d.depths:
        for name, (preset, options) in gradient_models(d.input_scale).items():
            torch.manual_seed(d.seed)
            model = build_model(preset, graph.ndata["feat"].shape[1], d.hidden, classes, depth, activation=d.activation,
                                **options).to(device).eval()
            table = gradient_flow(model, graph, graph.ndata["feat"], lambda o: F.cross_entropy(o[mask], label[mask]))
            rows.extend({"graph": d.graphs[0], "depth": depth, "model": name, **r} for r in table.to_dict("records"))
    write_csv(out / "gradients.csv", rows)
    for metric, ylabel, file in (("grad_norm", "‖∂L/∂W_ℓ‖", "gradients.png"),
                                 ("error_dirichlet_energy", "E(∂L/∂H_ℓ)", "error_energy.png")):
        for depth in d.depths:
            series = {}
            for name in gradient_models(d.input_scale):
                part = [r for r in rows if r["depth"] == depth and r["model"] == name and r["layer"] > 0
                        and math.isfinite(r[metric])]
                series[name] = ([r["layer"] for r in part], [max(r[metric], 1e-300) for r in part])
            plot_lines(series, out / file.replace(".png", f"_{depth}.png"), "layer ℓ", ylabel,
                       f"{d.graphs[0]}, {depth} layers, at initialization", logy=True)
    log(f"Gradient flow at initialization on {d.graphs[0]} (width {d.hidden}): ‖∂L/∂W‖ at the first and last layer")
    for depth in d.depths:
        for name in gradient_models(d.input_scale):
            part = [r for r in rows if r["depth"] == depth and r["model"] == name and r["layer"] > 0]
            log(f"  L={depth:4d} {name:16s} {part[0]['grad_norm']:10.2e} {part[-1]['grad_norm']:10.2e}")
    return rows


def run_oversmoothing(d, out: Path, device, data_root, data_dir, log) -> list:
    table = oversmoothing_models(d.input_scale)
    rows = []
    for graph_name in d.graphs:
        graph = load_node_graph(graph_name, root=data_root, data_dir=data_dir).to(device)
        gen = torch.Generator().manual_seed(d.seed)
        feat = torch.randn(graph.num_nodes(), d.hidden, generator=gen).to(device=device, dtype=getattr(torch, d.dtype))
        for name, (preset, options) in table.items():
            for row in propagate(preset, options, graph, feat, d.layers, d.activation, d.seed):
                rows.append({"graph": graph_name, "model": name, **row})
    write_csv(out / "layers.csv", rows)
    plot_oversmoothing(rows, list(d.graphs), list(table), out / "oversmoothing.png")
    log(f"Ratios layer {d.layers} / layer 0 (width {d.hidden}, {d.activation}, B = {d.input_scale} I); "
        "'rel. energy' is E(H)/‖H‖² (scale-free smoothness):")
    log(f"{'graph':8s} {'model':16s} {'energy':>10s} {'norm':>10s} {'rel. energy':>12s}")
    for graph_name in d.graphs:
        for name in table:
            part = [r for r in rows if r["graph"] == graph_name and r["model"] == name]
            first, last = part[0], part[-1]
            e = last["dirichlet_energy"] / first["dirichlet_energy"]
            n = last["feature_norm"] / first["feature_norm"]
            rel = e / n**2 if n > 0 else math.nan
            log(f"{graph_name:8s} {name:16s} {e:10.2e} {n:10.2e} {rel:12.2e}" + note(last))
    return rows


def run_jacobian(d, out: Path, device, data_root, data_dir, log) -> list:
    graph = bfs_subgraph(load_node_graph(d.graphs[0], root=data_root, data_dir=data_dir), d.max_nodes).to(device)
    hidden = d.hidden
    feat = torch.randn(graph.num_nodes(), hidden, generator=torch.Generator().manual_seed(d.seed)).to(device)
    sv_rows, eig_rows, summary, spectra, eigen = [], [], [], {}, {}
    for name, (preset, options) in jacobian_models(d.lambdas, d.input_scale).items():
        torch.manual_seed(d.seed)
        layer = build_model(preset, hidden, hidden, 1, 1, activation=d.activation, **options).to(device).layers[0]
        sigma = jacobian_singular_values(layer, graph, feat, max_size=d.max_size).cpu().numpy()
        spectra[name] = sigma
        sv_rows += [{"model": name, "index": i, "sigma": s, "sigma_sq": s * s} for i, s in enumerate(sigma)]
        # every layer maps d -> d, so its Jacobian is square and has a spectral radius (issue 14: was NaN for non-SSM)
        eig = jacobian_eigenvalues(layer, graph, feat, max_size=d.max_size).cpu().numpy()
        eigen[name], rho = eig, float(np.abs(eig).max())
        eig_rows += [{"model": name, "real": e.real, "imag": e.imag, "modulus": abs(e)} for e in eig]
        summary.append({"model": name, "sigma_max": float(sigma[0]), "sigma_min": float(sigma[-1]),
                        "edge_of_chaos_distance": edge_of_chaos_distance(torch.from_numpy(sigma)),
                        "spectral_radius": rho})
    write_csv(out / "singular_values.csv", sv_rows)
    write_csv(out / "eigenvalues.csv", eig_rows)
    write_csv(out / "summary.csv", summary)
    plot_histograms(spectra, out / "singular_values.png")
    plot_eigenvalues(eigen, out / "eigenvalues.png")
    log(f"Layer Jacobian at init on {d.graphs[0]} (N={graph.num_nodes()}, d={hidden}, {d.activation}, "
        f"B = {d.input_scale} I): {graph.num_nodes() * hidden} x {graph.num_nodes() * hidden}")
    for row in summary:
        log(f"{row['model']:16s} {row['sigma_max']:9.3e} {row['sigma_min']:9.2e} "
            f"{row['edge_of_chaos_distance']:10.3f} {row['spectral_radius']:7.3f}")
    if d.large_graph:
        large = load_node_graph(d.large_graph, root=data_root, data_dir=data_dir).to(device)
        rows = matrix_free(jacobian_models(d.lambdas, d.input_scale), large, d.large_hidden, d.activation, d.seed, device)
        write_csv(out / "matrix_free.csv", rows)
    return summary
