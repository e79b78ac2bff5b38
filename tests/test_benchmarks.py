"""Every benchmark's own side runs (``--quick``), so that an API change breaks a test here and not a benchmark
(``make bench`` found bench_peer_pyg and bench_khop_conv broken by the model refactor, months later). PyG is not in
the test environment: the peer comparison runs our side only there. Timings are not asserted (benchmarks/). The smoke
runs call each benchmark's children in its own process (``DGL_SSM_BENCH_IN_PROCESS=1``, benchmarks/_common.py),
except a child whose environment is what it checks (the MKL benchmark's ``LD_PRELOAD``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = [  # the smallest run of each benchmark's own code path (it checks the code, not the speed: CI time)
    ("bench_ssm_overhead.py", "ssm_overhead", ["--quick"]),
    ("bench_openmp.py", "openmp", ["--quick", "--repeats", "1", "--iters", "1"]),
    ("bench_depth_memory.py", "depth_memory", ["--quick", "--repeats", "1", "--iters", "1", "--layers", "16"]),
    ("bench_khop.py", "bench_khop", ["--limit", "200", "--skip-peptides"]),
    ("bench_khop_conv.py", "khop_conv", ["--quick", "--repeats", "1", "--peptides", "60"]),
    ("bench_graph_loading.py", "data_loading", ["--quick"]),
    ("bench_peer_pyg.py", "peer_pyg", ["--quick", "--iters", "1"]),
    ("bench_precision.py", "precision", ["--quick", "--models", "gcn", "kgcn-ssm", "--limit", "16"]),
    ("bench_denormal.py", "denormal", ["--quick", "--layers", "4", "--repeats", "1"]),
    ("bench_mkl_intel_path.py", "mkl_intel_path", ["--quick", "--models", "kgcn-ssm", "--limit", "40"]),
    ("bench_resistance.py", "resistance", ["--quick", "--molecules", "6", "--repeats", "1"]),
]


def _env(**extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DGL_SSM_NO_THREAD_WARNING": "1", **extra}
    return {k: v for k, v in env.items() if v is not None}


def test_run_all_lists_every_benchmark_script():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from run_all import BENCHMARKS
    finally:
        sys.path.pop(0)
    scripts = {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")}
    assert scripts == {s for s, *_ in BENCHMARKS} == {s for s, *_ in QUICK}


@pytest.mark.slow
@pytest.mark.parametrize("script,stem,flags", QUICK, ids=[q[1] for q in QUICK])
def test_benchmark_quick_smoke(tmp_path, raw_data, script, stem, flags):
    raw_data("lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--out", str(tmp_path), *flags],
                          cwd=ROOT, env=_env(DGL_SSM_BENCH_IN_PROCESS="1"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = tmp_path / f"{stem}.json"
    data = json.loads(result.read_text())
    assert data
    if "machine" in data:  # written by _common.write_results (all but bench_khop, which has no children)
        assert data["machine"]["note"].endswith("children in process")
        assert "numbers are meaningless" in (tmp_path / f"{stem}.md").read_text()  # never taken for a measurement


def test_a_benchmark_without_offline_data_says_what_to_set(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_peer_pyg.py"), "--child", "dgl",
                           "--workload", "peptides", "--quick"], cwd=tmp_path,
                          env=_env(DGL_SSM_DATA=None), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no offline data folder: set DGL_SSM_DATA")


def test_inspect_denormal_thread_reach_and_its_errors():
    """inspect_denormal (not a bench_ script: it reads a running cell's checkpoint): its checkpoint-free mode runs, its
    one-thread flush is complete, and a bad argument or a missing checkpoint is one error line."""
    script = [sys.executable, str(ROOT / "benchmarks" / "inspect_denormal.py")]
    done = subprocess.run(script + ["--thread-reach", "1"], capture_output=True, text=True, env=_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 intra-op thread: flush-to-zero reaches 1.000 of the entries"
    bad = subprocess.run(script + ["--thread-reach", "0"], capture_output=True, text=True, env=_env(), cwd=ROOT)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --thread-reach must be at least 1, got 0"
    none = subprocess.run(script + ["--seed", "97"], capture_output=True, text=True, env=_env(), cwd=ROOT)
    assert none.returncode == 1 and none.stderr.strip().startswith("error: no checkpoint of ")
    assert len(none.stderr.strip().splitlines()) == 1


def test_the_mkl_code_path_numbers_in_the_docs_are_the_committed_runs():
    """docs/benchmarks.md's "MKL's code path on an AMD CPU" quotes results/bench_mkl_intel_path/ (the run it names)."""
    data = json.loads((ROOT / "results" / "bench_mkl_intel_path" / "mkl_intel_path.json").read_text())
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    section = text[text.index("## MKL's code path on an AMD CPU"):]
    rows = {row["name"].split(":")[0]: row["measured"] for row in data["targets"]}
    gflops, epoch = data["details"]["gflops"], data["details"]["epoch_cpu_s"]
    assert data["details"]["vendor"] == "AuthenticAMD" and data["details"]["limit"] == 400
    assert f"{gflops['default']:.1f} → {gflops['intel']:.1f} ({rows['float32 GFLOP/s of (19,300 x 105) @ (105 x 315), Intel path / default']:.2f}×)" in section
    assert f"{rows['kgcn-ssm']:.2f}× ({epoch['default']['kgcn-ssm']:.2f} → {epoch['intel']['kgcn-ssm']:.2f} s)" in section
    assert f"{rows['drew-gcn-delay']:.2f}× (missed)** ({epoch['default']['drew-gcn-delay']:.2f} → " \
           f"{epoch['intel']['drew-gcn-delay']:.2f} s)" in section


def test_the_resistance_numbers_in_the_docs_are_the_committed_run():
    """docs/benchmarks.md's effective-resistance row quotes results/bench_resistance/ (the run it names)."""
    data = json.loads((ROOT / "results" / "bench_resistance" / "resistance.json").read_text())
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    total, pairs = (row["measured"] for row in data["targets"])
    assert data["details"]["molecules"] == 256 and data["details"]["max_relative_difference_pairs"] < 1e-9
    assert f"| ≥ 1× | {total:.2f}×; {pairs:.2f}× |" in text


def test_the_mkl_benchmark_without_a_c_compiler_says_what_to_install(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_mkl_intel_path.py"), "--out",
                           str(tmp_path / "out"), "--quick"], cwd=tmp_path, env=_env(PATH=str(tmp_path)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
    assert proc.stderr.strip().splitlines()[-1] == ("error: no C compiler 'cc' to build tools/mkl_intel_path.c: "
                                                     "install gcc (Debian: apt install gcc)")


def test_bench_khop_conv_refuses_too_few_molecules_before_measuring(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_khop_conv.py"), "--out", str(tmp_path),
                           "--peptides", "5"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and not any(tmp_path.iterdir())
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "error: --peptides must be >= 10 (80 % train, 20 % validation), got 5")
