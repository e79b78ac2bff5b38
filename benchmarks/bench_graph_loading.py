"""Data loading: graphs/s through GraphDataLoader on the graph property task, and its share of a training epoch.

Loading-only epochs (iterate the GraphTask's loader, which gathers batches from
a packed copy of the split: ``GraphListDataset.collate_positions``), loading
epochs with per-item :func:`dgl.batch` (``GraphListDataset.collate``, what the
task used before) and training epochs (GraphTask.train_epoch: loading +
forward/backward/step of a 10-layer GCN-SSM) alternate; with the k-hop
transform applied once as a cached pre-transform, loading is timed again.
Targets: loading does not dominate (fraction of the training epoch < 0.5);
gathering by position is at least 2x faster than per-item ``dgl.batch`` (the
batches are identical: tests/test_data.py).
"""
from __future__ import annotations

import sys

from _common import interleaved, median, parser, property_graphs, summarize, target, write_results  # isort: skip


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    args = p.parse_args(argv)
    import torch

    import dgl_ssm

    dgl_ssm.configure_threads(args.threads)
    from dgl_ssm.models import build_model
    from dgl_ssm.train.graph import GraphTask

    ds = property_graphs(args.quick)
    from dgl.dataloading import GraphDataLoader

    task = GraphTask({"train": ds, "val": ds, "test": ds}, loss="mse", metric="log10_mse", batch_size=128)
    per_item = GraphDataLoader(ds, collate_fn=ds.collate, batch_size=128, shuffle=True)
    # batch 512: the graph property protocol's (Gravina et al. 2023)
    task512 = GraphTask({"train": ds, "val": ds, "test": ds}, loss="mse", metric="log10_mse", batch_size=512)
    per_item512 = GraphDataLoader(ds, collate_fn=ds.collate, batch_size=512, shuffle=True)
    torch.manual_seed(0)
    model = build_model("gcn-ssm", 2, 64, 1, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    fns = {"load": lambda: [None for _ in task.train_loader], "load_dgl_batch": lambda: [None for _ in per_item],
           "load_512": lambda: [None for _ in task512.train_loader], "load_dgl_batch_512": lambda: [None for _ in per_item512],
           "train_epoch": lambda: task.train_epoch(model, opt)}
    khop_note = "k-hop transform: not measured (dgl_ssm.transforms.KHopRewire is not in this branch yet)."
    try:
        from dgl_ssm.data import GraphPropertyDataset
        from dgl_ssm.data.base import SPLITS  # noqa: F401
        from dgl_ssm.transforms import KHopRewire

        sizes = (512, 64, 128) if args.quick else (5120, 640, 1280)
        ds_k = GraphPropertyDataset("sssp", "train", sizes=sizes, pre_transform=KHopRewire(3))
        task_k = GraphTask({"train": ds_k, "val": ds_k, "test": ds_k}, loss="mse", metric="log10_mse", batch_size=128)
        fns["load_khop_cached"] = lambda: [None for _ in task_k.train_loader]
        khop_note = "k-hop transform: KHopRewire(3) as a cached pre-transform."
    except ImportError:
        pass
    repeats = args.repeats or (3 if args.quick else 5)
    times = interleaved(fns, repeats)
    n = len(ds)
    gps = n / median(times["load"]["wall"])
    frac = median([a / b for a, b in zip(times["load"]["cpu"], times["train_epoch"]["cpu"])])
    rows = [
        target("data_loading", f"graphs/s through GraphDataLoader ({n} graphs, batch 128)", gps, unit="graphs/s"),
        target("data_loading", "loading / training epoch (10-layer GCN-SSM, CPU time)", frac, at_most=0.5),
        target("data_loading", "per-item dgl.batch / gathering by position (loading time)",
               median([a / b for a, b in zip(times["load_dgl_batch"]["wall"], times["load"]["wall"])]), at_least=2.0),
        target("data_loading", "the same at batch 512 (the graph property protocol's)",
               median([a / b for a, b in zip(times["load_dgl_batch_512"]["wall"], times["load_512"]["wall"])]), at_least=2.0),
    ]
    if "load_khop_cached" in times:
        rows.append(target("data_loading", "graphs/s with cached k-hop transform", n / median(
            times["load_khop_cached"]["wall"]), unit="graphs/s"))
    write_results(args.out, "data_loading", rows, {"graphs": n, "repeats": repeats, "median_ms": summarize(times)},
                  khop_note)


if __name__ == "__main__":
    sys.exit(main())
