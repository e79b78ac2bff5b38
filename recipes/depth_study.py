"""Depth study on Cora: node-classification accuracy vs depth for GCN, residual GCN and GCN-SSM.

Models: GCN, residual GCN (H + σ(ÂHW)), and GCN-SSM (H Λᵀ + σ(ÂHW) Bᵀ) with
Λ = λI, λ ∈ {0.5, 0.75, 1.0}, and B = β I (β = --input-scale, default 0.1:
with B = I the layer Jacobian I + J_F has its spectrum outside the unit circle
and a 64-layer GCN-SSM explodes; see README "Results"). Standard Planetoid
split, early stopping on validation accuracy.

Writes to the run folder:
  results.csv       one row per (model, depth, seed)
  layers.csv        per-layer Dirichlet energy and feature norm of every trained model
  results.md        mean ± std test accuracy per model and depth
  accuracy.png      test accuracy vs depth
  energy.png        per-layer Dirichlet energy and feature norm of the deepest trained models

Rerunning with the same --out skips the (model, depth, seed) cells already in results.csv.

    python recipes/depth_study.py --quick            # ~3 min on 2 cores
    python recipes/depth_study.py                    # full grid, see README for the time
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from dgl_ssm import experiment
from dgl_ssm.analysis import dirichlet_energy, feature_norm
from dgl_ssm.data import load_node_graph
from dgl_ssm.report import markdown_table, plot_lines
from dgl_ssm.train import fit_node_classifier

FULL_DEPTHS = (2, 4, 8, 16, 32, 64, 128)
QUICK_DEPTHS = (2, 8, 32)


def models(input_scale: float) -> dict:
    """Display name -> (preset, builder options)."""
    ssm = {f"GCN-SSM λ={lam}": ("gcn-ssm", {"block_options": {"state_transition": lam, "input_matrix": input_scale}}) for lam in (0.5, 0.75, 1.0)}
    return {"GCN": ("gcn", {}), "ResGCN": ("res-gcn", {}), **ssm}


def main() -> None:
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora", help="node dataset (cora, citeseer, texas, ...)")
    p.add_argument("--depths", type=int, nargs="+", default=None, help=f"depths (default {FULL_DEPTHS}; quick {QUICK_DEPTHS})")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 3; quick 1)")
    p.add_argument("--models", nargs="+", default=None, help="subset of model names")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=None, help="max epochs (default 200; quick 100)")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience (default 50; quick 30)")
    p.add_argument("--input-scale", type=float, default=0.1, help="β in B = βI for the SSM models")
    p.add_argument("--checkpoint", action="store_true", help="gradient checkpointing (less memory, more time)")
    args = p.parse_args()
    zoo = models(args.input_scale)
    if args.models:
        unknown = set(args.models) - set(zoo)
        if unknown:
            p.error(f"unknown models {sorted(unknown)}; choose from {list(zoo)}")
        zoo = {k: v for k, v in zoo.items() if k in args.models}
    run = experiment.start(args, "depth_study")

    depths = args.depths or (QUICK_DEPTHS if args.quick else FULL_DEPTHS)
    seeds = range(args.seed, args.seed + (args.seeds or (1 if args.quick else 3)))
    epochs = args.epochs or (100 if args.quick else 200)
    patience = args.patience or (30 if args.quick else 50)

    graph = load_node_graph(args.dataset, data_dir=args.data_dir, root=args.data_root)
    results = experiment.ResultTable(run.path("results.csv"), ("model", "depth", "seed"))
    layers = experiment.ResultTable(run.path("layers.csv"), ("model", "depth", "seed", "layer"))
    cells = results.pending({"model": m, "depth": d, "seed": s} for d in depths for m in zoo for s in seeds)

    for cell in tqdm(cells, desc="depth study", disable=args.no_progress):
        name, depth, seed = cell["model"], cell["depth"], cell["seed"]
        preset, options = zoo[name]
        model, fit = fit_node_classifier(
            graph, preset, depth, seed, hidden=args.hidden, lr=args.lr, weight_decay=args.weight_decay,
            dropout=args.dropout, max_epochs=epochs, patience=patience, device=run.device,
            checkpoint=args.checkpoint, on_divergence="record", **options,
        )
        layers.add(*layer_profile(model, graph.to(run.device), name, depth, seed))
        results.add({**cell, **fit.summary()})

    results, layers = results.rows, layers.rows
    table = markdown_table(results, "model", "depth", "test_accuracy", scale=100, row_order=list(zoo), col_order=sorted(depths))
    run.path("results.md").write_text(
        f"Test accuracy (%) on {args.dataset}, mean ± std over {len(seeds)} seed(s); "
        f"hidden {args.hidden}, lr {args.lr}, dropout {args.dropout}, SSM input matrix B = {args.input_scale}·I.\n\n{table}\n"
    )
    plot_accuracy(results, zoo, depths, run.path("accuracy.png"), args.dataset)
    plot_layers(layers, zoo, run.path("energy.png"))
    print(table)
    print(f"\nwrote {run.dir}/results.csv, layers.csv, results.md, accuracy.png, energy.png")


@torch.no_grad()
def layer_profile(model, graph, name, depth, seed) -> list:
    """Dirichlet energy and ‖H‖_F of every layer's node states of a trained model (eval mode)."""
    model.eval()
    states = model.hidden_states(graph, graph.ndata["feat"])
    return [
        {"model": name, "depth": depth, "seed": seed, "layer": i, "dirichlet_energy": float(dirichlet_energy(graph, h)), "feature_norm": float(feature_norm(graph, h))}
        for i, h in enumerate(states)
    ]


def plot_accuracy(results, zoo, depths, path, dataset) -> None:
    from dgl_ssm.report import aggregate

    stats = aggregate(results, ("model", "depth"), "test_accuracy")
    series, errors = {}, {}
    for name in zoo:
        xs = [d for d in sorted(depths) if (name, d) in stats]
        series[name] = (xs, [100 * stats[(name, d)][0] for d in xs])
        errors[name] = [100 * stats[(name, d)][1] for d in xs]
    plot_lines(series, path, "depth (layers)", "test accuracy (%)", f"{dataset}: accuracy vs depth", logx=True, errors=errors)


def plot_layers(layers, zoo, path) -> None:
    """Energy and norm vs layer for the deepest model of each kind (first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in zoo:
        rows = [r for r in layers if r["model"] == name]
        if not rows:
            continue
        depth = max(r["depth"] for r in rows)
        seed = min(r["seed"] for r in rows if r["depth"] == depth)
        rows = sorted((r for r in rows if r["depth"] == depth and r["seed"] == seed), key=lambda r: r["layer"])
        for ax, key in zip(axes, ("dirichlet_energy", "feature_norm")):
            ax.plot([r["layer"] for r in rows], [max(r[key], 1e-30) for r in rows], label=f"{name} (L={depth})")
    for ax, title in zip(axes, ("Dirichlet energy E(H)", "feature norm ‖H‖_F")):
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_title(f"{title}, trained models")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
