"""Mixed precision on the CPU: one Peptides-func epoch at the seed's shape, ``bf16-mixed`` against ``32``.

The cells are built by the study engine's own path (:func:`dgl_ssm.train.cell.prepare_cell`) at the seed paper's
LRGB shape (Arroyo et al. 2025, Appendix C: 17 layers, hidden 105, ReLU, AdamW 1e-3, batch 128; k-hop models at
max_hop 3), on the official splits limited to the first ``--limit`` molecules of each (default 2,000). One epoch is
what the :class:`~dgl_ssm.train.Trainer` runs per epoch: a training pass over the training molecules and a
validation pass over as many validation molecules. The two precisions are timed interleaved, round by round, in
one process with one OpenMP thread (median of the per-round CPU-time ratios, :mod:`_common`).

Also written (``details``): the machine's bfloat16 flags, the dense product of the Peptides layer shape
``(19,300 x 105) @ (105 x 315)`` (a batch) in both precisions (GFLOP/s), which BLAS path torch takes, and with ``--profile``
where the time of one kGCN-SSM epoch goes (dense and sparse products, DGL kernels, casts, element-wise operations,
activations, the optimizer, batching) in both precisions, with the floor: the epoch's dense FLOPs over the measured
throughput of the product at the batch shape.

Targets (issue 39): bf16 / fp32 epoch time <= 0.6 for GCN, GCN-SSM, kGCN-SSM and DRew-GCN (goal 0.4) on a CPU
with native bfloat16 (``avx512_bf16`` or ``amx_bf16``); reported without a target elsewhere.
"""
from __future__ import annotations

import time

from _common import interleaved, parser, ratio, summarize, target, write_results  # isort: skip

MODELS = ("gcn", "gcn-ssm", "kgcn-ssm", "drew-gcn")


def protocol(precision: str, epochs: int = 300):
    from dgl_ssm.train.cell import TrainProtocol

    return TrainProtocol(hidden=105, optimizer="adamw", lr=1e-3, weight_decay=0.0, dropout=0.0, activation="relu",
                         epochs=epochs, patience=epochs, batch_size=128, max_hop=3, precision=precision)


def prepared(preset: str, precision: str, limit: int, layers: int = 17):
    from dgl_ssm.train.cell import DataOptions, prepare_cell

    return prepare_cell("peptides-func", preset, layers, 0, protocol(precision), data=DataOptions(limit=limit))


def epoch_fn(cell):
    trainer = cell.trainer

    def epoch():
        cell.task.train_epoch(trainer._task_model, trainer._task_optimizer)
        cell.task.evaluate(trainer._task_model, ("val",))

    return epoch


def matmul_throughput(repeats: int = 5, rows: int = 19_300, dtypes=("float32", "bfloat16")) -> dict:
    """GFLOP/s of one layer's product at the Peptides-func batch shape, ``(rows x 105) @ (105 x 315)`` (128
    molecules of about 151 atoms; kGCN-SSM's three ring weights side by side), in float32 and in bfloat16 (under
    autocast, as the models run it: the casts included; ``dtypes`` picks which). CPU time (``time.process_time``), best of ``repeats``, so
    that another process on the machine does not count."""
    import torch

    a, b = torch.randn(rows, 105), torch.randn(105, 315)
    flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
    out = {}
    for name, ctx in (("float32", None), ("bfloat16", torch.bfloat16)):
        if name not in dtypes:
            continue
        def run():
            if ctx is None:
                return a @ b
            with torch.autocast("cpu", dtype=ctx):
                return a @ b
        for _ in range(3):
            run()
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            for _ in range(10):
                run()
            times.append((time.process_time() - t0) / 10)
        best = min(times)
        out[name] = {"ms": round(best * 1e3, 3), "gflops": round(flops / best / 1e9, 1)}
    return out


def blas_path() -> dict:
    """Which libraries torch's CPU products use: its build configuration's BLAS and oneDNN lines."""
    import torch

    show = torch.__config__.show()
    keep = [ln.strip() for ln in show.splitlines() if any(k in ln for k in ("BLAS", "MKL", "oneDNN", "LAPACK", "CPU capability"))]
    return {"config": keep, "mkldnn_enabled": torch.backends.mkldnn.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


CATEGORIES = [  # (category, substrings of profiler op names), first match wins; self CPU time
    ("DGL message passing", ("GSpMM", "GSDDMM", "gspmm", "gsddmm", "segment", "edge_softmax")),
    ("casts", ("aten::to", "aten::_to_copy", "aten::copy_")),
    ("dense products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "aten::baddbmm")),
    ("optimizer", ("adam", "Adam", "_foreach", "Optimizer")),
    ("activations", ("relu", "gelu", "tanh", "threshold", "clamp_min")),
    ("element-wise (add, mul, fill)", ("aten::add", "aten::mul", "aten::fill_", "aten::sum", "aten::div")),
    ("batching and loading", ("collate", "index", "cat", "repeat_interleave", "cumsum", "DataLoader")),
]
SPARSE = ("SpMM", "SpMMBackward")  # the k-hop CSR product (dgl_ssm.nn._csr.SpMM) and its backward


def profile_epoch(cell) -> dict:
    """CPU seconds of one epoch by category: every profiled operation's self time, in :data:`CATEGORIES` (the rest
    as "other"), except the operations inside a k-hop CSR product (``SpMM`` forward or backward: the sparse
    ``aten::mm`` and the casts around it), which count as "sparse products". The profiler's times are wall-clock;
    they are scaled to add up to the epoch's CPU time (``time.process_time``), so that another process on the
    machine shifts no share."""
    from torch.profiler import ProfilerActivity, profile

    fn = epoch_fn(cell)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.process_time()
        fn()
        cpu = time.process_time() - start
    totals = {}
    for event in prof.events():
        parent, inside = event, False
        while parent is not None and not inside:
            inside, parent = parent.name in SPARSE, parent.cpu_parent
        category = ("sparse products (k-hop CSR, with their casts)" if inside else
                    next((c for c, keys in CATEGORIES if any(k in event.name for k in keys)), "other"))
        totals[category] = totals.get(category, 0.0) + event.self_cpu_time_total / 1e6
    scale = cpu / sum(totals.values())
    return {"cpu_s": round(cpu, 2), **{k: round(v * scale, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}}


def epoch_flops(cell) -> float:
    """Dense FLOPs of one epoch (forward and backward of the training pass, forward of the validation pass): every
    ``mm`` / ``addmm`` / ``bmm`` whose operands are all dense (strided), counted at dispatch. The k-hop models'
    sparse CSR products are left out (torch's own ``FlopCounterMode`` counts them as dense products)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    total = [0.0]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            tensors = [a for a in args if torch.is_tensor(a)]
            if all(t.layout == torch.strided for t in tensors):
                if func in (aten.mm.default, aten.addmm.default):
                    a, b = tensors[-2], tensors[-1]
                    total[0] += 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
                elif func in (aten.bmm.default, aten.baddbmm.default):
                    a, b = tensors[-2], tensors[-1]
                    total[0] += 2.0 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
            return out

    with Count():
        epoch_fn(cell)()
    return total[0]


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None,
                   help="molecules of each split (the first ones; default 2000, --quick 64)")
    p.add_argument("--models", nargs="*", default=list(MODELS), help="models timed (none: only --profile)")
    p.add_argument("--profile", action="store_true", help="also profile one kGCN-SSM epoch in both precisions")
    args = p.parse_args(argv)
    from dgl_ssm import configure_threads
    from dgl_ssm.train.precision import native_bf16

    configure_threads(args.threads)
    limit = args.limit or (64 if args.quick else 2000)  # a value given beside --quick is honoured
    repeats = args.repeats or (1 if args.quick else 3)
    layers = 3 if args.quick else 17
    batch_rows = 1_930 if args.quick else 19_300  # a tenth of the batch in a quick run: bfloat16 is slow without AVX512
    native = native_bf16()
    rows, details = [], {"limit": limit, "layers": layers, "hidden": 105, "repeats": repeats, "native_bf16": native,
                         "matmul": matmul_throughput(2 if args.quick else 5, rows=batch_rows),
                         "blas": blas_path(), "matmul_rows": batch_rows, "models": {}}
    for preset in args.models:
        cells = {name: prepared(preset, name, limit, layers) for name in ("32", "bf16-mixed")}
        times = interleaved({name: epoch_fn(cell) for name, cell in cells.items()}, repeats=repeats,
                            warmup=0 if args.quick else 1)
        r = ratio(times["bf16-mixed"]["cpu"], times["32"]["cpu"])
        details["models"][preset] = {"params": cells["32"].row["params"], "ms": summarize(times)}
        rows.append(target("precision", f"{preset}: bf16-mixed / 32 epoch CPU time (Peptides-func, {limit} molecules "
                           f"per split, {layers} layers, hidden 105)", r, at_most=0.6 if native else None))
        print(rows[-1], flush=True)
    if args.profile:
        cells = {name: prepared("kgcn-ssm", name, limit, layers) for name in ("32", "bf16-mixed")}
        details["profile_model"] = "kgcn-ssm"
        gflops = {"32": details["matmul"]["float32"]["gflops"], "bf16-mixed": details["matmul"]["bfloat16"]["gflops"]}
        details["profile"] = {}
        for name, cell in cells.items():
            epoch_fn(cell)()  # warm-up
            flops = epoch_flops(cell)
            details["profile"][name] = {"seconds_by_category": profile_epoch(cell), "dense_gflop": round(flops / 1e9, 1),
                                        "floor_s": round(flops / 1e9 / gflops[name], 2)}
    notes = ("Ratios of interleaved epochs in one process (CPU time, median of rounds). Native bfloat16 on this CPU: "
             f"{native}. Dense product ({batch_rows:,} x 105) @ (105 x 315), one batch's layer: " +
             ", ".join(f"{k} {v['gflops']} GFLOP/s" for k, v in details["matmul"].items()) + ".")
    write_results(args.out, "precision", rows, details, notes)


if __name__ == "__main__":
    main()
