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
seed), ``summary.md``, ``accuracy_vs_size.png``, ``loss_curves.png``, ``accuracy_curves.png`` and per run
``<model>-n<size>-seed<k>/{checkpoint.pt, history.csv}``.
"""
from __future__ import annotations

import sys

from dgl_ssm import experiment, report
from dgl_ssm.data import RingTransferDataset
from dgl_ssm.experiment import seed_everything
from dgl_ssm.train.distributed import cleanup_distributed, exit_distributed, init_distributed
from dgl_ssm.train import recipe

DEFAULTS = dict(
    models=["gcn", "gcn-ssm"], ring_sizes=[4, 8, 12, 16, 20], num_graphs=2000, classes=5, hidden=64, layers=None,
    activation="relu", dropout=0.0, optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="none", epochs=100,
    patience=20, batch_size=64, runs=1,
)
QUICK = dict(ring_sizes=[4, 8, 12], num_graphs=500, epochs=40, patience=40, hidden=32, lr=5e-3)


def main(argv=None):
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--ring-sizes", type=int, nargs="+", default=None, help="ring sizes n (layers = n // 2 unless --layers)")
    p.add_argument("--num-graphs", type=int, default=None, help="graphs per ring size (80/10/10 split)")
    p.add_argument("--classes", type=int, default=None)
    recipe.add_training_flags(p)
    args = recipe.parse_with_config(p, DEFAULTS, argv, QUICK)

    recipe.check_models(args.models)
    info = init_distributed(args.device)
    run = recipe.start_run(args, "ring_transfer", info)
    log = print if info.is_main else (lambda *a, **k: None)
    fixed_layers = args.layers
    try:
        rows, histories = [], {}
        for n in args.ring_sizes:
            variants = recipe.DatasetVariants(
                lambda pre, n=n: {
                    s: RingTransferDataset(n, args.num_graphs, args.classes, seed=args.seed, split=s, root=args.data_root, pre_transform=pre)
                    for s in ("train", "val", "test")
                },
                recipe.max_hop_of(args),
            )
            args.layers = fixed_layers or max(1, n // 2)
            for name in args.models:
                datasets = variants.for_model(name)
                for k in range(args.runs):
                    seed = args.seed + k
                    seed_everything(seed)
                    model = recipe.build_graph_model(name, args, args.classes, args.classes, seed=seed)
                    tag = f"{name}-n{n}-seed{seed}"
                    log(f"{tag}: {recipe.count_parameters(model):,} parameters, {args.layers} layers")
                    result = recipe.run_graph_task(model, datasets, args, run.path(tag), info)
                    rows.append({"model": name, "ring_size": n, "layers": args.layers, "seed": seed, **result.summary()})
                    histories[tag] = result.history
                    log(f"  test accuracy {result.test['accuracy']:.3f} (best epoch {result.best_epoch})")
                    recipe.write_rows(run.path("results.csv"), rows, info)
        if info.is_main:
            table = "test accuracy (%), mean ± std over seeds; columns: ring size\n\n" + report.markdown_table(rows, "model", "ring_size", "test_accuracy", scale=100)
            recipe.write_text(run.path("summary.md"), table + "\n")
            print(table)
            stats = report.aggregate(rows, ("model", "ring_size"), "test_accuracy")
            series, errors = {}, {}
            for (name, n), (mean, std, _) in sorted(stats.items(), key=lambda kv: kv[0][1]):
                series.setdefault(name, ([], []))[0].append(n)
                series[name][1].append(mean)
                errors.setdefault(name, []).append(std)
            report.plot_lines(series, run.path("accuracy_vs_size.png"), "ring size n (layers = n // 2)", "test accuracy", "RingTransfer", errors=errors)
            recipe.plot_curves(histories, "accuracy", run.dir)
    finally:
        cleanup_distributed()
    return rows


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad names, missing/corrupt data: one line with the fix
        sys.exit(f"error: {err}")
    exit_distributed(0)  # a torchrun rank ends here: gloo's teardown can hang (dgl_ssm.train.distributed)
