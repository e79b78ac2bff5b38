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

from _common import BENCH_DIR, ROOT, Target, machine, parser, python_env, read_targets, table  # isort: skip

# (script, result file stem, extra flags)
BENCHMARKS = [
    ("bench_ssm_overhead.py", "ssm_overhead", []),
    ("bench_openmp.py", "openmp", []),
    ("bench_depth_memory.py", "depth_memory", ["--repeats", "1"]),
    ("bench_khop.py", "khop", []),
    ("bench_graph_loading.py", "data_loading", []),
    ("bench_peer_pyg.py", "peer_pyg", []),
]


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=None, help="result stems to run (default: all)")
    args = p.parse_args(argv)
    out = Path(args.out)
    rows, log = [], {}
    for script, stem, flags in BENCHMARKS:
        if args.only and stem not in args.only:
            continue
        path = BENCH_DIR / script
        if not path.is_file():
            rows.append(Target(stem, f"{script} not in this branch", "-", None, None))
            continue
        cmd = [sys.executable, str(path), "--out", str(out), *flags, *(["--quick"] if args.quick else [])]
        t0 = time.time()
        print(f"== {script}", flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, env=python_env())
        log[stem] = {"seconds": round(time.time() - t0, 1), "returncode": proc.returncode}
        result = out / f"{stem}.json"
        if proc.returncode == 0:
            try:
                rows.extend(read_targets(result))
            except (OSError, ValueError, KeyError, TypeError):  # e.g. bench_khop.py with its own output format
                rows.append(Target(stem, f"{script} ran; see its own output (no {result.name} rows)", "-", None, None))
        else:
            rows.append(Target(stem, f"{script} failed (rc={proc.returncode})", "-", None, False))
    from dgl_ssm.experiment import atomic_write, write_json

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
