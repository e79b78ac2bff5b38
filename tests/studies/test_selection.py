"""Choices on validation, never on test: two-stage selection of a group's member and of a model's setting."""
import contextlib
from pathlib import Path

import pytest

import dgl_ssm.train
import dgl_ssm.train.cell
from dgl_ssm.studies import run_study
from dgl_ssm.studies.schema import ConfigError
from tiny import TEXAS, TINY

ROOT = Path(__file__).resolve().parents[2]


def test_two_stage_selection_runs_the_remaining_seeds_of_the_chosen_member_only(tmp_path, raw_data, fits, compose_config):
    """``study.select_seeds``: every member runs the first seeds; the rest run only for the member chosen on those."""
    from dgl_ssm.studies.grid import study_cells

    raw_data(*TEXAS)
    out = tmp_path / "results" / "two_stage"
    select = ["study.seeds=3", "++study.select={both: [gcn, gcn_ssm]}", "++study.select_metric=val_accuracy",
              "++study.select_higher_is_better=true", "++study.select_seeds=1"]
    cfg = compose_config("config", *TINY, *select, f"out={out}", f"data_root={tmp_path / 'data'}")
    assert [(c["model"], c["seed"]) for c in study_cells(cfg.study)] == [("gcn", 0), ("gcn_ssm", 0)]
    rows, table = run_study(cfg, "t", log=lambda *_: None)
    first = {r["model"]: r["val_accuracy"] for r in rows if r["seed"] == 0}
    chosen = max(first, key=first.get)  # a tie goes to the first member, as min() over the members
    assert len(fits) == 4 and sorted((r["model"], r["seed"]) for r in rows if r["seed"] > 0) == [(chosen, 1), (chosen, 2)]
    assert "3 seeds, chosen on seed 0" in table
    run_study(cfg, "t", log=lambda *_: None)
    assert len(fits) == 4, "a rerun runs nothing"
    with pytest.raises(ConfigError, match=r"study.select_seeds must be 0 or 1..study.seeds \(3\)"):
        run_study(compose_config("config", *TINY, *select[:-1], "++study.select_seeds=4", f"out={out}"), "t",
                  log=lambda *_: None)
    with pytest.raises(ConfigError, match="checkpoint_every_s must be >= 0 seconds"):
        run_study(compose_config("config", *TINY, "checkpoint_every_s=-1", f"out={tmp_path / 'never'}"), "t",
                  log=lambda *_: None)
    assert not (tmp_path / "never").exists(), "nothing is written before the error"
    with pytest.raises(ConfigError, match="and no select"):
        run_study(compose_config("config", *TINY, "++study.select_seeds=1", f"out={out}"), "t", log=lambda *_: None)

def test_two_stage_choice_runs_the_remaining_seeds_at_the_chosen_depth_only(tmp_path, raw_data, fits, compose_config):
    """``study.choose_seeds``: every depth runs the first seed; the other seeds run only at the depth chosen on it,
    per model; the chosen-depth table says so; a rerun runs nothing; bad values are refused."""
    from dgl_ssm.studies.grid import study_cells

    raw_data(*TEXAS)
    out = tmp_path / "results" / "two_stage_depth"
    choose = ["study.seeds=3", "study.settings=[1,2]", "~study.models.gcn_ssm", "++study.choose_setting=true",
              "++study.select_metric=val_accuracy", "++study.select_higher_is_better=true", "++study.choose_seeds=1"]
    cfg = compose_config("config", *TINY, *choose, f"out={out}", f"data_root={tmp_path / 'data'}")
    assert [(c["depth"], c["seed"]) for c in study_cells(cfg.study)] == [(1, 0), (2, 0)]
    rows, table = run_study(cfg, "t", log=lambda *_: None)
    first = {r["depth"]: r["val_accuracy"] for r in rows if r["seed"] == 0}
    chosen = max(sorted(first), key=first.get)  # a tie goes to the smaller depth
    assert len(fits) == 4 and sorted((r["depth"], r["seed"]) for r in rows if r["seed"] > 0) == [(chosen, 1), (chosen, 2)]
    flat = " ".join(table.split())
    assert f"(depth {chosen}, 3 seeds, chosen on seed 0) |" in flat and "Every depth runs seed 0" in flat
    run_study(cfg, "t", log=lambda *_: None)
    assert len(fits) == 4, "a rerun runs nothing"
    for extra, why in ((["++study.choose_seeds=4"], "with study.seeds = 3"),
                       (["++study.choose_setting=false"], "with no choose_setting")):
        with pytest.raises(ConfigError, match=f"study.choose_seeds must be 0 or 1..study.seeds .* {why}"):
            run_study(compose_config("config", *TINY, *choose, *extra, f"out={tmp_path / 'never'}"), "t",
                      log=lambda *_: None)
    assert not (tmp_path / "never").exists()

def test_a_choice_opened_by_another_sitting_during_this_one_runs_its_seeds_here(tmp_path, raw_data, monkeypatch, compose_config):
    """Two sittings side by side with ``study.choose_seeds``: when a first-stage cell the other sitting held is
    recorded while this sitting runs its second stage, this sitting plans again and runs the seeds of the choice it
    opens (it used to end and leave them to a rerun, idling a core; heterophily_platonov, 2026-12-03)."""
    from dgl_ssm.studies.record import ResultsRecord

    raw_data(*TEXAS)
    out = tmp_path / "results" / "handover"
    choose = ["study.seeds=2", "study.settings=[1,2]", "++study.choose_setting=true",
              "++study.select_metric=val_accuracy", "++study.select_higher_is_better=true", "++study.choose_seeds=1"]
    cfg = compose_config("config", *TINY, *choose, f"out={out}", f"data_root={tmp_path / 'data'}")
    record = ResultsRecord(out, ("model", "dataset", "depth", "seed"))
    held = {"model": "gcn_ssm", "dataset": "texas", "depth": 2, "seed": 0}
    other = contextlib.ExitStack()
    assert other.enter_context(record.claim(held))
    real, calls = dgl_ssm.train.cell.fit_cell, []

    def fit(*args, **kwargs):
        calls.append(args[1:3])
        if len(calls) == 4:  # this sitting's second stage starts: the other sitting records the held cell, best on val
            from dgl_ssm.studies.identity import cell_config

            done = next(r for r in record.rows() if r["model"] == "gcn_ssm" and r["seed"] == 0)
            metrics = {k: v for k, v in done.items() if k not in (*held, "config_hash")}
            record.append(held, cell_config(cfg.study, held), {**metrics, "val_accuracy": 1.0})
            other.close()
        return real(*args, **kwargs)

    monkeypatch.setattr(dgl_ssm.train.cell, "fit_cell", fit)
    lines = []
    rows, _ = run_study(cfg, "t", log=lines.append)
    assert ("gcn_ssm", 2, 1) in {(r["model"], r["depth"], r["seed"]) for r in rows}, lines
    assert len(calls) == 5 and not any("not recorded yet" in x for x in lines)
    # still held when this sitting has nothing left: it ends and says so in one line
    still = compose_config("config", *TINY, *choose, f"out={tmp_path / 'held'}", f"data_root={tmp_path / 'data'}")
    monkeypatch.setattr(dgl_ssm.train.cell, "fit_cell", real)
    with ResultsRecord(tmp_path / "held", ("model", "dataset", "depth", "seed")).claim(held):
        lines = []
        rows, _ = run_study(still, "t", log=lines.append)
    assert len(rows) == 4 and ("gcn_ssm", 2, 0) not in {(r["model"], r["depth"], r["seed"]) for r in rows}
    assert any("1 cell another sitting is running is not recorded yet; rerun this command" in x for x in lines), lines
    # a held second-stage cell opens no choice: no rerun is asked for (graphprop_hops, 2026-12-03)
    second = compose_config("config", *TINY, *choose, f"out={tmp_path / 'second'}", f"data_root={tmp_path / 'data'}")
    with contextlib.ExitStack() as stack:
        for depth in (1, 2):  # whichever depth is chosen, its seed 1 is held
            cell = {"model": "gcn_ssm", "dataset": "texas", "depth": depth, "seed": 1}
            assert stack.enter_context(ResultsRecord(tmp_path / "second", tuple(cell)).claim(cell))
        lines = []
        rows, _ = run_study(second, "t", log=lines.append)
    assert {(r["model"], r["seed"]) for r in rows} == {("gcn", 0), ("gcn", 1), ("gcn_ssm", 0)}, lines
    assert any("gcn_ssm" in x and "seed=1 | skipped: another sitting is running it" in x for x in lines), lines
    assert not any("not recorded yet" in x for x in lines), lines

def test_select_group_with_one_member_per_dataset(compose_config):
    """A ``select`` group may hold one member per dataset (a member's own ``datasets``): each column reports its own
    member, without an "entries run" note, and the selection is final once that member has its seeds."""
    from dgl_ssm.studies.selection import selection_choices
    from dgl_ssm.studies.tables import selection_table
    from dgl_ssm.studies.grid import study_cells

    from omegaconf import OmegaConf

    from dgl_ssm.studies.schema import StudyConfig

    base = OmegaConf.to_container(compose_config("config", "study=graphprop_budget").study)
    base.update(datasets=["sssp", "eccentricity"], select={"G": ["a", "b"]}, published={},
                models={"a": {"preset": "gcn", "label": "A on sssp", "datasets": ["sssp"]},
                        "b": {"preset": "gcn", "label": "B on ecc", "datasets": ["eccentricity"]}})
    study = OmegaConf.merge(OmegaConf.structured(StudyConfig), base)
    assert {(c["model"], c["dataset"]) for c in study_cells(study)} == {("a", "sssp"), ("b", "eccentricity")}
    rows = [{"model": "a", "dataset": "sssp", "layers": 10, "seed": 0, "status": "ok", "val_log10_mse": -2.0,
             "test_log10_mse": -3.0}]
    choices = selection_choices(study, rows, ["sssp 10", "eccentricity 10"])
    assert choices == {("G", "sssp 10"): "a", ("G", "eccentricity 10"): None}
    labelled = [{**rows[0], "model": "A on sssp", "column": "sssp 10"},
                {**rows[0], "model": "B on ecc", "column": "eccentricity 10", "test_log10_mse": -4.0}]
    text = " ".join(selection_table(study, labelled, ["sssp 10", "eccentricity 10"], True).split())
    assert "| G | -3.000 (A on sssp, 1 seed) | -4.000 (B on ecc, 1 seed) |" in text

def test_selection_table_chooses_on_validation_never_on_test(compose_config):
    """Issue 19: the second table picks, per row and column, the member with the best mean validation metric."""
    from dgl_ssm.studies.tables import selection_table

    study = compose_config("config", "study=graphprop_budget").study
    rows = []
    for seed in range(3):  # h30 is better on validation, h20 on test: the table must report h30
        rows.append({"model": "GCN (h20)", "column": "diameter 10", "seed": seed, "status": "ok",
                     "val_log10_mse": -2.0, "test_log10_mse": -3.0})
        rows.append({"model": "GCN (h30)", "column": "diameter 10", "seed": seed, "status": "ok",
                     "val_log10_mse": -2.5, "test_log10_mse": -2.2 - 0.1 * seed})
    text = " ".join(selection_table(study, rows, ["diameter 10", "sssp 10"], True).split())
    assert "| GCN | -2.300 ± 0.100 (GCN (h30), 3 seeds) | – |" in text
    # chosen on seed 0, then run on three: members are compared on the seeds they share, never favoured by extra
    # seeds (h20's seeds 1-2 are better on validation than h30's seed 0, but h30 is better on seed 0)
    rows = [{"model": "GCN (h30)", "column": "diameter 10", "seed": s, "status": "ok", "val_log10_mse": v,
             "test_log10_mse": -2.0} for s, v in ((0, -2.6), (1, -2.6), (2, -2.6))]
    rows += [{"model": "GCN (h20)", "column": "diameter 10", "seed": s, "status": "ok", "val_log10_mse": v,
              "test_log10_mse": -3.0} for s, v in ((0, -2.5), (1, -4.0), (2, -4.0))]
    text = " ".join(selection_table(study, rows[:3] + rows[3:4], ["diameter 10"], False).split())
    assert "(GCN (h30), 3 seeds, chosen on seed 0)" in text
    text = " ".join(selection_table(study, rows, ["diameter 10"], False).split())
    assert "-3.000 ± 0.000 (GCN (h20), 3 seeds)" in text, "all seeds shared: the plain mean decides"
    disjoint = rows[:1] + [{**rows[4], "val_log10_mse": -2.0}]
    text = " ".join(selection_table(study, disjoint, ["diameter 10"], False).split())
    assert "(GCN (h30), 1 seed, members share no seed: chosen on their own seeds)" in text
    nan_test = [{**rows[0], "test_log10_mse": float("nan")}]  # chosen, but its test metric is not finite
    assert "| GCN | – |" in " ".join(selection_table(study, nan_test, ["diameter 10"], False).split())
    from dgl_ssm.studies.schema import ConfigError
    from dgl_ssm.studies.validation import validate

    bad = compose_config("config", "study=graphprop_budget", "study.select_metric=test_log10_mse")
    with pytest.raises(ConfigError, match="must be a validation metric"):
        validate(bad)

def test_chosen_setting_is_the_best_on_validation_and_meets_published_numbers(compose_config, tmp_path):
    """``study.choose_setting``: per model and dataset the setting (depth) with the best mean validation accuracy,
    compared over the seeds every depth has; diverged cells cannot be chosen but count as run; a tie goes to the
    smaller depth; published numbers keyed "<dataset> chosen" meet it, and are refused without the option or on a
    select group."""
    from dgl_ssm.studies.tables import chosen_setting_table, published_table, write_tables
    from dgl_ssm.studies.schema import ConfigError, check_published
    from dgl_ssm.studies.validation import validate

    study = compose_config("config", "study=heterophily_platonov").study
    label = "GCN (Platonov et al.: residual, LayerNorm)"

    def row(depth, seed, val, test, dataset="chameleon-filtered", status="ok"):
        return {"model": label, "dataset": dataset, "depth": depth, "seed": seed, "status": status,
                "column": f"{dataset} {depth}", "val_accuracy": val, "test_accuracy": test}

    rows = [row(1, s, 0.40, 0.30) for s in range(2)] + [row(2, s, 0.45, 0.35 + 0.01 * s) for s in range(2)]
    rows += [row(3, 0, 0.30, 0.90), row(3, 1, 0.30, 0.90), row(3, 2, 0.99, 0.99)]  # seed 2 alone must not decide
    rows += [row(4, s, float("nan"), float("nan"), status="diverged") for s in range(2)]
    rows += [row(5, s, 0.45, 0.50, dataset="squirrel-filtered") for s in range(2)]  # squirrel: one depth of five
    text = " ".join(chosen_setting_table(study, rows, [label]).split())
    assert (f"| {label} | 35.5 ± 0.7 (depth 2, 2 seeds, 4 of 5 depths run) | "
            f"50.0 ± 0.0 (depth 5, 2 seeds, 1 of 5 depths run) |") in text, text
    tie = [row(2, 0, 0.5, 0.2), row(1, 0, 0.5, 0.1)]
    assert "10.0 (depth 1, 1 seed" in " ".join(chosen_setting_table(study, tie, [label]).split())
    text = " ".join(published_table(study, rows, []).split())
    assert f"| {label} | chameleon-filtered chosen | 35.5 ± 0.7 (2 seeds, depth 2 chosen on validation, 4 of 5 run) | 40.89 ± 4.12 | -5.4 |" in text
    # its one model trains with the study's train section (Platonov et al.'s configuration): the header said
    # "shared protocol", the name of the same-budget switch, which this study does not use
    header = write_tables(study, rows, tmp_path).split("\n")[0]
    assert "; one configuration for every model (the study's train section)." in header and "shared" not in header
    off = compose_config("config", "study=heterophily_platonov", "study.choose_setting=false").study
    with pytest.raises(ConfigError, match="no column 'chameleon-filtered chosen'"):
        check_published(off)
    grouped = compose_config("config", "study=heterophily_platonov", "+study.select.G=[platonov_gcn]").study
    grouped.published = {"G": grouped.published[label]}
    with pytest.raises(ConfigError, match="a select group has none"):
        check_published(grouped)
    with pytest.raises(ConfigError, match="with study.select or study.choose_setting"):
        validate(compose_config("config", "study=heterophily_platonov", "study.select_metric=test_accuracy"))
