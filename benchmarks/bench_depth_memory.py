"""Depth memory: peak activation memory of training a 256-layer GCN-SSM on Cora, with and without checkpointing.

``--preset lip-res-gcn --layers 512`` (or ``res-gcn``, ``gcnii``) measures the deepest rows of
``study=depth_lipschitz`` instead (Park & Kim's hundreds of layers, issue 46).

Each variant runs in a fresh subprocess. Activation memory = peak during one
training step minus the memory in use just before it, from two sources:
the CPU allocator as seen by ``torch.profiler(profile_memory=True)`` (running
sum of the allocation events, its maximum = peak) and the process peak RSS
(``ru_maxrss``, after a warm-up step so that the baseline includes the
allocator's retained pages). Times: median of training steps; the variants
alternate round by round.
Target: checkpointing cuts peak activation memory >= 4x at <= 1.5x the time.
"""
from __future__ import annotations

import math
import sys

from _common import emit, median, parser, profiler_peak, python_env, ratio, run_python, target, write_results  # isort: skip


# --child name -> (build_model(checkpoint=...), extra environment of the child)
VARIANTS = {
    "none": (False, {}),
    "per-layer": (1, {}),
    "auto": (True, {}),
    # glibc's dynamic mmap threshold keeps freed temporaries in the heap: peak RSS ~4x the live tensors;
    # a fixed threshold returns large blocks to the OS on free
    "auto+MALLOC_MMAP_THRESHOLD_": (True, {"MALLOC_MMAP_THRESHOLD_": "131072"}),
}


#: builder options per preset (GCN-SSM: λ = 0.5 as before; GCNII: its Cora options)
OPTIONS = {"gcn-ssm": {"block_options": {"state_transition": 0.5}}, "gcnii": {"alpha": 0.1, "lambda_": 0.5}}


def child(checkpoint, layers: int, iters: int, preset: str = "gcn-ssm") -> None:
    import resource
    import time

    import torch

    import dgl_ssm

    dgl_ssm.configure_threads(1)
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.models import build_model

    g = load_node_graph("cora")
    x, y = g.ndata["feat"], g.ndata["label"]
    torch.manual_seed(0)
    model = build_model(preset, x.shape[1], 64, int(y.max()) + 1, layers, checkpoint=checkpoint,
                        **OPTIONS.get(preset, {}))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(g, x), y).backward()
        opt.step()

    def maxrss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # KiB on Linux

    rss0 = maxrss()
    step()  # first step: optimizer state, allocator warm-up; its RSS growth bounds the activations
    rss_first = maxrss() - rss0
    prof_peak = profiler_peak(step)
    times = []
    for _ in range(iters):
        t0 = time.process_time()
        step()
        times.append(time.process_time() - t0)
    emit({"profiler_peak_bytes": prof_peak, "rss_growth_first_step_bytes": rss_first, "cpu_s": times})


def main(argv=None):
    import argparse

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=256)
    p.add_argument("--preset", default="gcn-ssm", help="the model (a build_model preset with a checkpoint option)")
    p.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    p.add_argument("--iters", type=int, default=None)
    args = p.parse_args(argv)
    iters = args.iters or (2 if args.quick else 4)
    if args.child:
        return child(VARIANTS[args.child][0], args.layers, iters, args.preset)
    rounds = args.repeats or (1 if args.quick else 2)
    runs = {v: [] for v in VARIANTS}
    for r in range(rounds):
        names = list(VARIANTS)
        for v in names[r % len(names):] + names[: r % len(names)]:
            cmd = [__file__, "--child", v, "--layers", str(args.layers), "--iters", str(iters), "--preset", args.preset]
            runs[v].append(run_python(cmd, env=python_env(**VARIANTS[v][1])))

    def med(v, key):
        return median([run[key] for run in runs[v]])

    def mem(v, key="profiler_peak_bytes"):
        return med("none", key) / max(med(v, key), 1.0)

    def slow(v):
        return ratio([median(r["cpu_s"]) for r in runs[v]], [median(r["cpu_s"]) for r in runs["none"]])

    name = f"{args.layers}-layer {args.preset}, Cora"
    rows = [
        target("depth_memory", f"activation memory, none / checkpoint=True ({name}, allocator peak)", mem("auto"),
               at_least=4.0),
        target("depth_memory", f"step time, checkpoint=True / none ({name}, CPU time)", slow("auto"), at_most=1.5),
        target("depth_memory", "activation memory, none / per-layer checkpoint (old checkpoint=True)", mem("per-layer")),
        target("depth_memory", "step time, per-layer checkpoint / none", slow("per-layer")),
        target("depth_memory", "first-step RSS growth, none / checkpoint=True",
               mem("auto", "rss_growth_first_step_bytes")),
        target("depth_memory", "first-step RSS growth, none / checkpoint=True + MALLOC_MMAP_THRESHOLD_=131072",
               mem("auto+MALLOC_MMAP_THRESHOLD_", "rss_growth_first_step_bytes")),
        target("depth_memory", "step time, checkpoint=True + MALLOC_MMAP_THRESHOLD_ / none",
               slow("auto+MALLOC_MMAP_THRESHOLD_")),
    ]
    mib = {v: {k: round(med(v, k) / 2**20, 1) for k in ("profiler_peak_bytes", "rss_growth_first_step_bytes")}
           for v in runs}
    notes = (f"checkpoint=True checkpoints segments of ceil(sqrt(L)) blocks ({math.ceil(math.sqrt(args.layers))} for "
             f"L={args.layers}); 'per-layer' "
             "(checkpoint=1) is what checkpoint=True did before this benchmark. Peak activation memory in MiB "
             "(allocator peak above the pre-step level, from torch.profiler memory events; RSS growth of the "
             "first step from ru_maxrss, which also counts pages glibc keeps after frees):\n\n"
             "| variant | allocator peak | first-step RSS growth |\n|---|---|---|\n" + "\n".join(
                 f"| {v} | {m['profiler_peak_bytes']} | {m['rss_growth_first_step_bytes']} |" for v, m in mib.items()))
    write_results(args.out, "depth_memory" if args.preset == "gcn-ssm" else f"depth_memory_{args.preset}", rows, {"rounds": rounds, "iters": iters, "MiB": mib, "runs": runs}, notes)


if __name__ == "__main__":
    sys.exit(main())
