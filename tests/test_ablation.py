"""Ablation suites: a tiny depth-suite run through the recipe, resumability, suite/flag errors, helpers."""
import dataclasses
import importlib.util
from pathlib import Path

import pytest

import dgl_ssm.train
from dgl_ssm.ablation import SUITES, get_suite, hidden_within_budget, run_suite
from dgl_ssm.experiment import ResultTable
from dgl_ssm.models import build_model
from dgl_ssm.report import read_csv

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "ablation.py"
TEXAS = ("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")


def recipe():
    spec = importlib.util.spec_from_file_location("ablation_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_args(out, data_root):
    return ["--suite", "depth", "--quick", "--depths", "2", "3", "--seeds", "1", "--epochs", "2", "--tasks", "texas",
            "--models", "GCN", "GCN-SSM", "--out", str(out), "--data-root", str(data_root), "--no-progress"]


@pytest.fixture
def count_fits(monkeypatch):
    """Count the calls of fit_node_classifier (the depth suite's per-cell training)."""
    calls = []
    real = dgl_ssm.train.fit_node_classifier

    def counted(*args, **kwargs):
        calls.append(args[1:3])
        return real(*args, **kwargs)

    monkeypatch.setattr(dgl_ssm.train, "fit_node_classifier", counted)
    return calls


def test_depth_suite_tiny_run_writes_table_and_resumes(tmp_path, raw_data, count_fits, capsys):
    raw_data(*TEXAS)
    out = tmp_path / "run"
    rows = recipe().main(tiny_args(out, tmp_path / "data"))
    assert len(count_fits) == 4 and len(rows) == 4
    results = read_csv(out / "results.csv")
    assert {(r["model"], r["depth"]) for r in results} == {("GCN", 2), ("GCN", 3), ("GCN-SSM", 2), ("GCN-SSM", 3)}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["epochs_run"] <= 2 for r in results)
    table = (out / "results.md").read_text()
    assert "| model | depth=2 | depth=3 |" in table
    gcn = {r["depth"]: 100 * r["test_accuracy"] for r in results if r["model"] == "GCN"}
    assert f"| GCN | {gcn[2]:.1f} ± 0.0 | {gcn[3]:.1f} ± 0.0 |" in table
    grads = read_csv(out / "gradients.csv")
    assert len(grads) == 2 * (3 + 4) and all(g["grad_norm"] > 0 for g in grads if g["layer"] > 0)
    assert all(g["error_feature_norm"] > 0 for g in grads)  # dL/dH_l of dgl_ssm.analysis.gradient_flow
    assert (out / "gradients_texas.png").is_file()

    # rerun: nothing is trained again, the table is rebuilt from the CSV
    recipe().main(tiny_args(out, tmp_path / "data"))
    assert len(count_fits) == 4
    assert "4 of 4 cells already" in capsys.readouterr().out
    assert (out / "results.md").read_text() == table

    # a lost row (an interrupted run) is the only cell that runs again
    experiment_rows = [r for r in results if not (r["model"] == "GCN-SSM" and r["depth"] == 3)]
    from dgl_ssm.experiment import write_csv

    write_csv(out / "results.csv", experiment_rows)
    recipe().main(tiny_args(out, tmp_path / "data"))
    assert count_fits[4:] == [("gcn-ssm", 3)] and len(read_csv(out / "results.csv")) == 4
    assert len(read_csv(out / "gradients.csv")) == 14  # not duplicated

    # other training options would mix differently trained cells in one table: refused
    with pytest.raises(ValueError, match=r"trained with other options \(epochs: 2 -> 3, patience: 2 -> 3\)"):
        recipe().main([*tiny_args(out, tmp_path / "data"), "--epochs", "3"])
    assert len(count_fits) == 5


def test_unknown_suite_model_and_task_errors(capsys):
    with pytest.raises(ValueError, match="unknown suite .nope.; known suites: depth, graphprop, peptides, ring"):
        get_suite("nope")
    with pytest.raises(SystemExit):
        recipe().main(["--suite", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no model 'MLP'; known: GCN, ResGCN"):
        SUITES["depth"].variant(models=["GCN", "MLP"])
    with pytest.raises(ValueError, match="no task 'cornell'"):
        SUITES["depth"].variant(tasks=["cornell"])


def test_suite_variants():
    depth = get_suite("depth")
    quick = depth.variant(quick=True)
    assert quick.settings == (2, 8, 32) and quick.seeds == 1 and quick.train["epochs"] == 30
    assert quick.train["hidden"] == depth.train["hidden"]  # merged, not replaced
    small = depth.variant(quick=True, settings=[4], seeds=2, epochs=3, models=["GCNII"])
    assert small.settings == (4,) and small.seeds == 2 and small.train["patience"] == 3 and list(small.models) == ["GCNII"]
    cells = small.variant(tasks=["cora"]).cells(first_seed=5)
    assert [(c.model, c.task, c.setting, c.seed) for c in cells] == [("GCNII", "cora", 4, 5), ("GCNII", "cora", 4, 6)]
    assert small.column("cora", 4) == "cora" and depth.column("cora", 8) == "cora depth=8"


def test_result_table_keys_survive_the_csv(tmp_path):
    path = tmp_path / "r.csv"
    table = ResultTable(path, ("model", "lam", "seed"))
    table.add({"model": "gcn-ssm", "lam": 0.5, "seed": 0, "acc": 0.7}, {"model": "gcn", "lam": "", "seed": 1, "acc": 0.6})
    table.add({"model": "gcn-ssm", "lam": 0.5, "seed": 0, "acc": 0.1})  # same cell: kept once
    again = ResultTable(path, ("model", "lam", "seed"))
    assert len(again.rows) == 2 and again.rows[0]["acc"] == 0.7
    cells = [{"model": "gcn-ssm", "lam": 0.5, "seed": 0}, {"model": "gcn", "lam": "", "seed": 1}, {"model": "gcn", "lam": "", "seed": 2}]
    assert again.pending(cells) == cells[2:]


def test_hidden_within_budget_is_the_largest_width_that_fits():
    def build(h):
        return build_model("gcn-ssm", 9, h, 10, 17)

    hidden = hidden_within_budget(build, 500_000)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(build(hidden)) <= 500_000 < count(build(hidden + 1))
    with pytest.raises(ValueError, match="exceeds the budget"):
        hidden_within_budget(build, 100)


def test_ring_suite_tiny_run_checkpoints_cells_and_resumes(tmp_path, capsys):
    suite = get_suite("ring").variant(quick=True, settings=[4, 6], epochs=2, models=["GCN", "GCN-SSM λ=0.5"])
    suite = dataclasses.replace(suite, train={**suite.train, "num_graphs": 40, "batch_size": 16})
    rows, table = run_suite(suite, tmp_path, data_root=tmp_path / "data")
    assert [(r["model"], r["ring_size"], r["layers"]) for r in rows] == [
        ("GCN", 4, 2), ("GCN-SSM λ=0.5", 4, 2), ("GCN", 6, 3), ("GCN-SSM λ=0.5", 6, 3)
    ]
    assert all(r["epochs_run"] == 2 and 0 <= r["test_accuracy"] <= 1 and r["params"] > 0 for r in rows)
    assert (tmp_path / "cells" / "GCN-SSM_=0.5-ring-4-seed0" / "checkpoint.pt").is_file()
    assert "| model | ring_size=4 | ring_size=6 |" in table and "| GCN-SSM λ=0.5 |" in table
    again, _ = run_suite(suite, tmp_path, data_root=tmp_path / "data")
    assert again == read_csv(tmp_path / "results.csv") and len(again) == 4
    assert "4 of 4 cells already" in capsys.readouterr().out


def test_unregistered_preset_fails_before_running(tmp_path):
    suite = dataclasses.replace(get_suite("ring"), models={"GCN": ("gcn", {}), "Mystery": ("no-such-preset", {})})
    with pytest.raises(ValueError, match=r"not registered: no-such-preset \(models Mystery\); choose the others with --models GCN"):
        run_suite(suite, tmp_path)
    assert not (tmp_path / "results.csv").exists()


def test_a_diverged_cell_is_recorded_and_the_grid_goes_on(tmp_path, raw_data):
    """Regression (issue 14, defect 2): TrainingDiverged used to abort the grid, leaving no table."""
    raw_data(*TEXAS)
    suite = dataclasses.replace(
        get_suite("depth"),
        models={"exploding SSM": ("gcn-ssm", {"block_options": {"state_transition": 50.0}}), "GCN": ("gcn", {})},
        tasks=("texas",), settings=(30,), seeds=1, train={**get_suite("depth").train, "epochs": 2, "patience": 2},
        finish=None,
    )
    with pytest.warns(RuntimeWarning, match="spectral radius"):
        rows, table = run_suite(suite, tmp_path / "run", data_root=tmp_path / "data", log=lambda *_: None)
    by_model = {r["model"]: r for r in rows}
    assert by_model["exploding SSM"]["status"] == "diverged" and by_model["exploding SSM"]["diverged_epoch"] == 0
    assert by_model["GCN"]["status"] == "ok"
    assert "| exploding SSM | diverged (1 of 1) |" in table
