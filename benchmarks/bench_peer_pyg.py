"""Peer comparison: one training epoch of the same 10-layer GCN, our DGL pipeline vs PyTorch Geometric.

Workloads: Peptides-func (a subset built with ogb's smiles2graph from the
offline CSV, graph-level, mean pooling, BCE) and the graph property task
(sssp, node-level, MSE). Ours: dgl_ssm's GraphTask.train_epoch with
build_model("gcn", ...). PyG: torch_geometric==2.5.3 (GCNConv, DataLoader), run
in its own subprocess with ``--pyg-path`` on PYTHONPATH (install with
``pip install --target /tmp/pyg --no-deps torch_geometric==2.5.3``).
Both: hidden 64, ReLU, batch 128, Adam, same graphs. Target: ours <= 1.0x PyG's time.
"""
from __future__ import annotations

import os
import sys
import time

from _common import (ListDataset, emit, graph_workload, median, parser, python_env, ratio, run_python,  # isort: skip
                     target, write_results)

LAYERS, HIDDEN, BATCH = 10, 64, 128


def _epochs(run_epoch, iters: int, profile: bool):
    run_epoch()  # warm-up
    wall, cpu = [], []
    for _ in range(iters):
        c0, w0 = time.process_time(), time.perf_counter()
        run_epoch()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    out = {"wall": wall, "cpu": cpu}
    if profile:
        from torch.profiler import profile as prof_ctx

        with prof_ctx() as prof:
            run_epoch()
        out["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)
    return out


def child_dgl(workload: str, quick: bool, iters: int, profile: bool, precision: str = "32"):
    import dgl
    import torch

    import dgl_ssm

    dgl_ssm.configure_threads(1)
    from dgl_ssm.models import build_model
    from dgl_ssm.train.graph import GraphTask
    from dgl_ssm.train.precision import Precision

    ds, fin, fout, loss, readout = graph_workload(workload, quick)
    # self-loops belong to the data (GCN's A + I; PyG's GCNConv adds them itself)
    ds = ListDataset([(dgl.add_self_loop(g), y) for g, y in (ds[i] for i in range(len(ds)))],
                     "graph" if readout is not None else "node")
    task = GraphTask({"train": ds, "val": ds, "test": ds}, loss=loss, metric="mae" if loss == "mse" else "ap",
                     batch_size=BATCH)
    torch.manual_seed(0)
    model = build_model("gcn", fin, HIDDEN, fout, LAYERS, readout=readout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    wrapped = Precision(precision, "cpu").wrap(model)
    emit({"graphs": len(ds), **_epochs(lambda: task.train_epoch(wrapped, opt), iters, profile)})


def child_pyg(workload: str, quick: bool, iters: int, profile: bool, precision: str = "32"):
    import torch

    import dgl_ssm

    dgl_ssm.configure_threads(1)
    from torch import nn
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader
    from torch_geometric.nn import GCNConv, global_mean_pool

    ds, fin, fout, loss, readout = graph_workload(workload, quick)
    data = []
    for g, y in (ds[i] for i in range(len(ds))):
        src, dst = g.edges()
        data.append(Data(x=g.ndata["feat"].float(), edge_index=torch.stack([src, dst]).long(),
                         y=y if readout is None else y.unsqueeze(0)))
    loader = DataLoader(data, batch_size=BATCH, shuffle=True)

    class GCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(fin, HIDDEN)
            self.convs = nn.ModuleList(GCNConv(HIDDEN, HIDDEN) for _ in range(LAYERS))
            self.dec = nn.Linear(HIDDEN, fout)

        def forward(self, b):
            h = self.enc(b.x)
            for conv in self.convs:
                h = torch.relu(conv(h, b.edge_index))
            if readout is not None:
                h = global_mean_pool(h, b.batch)
            return self.dec(h)

    torch.manual_seed(0)
    model = GCN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss() if loss == "mse" else nn.BCEWithLogitsLoss()

    def epoch():
        model.train()
        for b in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
                out = model(b)
            out = out.float()
            lo = loss_fn(out, b.y.view_as(out))
            opt.zero_grad()
            lo.backward()
            opt.step()

    emit({"graphs": len(data), **_epochs(epoch, iters, profile)})


def main(argv=None):
    import argparse

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pyg-path", default=os.environ.get("PYG_PATH", "/tmp/pyg"), help="folder with torch_geometric")
    p.add_argument("--profile", action="store_true", help="torch.profiler table of one epoch of each pipeline")
    p.add_argument("--child", choices=["dgl", "pyg"], help=argparse.SUPPRESS)
    p.add_argument("--workload", choices=["peptides", "property"], help=argparse.SUPPRESS)
    p.add_argument("--precision", choices=["32", "bf16-mixed"], default=None,
                   help="one precision for both pipelines (default: both, one after the other)")
    p.add_argument("--iters", type=int, default=None)
    args = p.parse_args(argv)
    iters = args.iters or (2 if args.quick else 3)
    if args.child:
        {"dgl": child_dgl, "pyg": child_pyg}[args.child](args.workload, args.quick, iters, args.profile,
                                                          args.precision or "32")
        return 0
    pyg_env = python_env(PYTHONPATH=os.pathsep.join([python_env()["PYTHONPATH"], args.pyg_path]))
    precisions = [args.precision] if args.precision else ["32", "bf16-mixed"]
    if not os.path.isdir(os.path.join(args.pyg_path, "torch_geometric")):
        # our side still runs (an API change breaks it here, not silently), with no PyG to compare it with
        for prec in precisions:
            run_python([__file__, "--child", "dgl", "--workload", "property", "--iters", "1", "--quick",
                        "--precision", prec])
        rows = [target("peer_pyg", "ours / PyG epoch time", None, at_most=1.0, detail="torch_geometric not found")]
        write_results(args.out, "peer_pyg", rows, {}, f"torch_geometric not found under {args.pyg_path}: our side "
                      "ran (quick), nothing to compare it with.")
        return 0
    rounds = args.repeats or (1 if args.quick else 2)
    runs = {(w, prec): {"dgl": [], "pyg": []} for w in ("peptides", "property") for prec in precisions}
    for (w, prec) in runs:
        for r in range(rounds):
            for c in (["dgl", "pyg"] if r % 2 == 0 else ["pyg", "dgl"]):
                cmd = [__file__, "--child", c, "--workload", w, "--iters", str(iters), "--precision", prec]
                cmd += ["--quick"] * args.quick + ["--profile"] * (args.profile and r == 0)
                runs[(w, prec)][c].append(run_python(cmd, env=pyg_env if c == "pyg" else python_env()))
    rows, notes = [], []
    for (w, prec), rs in runs.items():
        graphs = rs["dgl"][0]["graphs"]
        for clk in ("cpu", "wall"):
            rt = ratio([median(x[clk]) for x in rs["dgl"]], [median(x[clk]) for x in rs["pyg"]])
            label = f"ours / PyG, one epoch of a {LAYERS}-layer GCN, {w} ({graphs} graphs, {prec}, {clk} time)"
            rows.append(target("peer_pyg", label, rt, at_most=1.0) if clk == "cpu" else target("peer_pyg", label, rt))
        for c in ("dgl", "pyg"):
            notes.append(f"{w} {prec} {c}: median epoch {median([median(x['cpu']) for x in rs[c]]) * 1e3:.0f} ms CPU, "
                         f"{median([median(x['wall']) for x in rs[c]]) * 1e3:.0f} ms wall")
            if "profile" in rs[c][0]:
                notes.append(f"\n```\n{rs[c][0]['profile']}\n```\n")
    text = ("Peptides-func: the first molecules of the offline CSV through ogb's smiles2graph (a subset; both "
            "pipelines get the same graphs). Graph property: GraphPropertyDataset('sssp', 'train'). bf16-mixed: "
            "both forwards under torch.autocast(bfloat16), the loss in float32.\n\n" + "\n\n".join(notes))
    for key in runs:
        for c in runs[key]:
            for x in runs[key][c]:
                x.pop("profile", None)
    write_results(args.out, "peer_pyg", rows, {"rounds": rounds, "iters": iters,
                                               "runs": {f"{w} {p}": v for (w, p), v in runs.items()}}, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
