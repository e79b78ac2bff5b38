"""Run every benchmark (each in its own process) and write runs/bench/summary.md + summary.json.

``make bench`` runs this. Each benchmark writes ``<out>/<name>.json`` and
``<name>.md``; the summary collects their target | measured | pass rows. A
benchmark that fails or is absent (``bench_khop.py`` before the khop branch is
merged) gets an "n/a" row instead of stopping the run.
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from _common import BENCH_DIR, ROOT, Target, machine, parser, python_env, read_targets, table, target  # isort: skip

# (script, result file stem, extra flags, flags for --quick); each writes <out>/<stem>.json
BENCHMARKS = [
    ("bench_ssm_overhead.py", "ssm_overhead", [], ["--quick"]),
    ("bench_openmp.py", "openmp", [], ["--quick"]),
    ("bench_depth_memory.py", "depth_memory", ["--repeats", "1"], ["--quick"]),
    ("bench_khop.py", "bench_khop", ["--nx-limit", "1000"], ["--limit", "1000", "--skip-peptides"]),
    ("bench_khop_conv.py", "khop_conv", [], ["--quick"]),
    ("bench_graph_loading.py", "data_loading", [], ["--quick"]),
    ("bench_peer_pyg.py", "peer_pyg", [], ["--quick"]),
    ("bench_precision.py", "precision", ["--profile"], ["--quick"]),
    ("bench_denormal.py", "denormal", [], ["--quick"]),
    ("bench_mkl_intel_path.py", "mkl_intel_path", [], ["--quick"]),
    ("bench_resistance.py", "resistance", [], ["--quick"]),
]

# bench_khop.py (khop branch) writes its own rows: KHopRewire speed-up over networkx per collection
KHOP_TARGETS = {"peptides-func": 20.0, "synthetic": 5.0}


def khop_targets(path: Path) -> list:
    """Summary rows from ``bench_khop.json``: CPU-time speed-up of KHopRewire over networkx."""
    import json

    rows = []
    for r in json.loads(path.read_text())["results"]:
        what = "Peptides-func" if r["dataset"] == "peptides-func" else f"{r['graphs']} graph-property-like graphs"
        star = " (networkx extrapolated)" if r["networkx_extrapolated"] else ""
        rows.append(target("khop", f"KHopRewire vs networkx, {what}, max_hop={r['max_hop']} (CPU time){star}",
                           r["transform_speedup_cpu"], at_least=KHOP_TARGETS.get(r["dataset"])))
    return rows


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=None, help="result stems to run (default: all)")
    args = p.parse_args(argv)
    out = Path(args.out)
    rows, log = [], {}
    for script, stem, flags, quick_flags in BENCHMARKS:
        if args.only and stem not in args.only:
            continue
        path = BENCH_DIR / script
        if not path.is_file():
            rows.append(Target(stem, f"{script} not in this branch", "-", None, None))
            continue
        cmd = [sys.executable, str(path), "--out", str(out), *(quick_flags if args.quick else flags)]
        t0 = time.time()
        print(f"== {script}", flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, env=python_env())
        log[stem] = {"seconds": round(time.time() - t0, 1), "returncode": proc.returncode}
        result = out / f"{stem}.json"
        if proc.returncode == 0:
            try:
                rows.extend(khop_targets(result) if stem == "bench_khop" else read_targets(result))
            except (OSError, ValueError, KeyError, TypeError):  # e.g. bench_khop.py with its own output format
                rows.append(Target(stem, f"{script} ran; see its own output (no {result.name} rows)", "-", None, None))
        else:
            rows.append(Target(stem, f"{script} failed (rc={proc.returncode})", "-", None, False))
    from dgl_ssm.experiment import atomic_write, write_json

    if args.only and (out / "summary.json").is_file():  # keep the rows of the benchmarks not re-run
        import json

        old = json.loads((out / "summary.json").read_text())
        kept = [Target(**r) for r in old["targets"] if r["benchmark"] not in {*args.only, "khop"} or
                ("bench_khop" not in args.only and r["benchmark"] == "khop")]
        rows = kept + rows
        log = {**{k: v for k, v in old.get("runs", {}).items() if k not in args.only}, **log}
    info = machine()
    command = " ".join(["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])])
    write_json(out / "summary.json", {"command": command, "machine": info, "runs": log,
                                      "targets": [asdict(r) for r in rows]})
    md = (f"# Benchmark summary\n\n{table(rows)}\n\nCommand: `{command}`; {info['note']}. Per-benchmark details: "
          "`<name>.md` and `<name>.json` next to this file.\n\nSeconds per benchmark: " +
          ", ".join(f"{k} {v['seconds']}" for k, v in log.items()) + "\n")
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(md))
    print(table(rows))
    print(info["note"])


if __name__ == "__main__":
    main()
