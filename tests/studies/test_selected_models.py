"""``models=[...]``: a sitting runs only some model entries of a study.

The oracle is Hydra's own deletion: ``models=[a, b]`` must give exactly the study that ``~study.models.<key>``
composes (and, for a selection row left out whole, the study without that row; Hydra cannot name a row such as
"GCN-SSM (λ ∈ {0.5, 0.75, 1})"), so its cells, their configuration hashes and the record are the same either way, and
a cell begun one way resumes the other.
"""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from dgl_ssm.report import read_csv
from dgl_ssm.studies import run_study
from dgl_ssm.studies.grid import study_cells
from dgl_ssm.studies.identity import cell_config
from dgl_ssm.studies.record import config_hash
from dgl_ssm.studies.schema import ConfigError, with_selected_models
from dgl_ssm.studies.validation import validate
from tiny import TEXAS, TINY


def _deleted(compose_config, study, keep, *rest, rows=()):
    """The configuration of ``study`` with every model entry but ``keep`` (and the selection ``rows``) deleted."""
    from omegaconf import open_dict

    full = compose_config("config", f"study={study}", *rest)
    cfg = compose_config("config", f"study={study}", *rest, *[f"~study.models.{k}" for k in full.study.models
                                                              if k not in keep])
    with open_dict(cfg.study.select):  # a row's name ("GCN-SSM (λ ∈ {0.5, 0.75, 1})") is no Hydra key: deleted here
        for row in rows:
            del cfg.study.select[row]
    return cfg


@pytest.mark.parametrize("study, keep, rest, rows", [
    ("lrgb_seed", ["kgcn_ssm", "drew_gcn_delay"], ["study.seeds=1"], []),   # issue 40's tier 2
    ("ring_quick", ["kgcn_ssm"], [], []),
    ("depth_quick", ["gcn_ssm", "gcn"], [], []),                            # named out of the study's order
    ("graphprop_budget", ["gcn_h20", "gcn_h30"], [], None),                 # one selection row kept whole
])
def test_models_is_the_study_hydra_deletion_composes(compose_config, study, keep, rest, rows):
    cut = compose_config("config", f"study={study}", *rest, f"models=[{','.join(keep)}]")
    validate(cut)
    if rows is None:  # every selection row but the one whose members are kept
        rows = [r for r, members in cut.study.select.items() if not set(members) & set(keep)]
        assert rows and len(rows) == len(cut.study.select) - 1
    cut = with_selected_models(cut)
    deleted = _deleted(compose_config, study, keep, *rest, rows=rows)
    assert OmegaConf.to_container(cut.study) == OmegaConf.to_container(deleted.study)
    assert set(cut.study.models) == set(keep)
    cells = study_cells(cut.study)
    assert cells == study_cells(deleted.study) and {c["model"] for c in cells} == set(keep)
    assert [config_hash(cell_config(cut.study, c)) for c in cells] == \
        [config_hash(cell_config(deleted.study, c)) for c in cells]
    full = compose_config("config", f"study={study}", *rest)
    assert with_selected_models(full) is full  # models left out: the whole study, untouched


def test_part_of_a_selection_row_is_refused(compose_config):
    cfg = compose_config("config", "study=graphprop_budget", "models=[gcn_h20]")
    with pytest.raises(ConfigError, match=r"models=\['gcn_h20'\] leaves out \['gcn_h30'\] of study.select.GCN, whose "
                                          "members are chosen among on validation together"):
        validate(cfg)


def test_two_sittings_of_one_record_each_run_their_models(tmp_path, raw_data, compose_config):
    """models=[gcn] records GCN's cell only; models=[gcn_ssm] then adds GCN-SSM's to the same record, which the
    tables show whole; GCN's cell is not rerun."""
    raw_data(*TEXAS)
    out, data = tmp_path / "results" / "tiny", tmp_path / "data"
    run = lambda *extra: run_study(compose_config("config", *TINY, f"out={out}", f"data_root={data}", *extra), "t",
                                   log=lambda *_: None)
    rows, _ = run("models=[gcn]")
    assert [r["model"] for r in rows] == ["gcn"]
    first = read_csv(out / "results.csv")
    rows, table = run("models=[gcn_ssm]")
    assert sorted(r["model"] for r in rows) == ["gcn", "gcn_ssm"]
    assert [r for r in read_csv(out / "results.csv") if r["model"] == "gcn"] == first  # recorded once, kept as is
    assert "GCN-SSM" in table and "GCN (" in table
    again, _ = run()  # the whole study: both recorded, nothing runs
    assert again == rows


def test_a_study_train_value_need_reach_only_the_models_run():
    """study.train.epochs=5 does not reach GCN (its own published 200 epochs): refused for the whole study, taken
    when GCN is not among the models run."""
    from dgl_ssm.studies.__main__ import _check_composition

    with pytest.raises(ConfigError, match="study.train.epochs=5 does not reach model gcn"):
        _check_composition(["study=depth_quick", "study.train.epochs=5"])
    _check_composition(["study=depth_quick", "study.train.epochs=5", "models=[gcn_ssm,res_gcn]"])
