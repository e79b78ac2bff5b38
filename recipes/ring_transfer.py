"""RingTransfer: test accuracy against ring size, one model per preset with n // 2 layers.

Every ring of ``n`` nodes carries its label at node ``n // 2`` and is read at
node 0, so each model gets ``num_layers = n // 2`` message-passing layers (the
least that can carry the label across). Over-squashing shows as accuracy
falling to chance (1 / classes) as ``n`` grows.

Examples::

    python recipes/ring_transfer.py --quick
    python recipes/ring_transfer.py --ring-sizes 4 8 16 32 --models gcn gcn-ssm --state-transition 1.0
    torchrun --nproc_per_node 2 recipes/ring_transfer.py --quick

Outputs in the run folder: ``results.csv`` (one row per model, ring size and
seed), ``summary.md``, ``accuracy_vs_size.png``, ``curves.png`` and per run
``<model>-n<size>-seed<k>/{checkpoint.pt, history.csv}``.
"""
from __future__ import annotations

import sys

from dgl_ssm import experiment
from dgl_ssm.data import RingTransferDataset
from dgl_ssm.experiment import atomic_write, seed_everything
from dgl_ssm.train.distributed import cleanup_distributed, init_distributed
from dgl_ssm.train.recipe import (
    add_training_flags,
    build_graph_model,
    count_parameters,
    markdown_table,
    parse_with_config,
    plot_curves,
    run_graph_task,
    start_run,
    summarise,
    write_rows,
)

DEFAULTS = dict(
    models=["gcn", "gcn-ssm"], ring_sizes=[4, 8, 12, 16, 20], num_graphs=2000, classes=5, hidden=64, layers=None,
    activation="relu", dropout=0.0, optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="none", epochs=100,
    patience=20, batch_size=64, runs=1,
)
QUICK = dict(ring_sizes=[4, 8, 12], num_graphs=400, epochs=15, patience=15, hidden=32)


def main(argv=None):
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--ring-sizes", type=int, nargs="+", default=None, help="ring sizes n (layers = n // 2 unless --layers)")
    p.add_argument("--num-graphs", type=int, default=None, help="graphs per ring size (80/10/10 split)")
    p.add_argument("--classes", type=int, default=None)
    add_training_flags(p)
    args = parse_with_config(p, DEFAULTS, argv, QUICK)

    info = init_distributed(args.device)
    run = start_run(args, "ring_transfer", info)
    log = print if info.is_main else (lambda *a, **k: None)
    fixed_layers = args.layers
    try:
        rows, histories = [], {}
        for n in args.ring_sizes:
            datasets = {
                s: RingTransferDataset(n, args.num_graphs, args.classes, seed=args.seed, split=s, root=args.data_root)
                for s in ("train", "val", "test")
            }
            args.layers = fixed_layers or max(1, n // 2)
            for name in args.models:
                for k in range(args.runs):
                    seed = args.seed + k
                    seed_everything(seed)
                    model = build_graph_model(name, args, args.classes, args.classes, seed=seed)
                    tag = f"{name}-n{n}-seed{seed}"
                    log(f"{tag}: {count_parameters(model):,} parameters, {args.layers} layers")
                    result = run_graph_task(model, datasets, args, run.path(tag), info)
                    rows.append({"model": name, "ring_size": n, "layers": args.layers, "seed": seed, **result.summary()})
                    histories[tag] = result.history
                    log(f"  test accuracy {result.test['accuracy']:.3f} (best epoch {result.best_epoch})")
                    write_rows(run.path("results.csv"), rows, info)
        if info.is_main:
            summary = summarise(rows, "test_accuracy", keys=("model", "ring_size"))
            print(markdown_table(summary, ["model", "ring_size", "runs", "test_accuracy", "std"], run.path("summary.md")))
            plot_accuracy_vs_size(summary, 1.0 / args.classes, run.path("accuracy_vs_size.png"))
            plot_curves(histories, "accuracy", run.path("curves.png"))
    finally:
        cleanup_distributed()
    return rows


def plot_accuracy_vs_size(summary, chance: float, path):
    """Test accuracy (mean ± std over seeds) against ring size, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name in dict.fromkeys(r["model"] for r in summary):
        pts = [r for r in summary if r["model"] == name]
        ax.errorbar([r["ring_size"] for r in pts], [r["test_accuracy"] for r in pts], yerr=[r["std"] for r in pts], marker="o", capsize=3, label=name)
    ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="ring size n (layers = n // 2)", ylabel="test accuracy", ylim=(0, 1.05), title="RingTransfer")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad names, missing data: one line with the fix
        sys.exit(f"error: {err}")
