"""The main job (recipes/depth_study.py) end to end on real Cora, tiny grid; rerun skips finished cells."""
import subprocess
import sys
from pathlib import Path

import pytest

from dgl_ssm.report import read_csv

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "depth_study.py"


def run(out, *extra):
    cmd = [sys.executable, str(RECIPE), "--out", str(out), "--depths", "2", "4", "--seeds", "1", "--epochs", "3",
           "--patience", "3", "--hidden", "8", "--no-progress", "--models", "GCN", "GCN-SSM λ=1.0", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_depth_study_writes_tables_plots_and_resumes(raw_data, tmp_path):
    raw_data("planetoid/ind.cora.x")
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_csv(tmp_path / "results.csv")
    assert {(r["model"], r["depth"]) for r in rows} == {(m, d) for m in ("GCN", "GCN-SSM λ=1.0") for d in (2, 4)}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in rows)
    layers = read_csv(tmp_path / "layers.csv")
    assert len(layers) == 2 * (3 + 5)  # depth + 1 states per run
    assert all(r["dirichlet_energy"] >= 0 and r["feature_norm"] > 0 for r in layers)
    table = (tmp_path / "results.md").read_text()
    assert "| GCN-SSM λ=1.0 |" in table and "± 0.0" in table
    for png in ("accuracy.png", "energy.png"):
        assert (tmp_path / png).stat().st_size > 1000

    again = run(tmp_path)
    assert again.returncode == 0 and len(read_csv(tmp_path / "results.csv")) == 4  # nothing rerun


def test_depth_study_rejects_unknown_model(tmp_path):
    done = subprocess.run(
        [sys.executable, str(RECIPE), "--out", str(tmp_path), "--models", "GCN-LSTM"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "unknown models ['GCN-LSTM']" in done.stderr
