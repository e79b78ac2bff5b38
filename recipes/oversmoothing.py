"""Over-smoothing at initialization: Dirichlet energy and feature norm over 80 layers of untrained GNNs.

Untrained networks propagate N(0, 1) node features H_0 (no encoder) through
--layers message-passing blocks on Cora, Texas and a 20x20 grid. Models: GCN,
GAT, residual GCN (H + σ(ÂHW)) and GCN-SSM (H Λᵀ + σ(ÂHW) Bᵀ) with Λ = λI,
λ ∈ {0.5, 0.75, 1.0}, B = βI (β = --input-scale, default 0.1 as in
study=depth of python -m dgl_ssm.studies). Every layer's state is
measured with dgl_ssm.analysis.SignalProbe (Dirichlet energy, Rusch et al.
2023 / Arroyo et al. 2025 Eq. 11; ‖H‖_F; μ(H), Park & Kim 2024).

Writes to the run folder:
  layers.csv        one row per (graph, model, layer): dirichlet_energy, feature_norm, mean_deviation
  oversmoothing.png log Dirichlet energy (top) and log ‖H‖_F (bottom) vs layer, one column per graph

    python recipes/oversmoothing.py --quick     # 16 layers, width 8: seconds
    python recipes/oversmoothing.py             # 80 layers, width 16
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from dgl_ssm import experiment  # noqa: E402
from dgl_ssm.analysis import SignalProbe  # noqa: E402
from dgl_ssm.data import NODE_DATASETS, load_node_graph  # noqa: E402
from dgl_ssm.models import build_model  # noqa: E402

GRAPHS = ("cora", "texas", "grid")


def models(input_scale: float) -> dict:
    """Display name -> (preset, builder options)."""
    ssm = {
        f"GCN-SSM λ={lam}": ("gcn-ssm", {"block_options": {"state_transition": lam, "input_matrix": input_scale}})
        for lam in (0.5, 0.75, 1.0)
    }
    return {"GCN": ("gcn", {}), "GAT": ("gat", {}), **ssm, "ResGCN": ("res-gcn", {})}


def propagate(preset: str, options: dict, graph, feat: torch.Tensor, layers: int, activation: str, seed: int) -> list:
    """Per-layer measurements of one untrained model on one graph (rows of SignalProbe's table)."""
    torch.manual_seed(seed)
    dim = feat.shape[1]
    model = build_model(preset, dim, dim, 1, layers, activation=activation, **options).to(feat.device).eval()
    with SignalProbe(model, backward=False) as probe, torch.no_grad():
        model.propagate(graph, feat)
    return probe.table().drop(columns="step").to_dict("records")


def plot(rows: list, graphs: list, names: list, path) -> None:
    fig, axes = plt.subplots(2, len(graphs), figsize=(4.5 * len(graphs), 6.5), squeeze=False)
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
    plt.close(fig)


def note(row: dict) -> str:
    if not math.isfinite(row["feature_norm"]):
        return "  (overflow)"
    return "  (underflow to 0 in float32)" if row["feature_norm"] == 0 else ""


def main(argv=None) -> list:
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--graphs", nargs="+", default=list(GRAPHS), help="node datasets (cora, texas, grid, ...)")
    p.add_argument("--layers", type=int, default=None, help="depth (default 80; quick 16)")
    p.add_argument("--hidden", type=int, default=None, help="feature width (default 16; quick 8)")
    p.add_argument("--activation", default="relu")
    p.add_argument("--input-scale", type=float, default=0.1, help="β in B = βI for the SSM models (as the depth study)")
    args = p.parse_args(argv)
    layers = experiment.positive(p, "--layers", args.layers, 16 if args.quick else 80)
    hidden = experiment.positive(p, "--hidden", args.hidden, 8 if args.quick else 16)
    unknown = [g for g in args.graphs if g not in NODE_DATASETS]
    if unknown:
        p.error(f"unknown node dataset(s) {', '.join(unknown)}; known: {', '.join(NODE_DATASETS)}")
    run = experiment.start(args, "oversmoothing")
    table = models(args.input_scale)

    rows = []
    for graph_name in args.graphs:
        graph = load_node_graph(graph_name, root=args.data_root, data_dir=args.data_dir).to(run.device)
        gen = torch.Generator().manual_seed(args.seed)
        feat = torch.randn(graph.num_nodes(), hidden, generator=gen).to(run.device)
        for name, (preset, options) in table.items():
            for row in propagate(preset, options, graph, feat, layers, args.activation, args.seed):
                rows.append({"graph": graph_name, "model": name, **row})

    experiment.write_csv(run.path("layers.csv"), rows)
    plot(rows, args.graphs, list(table), run.path("oversmoothing.png"))

    print(f"Ratios layer {layers} / layer 0 (width {hidden}, {args.activation}, B = {args.input_scale} I); "
          "'rel. energy' is E(H)/‖H‖² (scale-free smoothness):")
    print(f"{'graph':8s} {'model':16s} {'energy':>10s} {'norm':>10s} {'rel. energy':>12s}")
    for graph_name in args.graphs:
        for name in table:
            part = [r for r in rows if r["graph"] == graph_name and r["model"] == name]
            first, last = part[0], part[-1]
            e = last["dirichlet_energy"] / first["dirichlet_energy"]
            n = last["feature_norm"] / first["feature_norm"]
            rel = e / n**2 if n > 0 else math.nan
            print(f"{graph_name:8s} {name:16s} {e:10.2e} {n:10.2e} {rel:12.2e}" + note(last))
    print(f"wrote {run.path('layers.csv')} and {run.path('oversmoothing.png')}")
    return rows


if __name__ == "__main__":
    experiment.run_main(main)
