"""Jacobian spectrum of one layer at initialization: GCN, GAT, GIN and GCN-SSM(λ) on a small real graph.

For each model, the dense Jacobian of its first block at N(0, 1) node states
(dgl_ssm.analysis.layer_jacobian, (N d) x (N d)) gives the squared singular
values (histogram; Arroyo et al. 2025, Lemma 3.1: for a linear GCN they are
λ_i(Â)² μ_j(WWᵀ)) and, for every layer (all map d -> d), the eigenvalues in the complex
plane against the unit circle (edge of chaos: ρ(J) ≈ 1). Graph: Texas (183
nodes) by default, or the first --max-nodes nodes in BFS order of another
node dataset (e.g. --graph cora --max-nodes 200).

Writes to the run folder:
  singular_values.csv  model, index, sigma, sigma_sq
  eigenvalues.csv      model, real, imag, modulus
  summary.csv          model, sigma_max, sigma_min, edge_of_chaos_distance (mean |1 - σ|), spectral_radius
  singular_values.png  histograms of log10 σ², one panel per model
  eigenvalues.png      eigenvalues of every layer Jacobian with the unit circle
  matrix_free.csv      with --large-graph: σ_max, σ_min and ρ(J) on a graph too large for a
                       dense Jacobian, estimated from Jacobian-vector products (ARPACK / LOBPCG)

    python recipes/jacobian_spectrum.py --quick     # width 4: seconds
    python recipes/jacobian_spectrum.py             # width 8 on Texas (1464 x 1464 Jacobians)
    python recipes/jacobian_spectrum.py --large-graph cora   # + matrix-free on full Cora, width 64
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import dgl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dgl_ssm import experiment  # noqa: E402
from dgl_ssm.analysis import (  # noqa: E402
    edge_of_chaos_distance,
    estimate_singular_values,
    estimate_spectral_radius,
    jacobian_eigenvalues,
    jacobian_singular_values,
)
from dgl_ssm.data import NODE_DATASETS, load_node_graph  # noqa: E402
from dgl_ssm.models import build_model  # noqa: E402


def models(lambdas, input_scale: float) -> dict:
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
    order = torch.cat(dgl.bfs_nodes_generator(graph.cpu(), 0))[:max_nodes]
    return dgl.node_subgraph(graph, order.to(graph.device))


def plot_histograms(spectra: dict, path) -> None:
    fig, axes = plt.subplots(1, len(spectra), figsize=(3.2 * len(spectra), 3), sharey=True, squeeze=False)
    for ax, (name, sigma) in zip(axes[0], spectra.items()):
        ax.hist(np.log10(np.maximum(sigma**2, 1e-12)), bins=40, color="tab:blue")
        ax.axvline(0.0, color="k", lw=0.8, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log10 σ²  (σ² < 1e-12 at -12)")
    axes[0, 0].set_ylabel("count")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_eigenvalues(eigen: dict, path) -> None:
    fig, axes = plt.subplots(1, max(len(eigen), 1), figsize=(3.6 * max(len(eigen), 1), 3.6), squeeze=False)
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
    plt.close(fig)


def matrix_free(table: dict, graph, hidden: int, activation: str, seed: int, device) -> list:
    """σ_max, σ_min and ρ(J) of each model's first block, matrix-free."""
    feat = torch.randn(graph.num_nodes(), hidden, generator=torch.Generator().manual_seed(seed)).to(device)
    rows = []
    for name, (preset, options) in table.items():
        torch.manual_seed(seed)
        layer = build_model(preset, hidden, hidden, 1, 1, activation=activation, **options).to(device).layers[0]
        top, bottom = estimate_singular_values(layer, graph, feat, seed=seed)
        rho = estimate_spectral_radius(layer, graph, feat, seed=seed)
        rows.append({"model": name, "sigma_max": top, "sigma_min": bottom, "spectral_radius": rho})
    return rows


def main(argv=None) -> list:
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--graph", default="texas", help="node dataset (texas, cora, grid, ...)")
    p.add_argument("--max-nodes", type=int, default=None, help="keep the first nodes in BFS order (default: all)")
    p.add_argument("--hidden", type=int, default=None, help="feature width d (default 8; quick 4)")
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.5, 1.0], help="λ of the GCN-SSM models")
    p.add_argument("--input-scale", type=float, default=0.1, help="β in B = βI for the SSM models")
    p.add_argument("--activation", default="relu")
    p.add_argument("--max-size", type=int, default=8192, help="largest N*d for a dense Jacobian")
    p.add_argument("--large-graph", default=None, help="also estimate the spectra matrix-free on this whole graph")
    p.add_argument("--large-hidden", type=int, default=64, help="feature width for --large-graph")
    args = p.parse_args(argv)
    hidden = experiment.positive(p, "--hidden", args.hidden, 4 if args.quick else 8)
    experiment.positive(p, "--max-nodes", args.max_nodes, None)
    experiment.positive(p, "--large-hidden", args.large_hidden, None)
    for flag, name in (("--graph", args.graph), ("--large-graph", args.large_graph)):
        if name is not None and name not in NODE_DATASETS:
            p.error(f"{flag}: unknown node dataset {name!r}; known: {', '.join(NODE_DATASETS)}")
    run = experiment.start(args, "jacobian_spectrum")

    graph = bfs_subgraph(load_node_graph(args.graph, root=args.data_root, data_dir=args.data_dir), args.max_nodes)
    graph = graph.to(run.device)
    feat = torch.randn(graph.num_nodes(), hidden, generator=torch.Generator().manual_seed(args.seed)).to(run.device)
    sv_rows, eig_rows, summary, spectra, eigen = [], [], [], {}, {}
    for name, (preset, options) in models(args.lambdas, args.input_scale).items():
        torch.manual_seed(args.seed)
        model = build_model(preset, hidden, hidden, 1, 1, activation=args.activation, **options).to(run.device)
        layer = model.layers[0]
        sigma = jacobian_singular_values(layer, graph, feat, max_size=args.max_size).cpu().numpy()
        spectra[name] = sigma
        sv_rows += [{"model": name, "index": i, "sigma": s, "sigma_sq": s * s} for i, s in enumerate(sigma)]
        # every layer maps d -> d, so its Jacobian is square and has a spectral radius (issue 14: was NaN for non-SSM)
        eig = jacobian_eigenvalues(layer, graph, feat, max_size=args.max_size).cpu().numpy()
        eigen[name], rho = eig, float(np.abs(eig).max())
        eig_rows += [{"model": name, "real": e.real, "imag": e.imag, "modulus": abs(e)} for e in eig]
        summary.append({"model": name, "sigma_max": float(sigma[0]), "sigma_min": float(sigma[-1]),
                        "edge_of_chaos_distance": edge_of_chaos_distance(torch.from_numpy(sigma)),
                        "spectral_radius": rho})

    experiment.write_csv(run.path("singular_values.csv"), sv_rows)
    experiment.write_csv(run.path("eigenvalues.csv"), eig_rows)
    experiment.write_csv(run.path("summary.csv"), summary)
    plot_histograms(spectra, run.path("singular_values.png"))
    plot_eigenvalues(eigen, run.path("eigenvalues.png"))

    print(f"Layer Jacobian at init on {args.graph} (N={graph.num_nodes()}, d={hidden}, {args.activation}, "
          f"B = {args.input_scale} I): {graph.num_nodes() * hidden} x {graph.num_nodes() * hidden}")
    print(f"{'model':16s} {'σ_max':>9s} {'σ_min':>9s} {'mean|1-σ|':>10s} {'ρ(J)':>7s}")
    for row in summary:
        print(f"{row['model']:16s} {row['sigma_max']:9.3e} {row['sigma_min']:9.2e} "
              f"{row['edge_of_chaos_distance']:10.3f} {row['spectral_radius']:7.3f}")
    print(f"wrote {run.dir}/summary.csv, singular_values.png, eigenvalues.png")

    if args.large_graph:
        large = load_node_graph(args.large_graph, root=args.data_root, data_dir=args.data_dir).to(run.device)
        rows = matrix_free(models(args.lambdas, args.input_scale), large, args.large_hidden, args.activation,
                           args.seed, run.device)
        experiment.write_csv(run.path("matrix_free.csv"), rows)
        print(f"Matrix-free on {args.large_graph} (N={large.num_nodes()}, d={args.large_hidden}: "
              f"N*d = {large.num_nodes() * args.large_hidden}):")
        for row in rows:
            print(f"{row['model']:16s} {row['sigma_max']:9.3e} {row['sigma_min']:9.2e} {'':10s} {row['spectral_radius']:7.3f}")
    return summary


if __name__ == "__main__":
    experiment.run_main(main)
