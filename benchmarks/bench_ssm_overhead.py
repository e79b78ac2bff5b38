"""SSM overhead: forward+backward of a 64-layer GCN-SSM vs the same plain 64-layer GCN on Cora.

Target: time(GCN-SSM) / time(GCN) <= 1.10 (median of interleaved rounds).
``--profile`` adds a torch.profiler table of one GCN-SSM step to the Markdown.
"""
from __future__ import annotations

from _common import interleaved, parser, ratio, summarize, target, write_results  # isort: skip  (sets env first)

import torch

import dgl_ssm


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--profile", action="store_true", help="profile one GCN-SSM step (torch.profiler)")
    args = p.parse_args(argv)
    dgl_ssm.configure_threads(args.threads)
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.models import build_model

    g = load_node_graph("cora")
    x, y = g.ndata["feat"], g.ndata["label"]
    torch.manual_seed(0)
    models = {name: build_model(name, x.shape[1], args.hidden, int(y.max()) + 1, args.layers) for name in ("gcn", "gcn-ssm")}

    def step(model):
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(g, x), y).backward()

    repeats = args.repeats or (6 if args.quick else 20)
    times = interleaved({name: (lambda m=m: step(m)) for name, m in models.items()}, repeats)
    cpu = ratio(times["gcn-ssm"]["cpu"], times["gcn"]["cpu"])
    wall = ratio(times["gcn-ssm"]["wall"], times["gcn"]["wall"])
    rows = [
        target("ssm_overhead", f"{args.layers}-layer GCN-SSM / GCN fwd+bwd, Cora (CPU time)", cpu, at_most=1.10),
        target("ssm_overhead", f"{args.layers}-layer GCN-SSM / GCN fwd+bwd, Cora (wall)", wall, unit="x"),
    ]
    notes = ("Primary measure: process CPU time (one OpenMP thread per runtime, so it excludes time spent waiting "
             "for a core on the shared machine); the wall-clock ratio is reported alongside.")
    details = {"layers": args.layers, "hidden": args.hidden, "repeats": repeats, "median_ms": summarize(times),
               "times_s": times}
    if args.profile:
        from torch.profiler import profile

        with profile() as prof:
            step(models["gcn-ssm"])
        notes += "\n\nProfile of one GCN-SSM step:\n\n```\n" + prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=12) + "\n```"
    write_results(args.out, "ssm_overhead", rows, details, notes)


if __name__ == "__main__":
    main()
