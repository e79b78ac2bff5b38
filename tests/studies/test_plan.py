"""plan=true: what a sitting would run and for how long, writing nothing."""
import json
from pathlib import Path

from dgl_ssm.report import read_csv
from dgl_ssm.studies import run_study
from tiny import TEXAS, TINY

ROOT = Path(__file__).resolve().parents[2]


def test_plan_lists_pending_cells_with_recorded_times_and_writes_nothing(tmp_path, raw_data, fits, compose_config):
    raw_data(*TEXAS)
    out = tmp_path / "results" / "planned"
    base = ["config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}"]
    _, text = run_study(compose_config(*base, "plan=true"), "t", log=lambda *_: None)
    assert text.startswith("depth_quick: 2 cells pending; 0.0 CPU-hours for the 0 with an estimate (1 core each), "
                           "2 without one (plan_epochs=1 times one epoch of each here)\n")
    assert "| gcn | texas | 2 | 0 | unknown |" in text and not out.exists() and not fits
    rows, _ = run_study(compose_config(*base), "t", log=lambda *_: None)
    _, text = run_study(compose_config(*base, "study.seeds=3", "plan=true"), "t", log=lambda *_: None)
    seconds = {r["model"]: r["train_time_s"] for r in rows}
    assert f"| gcn_ssm | texas | 2 | 1, 2 | {seconds['gcn_ssm']:.0f} (1) |" in text and len(fits) == 2
    assert len(read_csv(out / "results.csv")) == 2 and len(json.loads((out / "provenance.json").read_text())["sittings"]) == 1
    _, text = run_study(compose_config(*base, "study.settings=[4]", "plan=true"), "t", log=lambda *_: None)
    assert f"| gcn | texas | 4 | 0 | {seconds['gcn'] * 2:.0f} (1 at depth 2, times 2) |" in text
    # a cell another sitting is running now is marked so (its claim is held); plan still writes nothing
    from dgl_ssm.studies.record import ResultsRecord

    cell = {"model": "gcn", "dataset": "texas", "depth": 4, "seed": 0}
    record = ResultsRecord(out, tuple(cell))
    before = sorted((out / ".claims").iterdir())
    assert not record.held(cell) and sorted((out / ".claims").iterdir()) == before, "held() writes nothing"
    with record.claim(cell):
        claims = sorted((out / ".claims").iterdir())
        _, text = run_study(compose_config(*base, "study.settings=[4]", "plan=true"), "t", log=lambda *_: None)
    assert "| gcn | texas | 4 | 0 (running) |" in text and "; 1 of them is being run by another sitting now" in text
    assert sorted((out / ".claims").iterdir()) == claims, "plan writes no claim"
    _, text = run_study(compose_config(*base, "study.settings=[4]", "plan=true"), "t", log=lambda *_: None)
    assert "(running)" not in text and "being run" not in text

def test_plan_estimates_an_entry_without_records_from_entries_of_its_preset():
    """graphprop_full has one entry per task: a task's first cell used to be "unknown" though its preset had run."""
    from types import SimpleNamespace as NS

    from dgl_ssm.studies.plan import plan_text

    study = NS(name="s", setting_name="layers", select_seeds=0, choose_seeds=0, select={},
               models={"k_sssp": NS(preset="kgcn-ssm"), "k_ecc": NS(preset="kgcn-ssm"), "d_ecc": NS(preset="drew-gcn")})
    rows = [{"model": "k_sssp", "dataset": "sssp", "layers": 10, "seed": s, "train_time_s": t} for s, t in ((0, 900.0), (1, 1100.0))]
    pending = [{"model": m, "dataset": "eccentricity", "layers": 10, "seed": 0} for m in ("k_ecc", "d_ecc")]
    text = plan_text(study, pending, rows)
    assert "| k_ecc | eccentricity | 10 | 0 | 1000 (2 of preset kgcn-ssm) |" in text
    assert "| d_ecc | eccentricity | 10 | 0 | unknown |" in text and "0.3 CPU-hours for the 1 with an estimate" in text
    assert "1 without one (plan_epochs=1 times one epoch of each here)" in text
    assert "plan_epochs" not in plan_text(study, pending, rows, measured={}), "named only where it was not given"
    # another width is the same cost class; another rewiring radius is not (max_hop 10 costs about 2-3x max_hop 3)
    study.models.update(k_h20=NS(preset="kgcn-ssm", train={"hidden": 20}), k_hop10=NS(preset="kgcn-ssm", train={"max_hop": 10}),
                        k_hop10_h20=NS(preset="kgcn-ssm", train={"hidden": 20, "max_hop": 10}))
    rows.append({"model": "k_hop10", "dataset": "sssp", "layers": 10, "seed": 0, "train_time_s": 3000.0})
    text = plan_text(study, [{"model": m, "dataset": "eccentricity", "layers": 10, "seed": 0}
                             for m in ("k_h20", "k_hop10_h20")], rows)
    assert "| k_h20 | eccentricity | 10 | 0 | 1000 (2 of preset kgcn-ssm) |" in text
    assert "| k_hop10_h20 | eccentricity | 10 | 0 | 3000 (1 of preset kgcn-ssm, max_hop=10) |" in text


def test_plan_costs_a_cell_by_its_cpu_time_when_recorded():
    """A cell whose worker was paused for an hour recorded an hour of wall-clock time it did not spend: the plan
    estimates from CPU seconds (``train_cpu_s``) where the row has them."""
    from types import SimpleNamespace as NS

    from dgl_ssm.studies.plan import plan_text

    study = NS(name="s", setting_name="layers", select_seeds=0, choose_seeds=0, select={}, models={})
    rows = [{"model": "k", "dataset": "d", "layers": 17, "seed": 0, "train_time_s": 4600.0, "train_cpu_s": 1000.0},
            {"model": "k", "dataset": "d", "layers": 17, "seed": 1, "train_time_s": 1100.0}]
    text = plan_text(study, [{"model": "k", "dataset": "d", "layers": 17, "seed": 2}], rows)
    assert "| k | d | 17 | 2 | 1050 (2) |" in text


def test_plan_shows_the_best_validation_value_of_a_cell_under_way():
    """A cell that spans sittings (LRGB's 300 epochs) shows in the plan where its checkpoint stands: the monitored
    validation value, named by the protocol's monitor, and its epoch; none for GAT's two-value rule."""
    from types import SimpleNamespace as NS

    from dgl_ssm.studies.plan import _best, plan_text

    history = [{"epoch": 0, "val_loss": 0.3, "val_ap": 0.5}, {"epoch": 1, "val_loss": 0.2, "val_ap": 0.61547}]
    state = {"best_value": 0.61547, "best_epoch": 1, "history": history}
    cell = {"model": "k"}

    def study(**train):
        return NS(models={"k": NS(train=None)}, protocol="published", train=NS(**train))

    assert _best(study(monitor="metric"), cell, state) == "best val_ap 0.6155 at epoch 1"
    assert _best(study(monitor="loss"), cell, {**state, "best_value": 0.2}) == "best val_loss 0.2000 at epoch 1"
    assert _best(study(monitor="loss_and_metric"), cell, state) is None
    assert _best(study(monitor="metric"), cell, {**state, "best_value": None}) is None  # no epoch finished yet
    text = plan_text(NS(name="s", setting_name="layers", select_seeds=0, choose_seeds=0, select={}, protocol="published",
                        models={"k": NS(preset="kgcn-ssm", train=None)}, train=NS(epochs=300)),
                     [{"model": "k", "dataset": "d", "layers": 17, "seed": 0}], [],
                     {("k", "d", 17, 0): (231, 100.0, 200.0, "best val_ap 0.6155 at epoch 193")})
    assert "| k | d | 17 | 0 (from epoch 231, best val_ap 0.6155 at epoch 193) | 60000 (its checkpoint's" in text
