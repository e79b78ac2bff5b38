"""Graph-level benchmarks: graph property prediction (SSSP, eccentricity, diameter) and LRGB Peptides.

Examples::

    python recipes/graph_regression.py --task sssp --quick
    python recipes/graph_regression.py --task diameter --models gcn gcn-ssm --state-transition 0.9
    python recipes/graph_regression.py --task peptides-func --config my.yaml
    torchrun --nproc_per_node 2 recipes/graph_regression.py --task eccentricity --quick

Outputs in the run folder: ``results.csv`` (one row per model and seed),
``summary.md`` (mean ± std of the test metric per model), ``loss_curves.png``
and ``<metric>_curves.png`` (training loss and validation metric per epoch), and per run
``<model>-seed<k>/{checkpoint.pt, history.csv}`` (``--resume`` continues them).
"""
from __future__ import annotations

import sys

from dgl_ssm import experiment, report
from dgl_ssm.data import GRAPH_PROPERTY_TASKS, PEPTIDES, GraphPropertyDataset, PeptidesDataset, atom_encoder
from dgl_ssm.experiment import seed_everything
from dgl_ssm.train.distributed import cleanup_distributed, exit_distributed, init_distributed
from dgl_ssm.train import recipe

TASKS = [*GRAPH_PROPERTY_TASKS, *PEPTIDES]

#: Gravina et al. (2023) / Arroyo et al. (2025) settings for graph property prediction
PROPERTY_DEFAULTS = dict(
    models=["gcn", "gcn-ssm"], hidden=30, layers=10, activation="tanh", dropout=0.0, optimizer="adam", lr=3e-3,
    weight_decay=1e-6, scheduler="none", epochs=1500, patience=100, batch_size=512, runs=1,
)
#: LRGB Peptides: AdamW, about 100-130 hidden under a 500k-parameter budget
PEPTIDES_DEFAULTS = dict(
    models=["gcn", "gcn-ssm"], hidden=None, layers=10, activation="gelu", dropout=0.1, optimizer="adamw", lr=1e-3,
    weight_decay=0.0, scheduler="cosine", epochs=250, patience=50, batch_size=128, runs=1,
)
QUICK = dict(epochs=40, patience=40, runs=1)
PARAM_BUDGET = 500_000


def main(argv=None):
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--task", default="sssp", choices=TASKS)
    p.add_argument("--sizes", type=int, nargs=3, default=None, help="graph property split sizes (default 5120 640 1280; --quick 512 128 128)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N graphs of each split (Peptides --quick: 1024)")
    recipe.add_training_flags(p)
    peek = p.parse_known_args(argv)[0]
    property_task = peek.task in GRAPH_PROPERTY_TASKS
    quick = dict(QUICK, **({"sizes": [1024, 256, 256]} if property_task else {"limit": 1024, "epochs": 3}))
    args = recipe.parse_with_config(p, PROPERTY_DEFAULTS if property_task else PEPTIDES_DEFAULTS, argv, quick)

    recipe.check_models(args.models)
    info = init_distributed(args.device)
    run = recipe.start_run(args, f"graph_regression-{args.task}", info)
    log = print if info.is_main else (lambda *a, **k: None)
    try:
        splits = ("train", "val", "test")
        if property_task:
            sizes = tuple(args.sizes or (5120, 640, 1280))

            def load(pre):
                return {s: GraphPropertyDataset(args.task, s, seed=args.seed, root=args.data_root, sizes=sizes, pre_transform=pre) for s in splits}
        else:

            def load(pre):
                return {s: PeptidesDataset(args.task, s, root=args.data_root, data_dir=args.data_dir, pre_transform=pre) for s in splits}

        def load_limited(pre):
            datasets = load(pre)
            for ds in datasets.values():
                ds.head(args.limit)
            return datasets

        variants = recipe.DatasetVariants(load_limited, recipe.max_hop_of(args))
        datasets = variants.for_model(args.models[0])
        if property_task:
            in_feats, out_feats = 2, 1
            readout = None if datasets["train"].level == "node" else "max"
        else:
            in_feats, out_feats, readout = 9, datasets["train"].num_targets, "mean"
        log(f"{args.task}: {', '.join(f'{s} {len(d)}' for s, d in datasets.items())} graphs -> {run.dir}")

        rows, histories = [], {}
        for name in args.models:
            datasets = variants.for_model(name)
            for k in range(args.runs):
                seed = args.seed + k
                seed_everything(seed)
                model = _model(name, args, in_feats, out_feats, readout, seed, property_task)
                log(f"{name} seed {seed}: {recipe.count_parameters(model):,} parameters (hidden {getattr(model, 'hidden', args.hidden)}, {args.layers} layers)")
                result = recipe.run_graph_task(model, datasets, args, run.path(f"{name}-seed{seed}"), info)
                row = {"task": args.task, "model": name, "seed": seed, "params": recipe.count_parameters(model), **result.summary()}
                rows.append(row)
                histories[f"{name}-seed{seed}"] = result.history
                log("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
                recipe.write_rows(run.path("results.csv"), rows, info)
        if info.is_main:
            metric = datasets["train"].default_metric
            table = f"test {metric} (mean ± std over {args.runs} seeds)\n\n" + report.markdown_table(rows, "model", "task", f"test_{metric}", digits=4)
            recipe.write_text(run.path("summary.md"), table + "\n")
            print(table)
            recipe.plot_curves(histories, metric, run.dir)
    finally:
        cleanup_distributed()
    return rows


def _model(name, args, in_feats, out_feats, readout, seed, property_task):
    if property_task:
        return recipe.build_graph_model(name, args, in_feats, out_feats, readout=readout, seed=seed)
    if args.hidden is not None:
        return recipe.build_graph_model(name, args, in_feats, out_feats, readout=readout, encoder=atom_encoder(args.hidden), seed=seed)
    for hidden in range(130, 98, -2):  # widest model within the LRGB parameter budget
        args.hidden = hidden
        model = recipe.build_graph_model(name, args, in_feats, out_feats, readout=readout, encoder=atom_encoder(hidden), seed=seed)
        if recipe.count_parameters(model) <= PARAM_BUDGET:
            args.hidden = None
            return model
    raise ValueError(f"{name} with {args.layers} layers exceeds {PARAM_BUDGET:,} parameters even at hidden 100; use fewer --layers")


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # bad names, missing/corrupt data: one line with the fix
        sys.exit(f"error: {err}")
    exit_distributed(0)  # a torchrun rank ends here: gloo's teardown can hang (dgl_ssm.train.distributed)
