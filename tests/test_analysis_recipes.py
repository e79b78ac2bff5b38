"""The analysis recipes run with --quick and write finite CSVs and PNGs."""
import csv
import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def recipe(name):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numbers(path, columns):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows, f"{path} is empty"
    return [float(row[c]) for row in rows for c in columns]


def test_oversmoothing_quick(tmp_path, raw_data):
    raw_data("planetoid/ind.cora.graph", "geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    rows = recipe("oversmoothing").main(["--quick", "--out", str(out), "--data-root", str(tmp_path / "data")])
    assert {r["graph"] for r in rows} == {"cora", "texas", "grid"} and len({r["model"] for r in rows}) == 6
    values = numbers(out / "layers.csv", ["dirichlet_energy", "feature_norm", "mean_deviation"])
    assert len(values) == 3 * 6 * 17 * 3 and all(math.isfinite(v) for v in values)
    assert (out / "oversmoothing.png").read_bytes()[:8] == PNG
    gcn = [r for r in rows if r["graph"] == "grid" and r["model"] == "GCN"]
    assert gcn[-1]["dirichlet_energy"] < 1e-3 * gcn[0]["dirichlet_energy"]  # plain GCN over-smooths


@pytest.mark.filterwarnings("ignore:Exited")  # LOBPCG warnings for the GCN-like layers whose σ_min is 0
def test_jacobian_spectrum_quick(tmp_path, raw_data):
    raw_data("geom_gcn/new_data/texas/out1_graph_edges.txt")
    out = tmp_path / "run"
    summary = recipe("jacobian_spectrum").main(["--quick", "--out", str(out), "--data-root", str(tmp_path / "data"),
                                                "--large-graph", "grid", "--large-hidden", "2"])
    assert [r["model"] for r in summary] == ["GCN", "GAT", "GIN", "GCN-SSM λ=0.5", "GCN-SSM λ=1.0"]
    assert all(math.isfinite(v) for v in numbers(out / "singular_values.csv", ["sigma", "sigma_sq"]))
    assert all(math.isfinite(v) for v in numbers(out / "eigenvalues.csv", ["real", "imag", "modulus"]))
    assert len(numbers(out / "singular_values.csv", ["sigma"])) == 5 * 183 * 4
    for png in ("singular_values.png", "eigenvalues.png"):
        assert (out / png).read_bytes()[:8] == PNG
    # regression (issue 14, defect 8): rho(J) was NaN for GCN, GAT and GIN
    assert all(math.isfinite(r["spectral_radius"]) and r["spectral_radius"] > 0 for r in summary)
    assert len(numbers(out / "eigenvalues.csv", ["modulus"])) == 5 * 183 * 4
    assert all(math.isfinite(v) for v in numbers(out / "matrix_free.csv", ["spectral_radius"]))
    ssm = {r["model"]: r["spectral_radius"] for r in summary if "SSM" in r["model"]}
    assert ssm["GCN-SSM λ=0.5"] < ssm["GCN-SSM λ=1.0"]
    top = numbers(out / "matrix_free.csv", ["sigma_max"])
    assert len(top) == 5 and all(math.isfinite(v) and v > 0 for v in top)


@pytest.mark.parametrize("name,argv,message", [
    ("oversmoothing", ["--layers", "0"], "--layers must be >= 1, got 0"),
    ("oversmoothing", ["--hidden", "0"], "--hidden must be >= 1, got 0"),
    ("oversmoothing", ["--graphs", "coraa"], "unknown node dataset(s) coraa"),
    ("jacobian_spectrum", ["--hidden", "0"], "--hidden must be >= 1, got 0"),
    ("jacobian_spectrum", ["--max-nodes", "0"], "--max-nodes must be >= 1, got 0"),
    ("jacobian_spectrum", ["--graph", "coraa"], "unknown node dataset 'coraa'"),
    ("jacobian_spectrum", ["--device", "cuda"], "cuda"),
    ("oversmoothing", ["--out", "FILE"], "is a file"),
])
def test_explicit_values_are_honoured_or_rejected_in_one_line(tmp_path, name, argv, message):
    """Issue 12: --layers 0 / --hidden 0 used to fall back to defaults; bad names gave tracebacks after the run folder."""
    import subprocess
    import sys

    (tmp_path / "FILE").write_text("x")
    argv = [str(tmp_path / "FILE") if a == "FILE" else a for a in argv]
    out = ["--out", str(tmp_path / "run")] if "--out" not in argv else []
    proc = subprocess.run([sys.executable, str(ROOT / "recipes" / f"{name}.py"), *argv, *out], capture_output=True, text=True,
                          cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert not (tmp_path / "run").exists()
