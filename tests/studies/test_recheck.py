"""``python -m dgl_ssm.studies.recheck``: a record's numbers recomputed from the trained models it kept.

The oracle is the record itself: on the machine and in the process that recorded them, the kept best-epoch weights
give back every recorded validation and test number exactly. Fault injection: a kept model whose weights were changed
after its cell recorded (under its own identity, so only the numbers can tell) is named and the exit status is 1.
"""
from __future__ import annotations

import pytest
import torch

from dgl_ssm.report import read_csv
from dgl_ssm.studies import run_study
from dgl_ssm.studies.recheck import main
from dgl_ssm.studies.trained import recheck
from dgl_ssm.train.trained import load_trained
from tiny import TEXAS, TINY


@pytest.fixture
def kept_record(tmp_path, raw_data, compose_config):
    """A tiny record (GCN and GCN-SSM on Texas, 2 epochs) run with keep_models=true: ``(folder, data root)``."""
    raw_data(*TEXAS)
    out, data = tmp_path / "results" / "tiny", tmp_path / "data"
    run_study(compose_config("config", *TINY, "keep_models=true", f"out={out}", f"data_root={data}"), "t",
              log=lambda *_: None)
    return out, data


def test_the_kept_models_give_back_every_recorded_number_exactly(kept_record, capsys):
    out, data = kept_record
    rows = recheck(out, data_root=data)
    recorded = {r["model"]: r for r in read_csv(out / "results.csv")}
    assert sorted({r["model"] for r in rows}) == ["gcn", "gcn_ssm"]
    assert sorted(r["quantity"] for r in rows if r["model"] == "gcn") == [
        "test_accuracy", "test_loss", "val_accuracy", "val_loss"]
    for r in rows:
        assert r["recomputed"] == r["recorded"] == float(recorded[r["model"]][r["quantity"]]) and r["difference"] == 0
    assert main([str(out), "--data-root", str(data)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("| True") == 8 and "all 8 numbers agree" in captured.err


def test_a_kept_model_changed_after_its_cell_recorded_is_named(kept_record, capsys):
    out, data = kept_record
    (path,) = (out / ".models").glob("gcn_ssm-*.pt")
    state = load_trained(path)
    weight = next(k for k, v in state["state_dict"].items() if v.is_floating_point() and v.dim() == 2)
    state["state_dict"][weight] = state["state_dict"][weight] * 1.01  # 1 % on one weight matrix
    torch.save(state, path)  # under its own identity: load_trained accepts it, only the numbers can tell
    assert main([str(out), "--data-root", str(data)]) == 1
    captured = capsys.readouterr()
    changed = [line for line in captured.out.splitlines() if line.startswith("| gcn_ssm ") and "_loss" in line]
    kept = [line for line in captured.out.splitlines() if line.startswith("| gcn ")]
    assert len(changed) == 2 and all("| False" in line for line in changed)
    assert len(kept) == 4 and all("| True" in line for line in kept)
    assert "differ from the record by more than their tolerance" in captured.err
    # an explicit, looser tolerance is honoured
    assert main([str(out), "--data-root", str(data), "--loss-tolerance", "1", "--metric-tolerance", "1"]) == 0


def test_the_documented_errors(tmp_path, kept_record, compose_config, capsys):
    out, data = kept_record
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "results.csv does not exist: give the folder of a study record" in capsys.readouterr().err
    assert main([str(out), "--loss-tolerance", "-1"]) == 2
    assert "--loss-tolerance -1.0 is not a non-negative number" in capsys.readouterr().err
    plain = tmp_path / "results" / "plain"  # the same cells without keep_models: nothing to recheck
    run_study(compose_config("config", *TINY, f"out={plain}", f"data_root={data}"), "t", log=lambda *_: None)
    assert main([str(plain), "--data-root", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "kept no trained model" in err and "keep_models=true" in err
    with pytest.raises(ValueError, match="keep_models=true"):
        recheck(plain, data_root=data)
