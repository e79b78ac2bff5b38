"""MKL's code path on an AMD CPU: one Peptides-func epoch with MKL's default path against its Intel path.

The pinned torch 2.2.1 wheel links Intel MKL 2022.2. On an AMD CPU, MKL takes its own single-precision GEMM kernels
for it (``mkl_blas_def_sgemm_kernel_0_zen``), which py-spy found under 60 % of a kGCN-SSM epoch's samples on an AMD
EPYC (AVX2). Preloading ``tools/mkl_intel_path.c`` (``make mkl-intel-path``), which tells MKL the CPU is an Intel
one, makes it choose its kernels by the instruction sets alone. This benchmark builds that library with the system C
compiler, then times both paths, each in a fresh process (``LD_PRELOAD`` must be set before the process starts),
alternating round by round: the dense product of the Peptides layer shape ``(19,300 x 105) @ (105 x 315)`` (GFLOP/s)
and one epoch (a training pass and a validation pass over the first ``--limit`` molecules of each split, the seed's
LRGB shape: 17 layers, hidden 105, batch 128; the cells built by the study engine's path, as in
``bench_precision.py``), in CPU time with one OpenMP thread.

Targets: on an AMD CPU, the Intel path's epoch <= 0.8x the default's for kGCN-SSM and DRew-GCN + delay (the tier-2
rows of the LRGB study, which run with it there); on another CPU the ratio is reported (the library changes nothing
on an Intel CPU).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, emit, median, parser, python_env, ratio, run_python, target, write_results  # isort: skip

MODELS = ("kgcn-ssm", "drew-gcn-delay")
SOURCE = ROOT / "tools" / "mkl_intel_path.c"


def cpu_vendor() -> str:
    """``vendor_id`` of /proc/cpuinfo (``AuthenticAMD``, ``GenuineIntel``), ``unknown`` elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def build_library(folder: Path) -> Path:
    """Compile :data:`SOURCE` into ``folder/libmkl_intel_path.so`` with ``cc`` (what ``make mkl-intel-path`` does)."""
    lib = folder / "libmkl_intel_path.so"
    try:
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(SOURCE)], check=True)
    except FileNotFoundError:
        raise SystemExit("error: no C compiler 'cc' to build tools/mkl_intel_path.c: install gcc (Debian: apt install gcc)")
    return lib


def child(models: list, limit: int, epochs: int) -> None:
    import time

    import torch

    from bench_precision import epoch_fn, matmul_throughput, prepared

    torch.set_num_threads(1)
    # float32 only: the bfloat16 half is slow on a CPU without native bfloat16 (and not what this compares)
    result = {"matmul_gflops": matmul_throughput(5 if epochs > 1 else 1, dtypes=("float32",))["float32"]["gflops"]}
    for preset in models:
        fn = epoch_fn(prepared(preset, "32", limit))
        fn()  # warm-up: the first pass allocates and builds the graph formats
        times = []
        for _ in range(epochs):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        result[preset] = median(times)
    emit(result)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--limit", type=int, default=None, help="molecules per split (default 400; --quick 100)")
    p.add_argument("--epochs", type=int, default=None, help="timed epochs per process (default 2; --quick 1)")
    args = p.parse_args(argv)
    limit = args.limit or (100 if args.quick else 400)
    epochs = args.epochs or (1 if args.quick else 2)
    script = [str(__file__), "--child", "--limit", str(limit), "--epochs", str(epochs), "--models", *args.models]
    if args.child:
        return child(args.models, limit, epochs)
    rounds = args.repeats or (1 if args.quick else 2)
    runs = {"default": [], "intel": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"default": python_env(LD_PRELOAD=None, OMP_NUM_THREADS="1"),
               "intel": python_env(LD_PRELOAD=str(build_library(Path(tmp))), OMP_NUM_THREADS="1")}
        for r in range(rounds):
            for path in (("default", "intel") if r % 2 == 0 else ("intel", "default")):
                runs[path].append(run_python(script, env=env[path], timeout=3600, isolated=path == "intel"))
    vendor = cpu_vendor()
    amd = vendor == "AuthenticAMD"
    rows = []
    for preset in args.models:
        measured = ratio([r[preset] for r in runs["intel"]], [r[preset] for r in runs["default"]])
        name = f"{preset}: Intel path / default path epoch CPU time (Peptides-func, {limit} molecules per split)"
        rows.append(target("mkl_intel_path", name, measured, **({"at_most": 0.8} if amd else {}),
                           detail=f"CPU vendor {vendor}"))
    gflops = {path: median([r["matmul_gflops"] for r in rs]) for path, rs in runs.items()}
    rows.append(target("mkl_intel_path", "float32 GFLOP/s of (19,300 x 105) @ (105 x 315), Intel path / default",
                       gflops["intel"] / gflops["default"]))
    epoch_s = {path: {m: round(median([r[m] for r in rs]), 2) for m in args.models} for path, rs in runs.items()}
    notes = (f"CPU vendor: {vendor}. Ratio = CPU time with LD_PRELOAD={SOURCE.relative_to(ROOT)} built / without, "
             "median of per-round ratios, each path in a fresh process, alternating. Median epoch CPU seconds: "
             + "; ".join(f"{path}: " + ", ".join(f"{m} {s}" for m, s in e.items()) for path, e in epoch_s.items())
             + f". Dense product GFLOP/s: default {gflops['default']}, Intel path {gflops['intel']}.")
    write_results(args.out, "mkl_intel_path", rows, {"vendor": vendor, "limit": limit, "epochs": epochs,
                                                     "rounds": rounds, "epoch_cpu_s": epoch_s, "gflops": gflops,
                                                     "runs": runs}, notes)


if __name__ == "__main__":
    sys.exit(main())
