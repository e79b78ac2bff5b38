"""The results record: what a record's study is (every sitting's), retired rows, published numbers beside ours, provenance."""
import json
from pathlib import Path

import pytest

from dgl_ssm.report import read_csv
from dgl_ssm.studies import RecordConflict, run_study
from dgl_ssm.studies.tables import main as tables_main
from tiny import TEXAS, TINY

ROOT = Path(__file__).resolve().parents[2]


def test_a_model_dropped_from_the_study_and_retired_is_no_longer_a_row(tmp_path, compose_config):
    """A model a former sitting ran, since removed from the packaged study: a row while it has results, none once
    they are all retired (peptides_quick lost its hidden-256 model that way)."""
    from omegaconf import OmegaConf

    from dgl_ssm.studies.record import record_study

    config = json.loads(json.dumps(OmegaConf.to_container(compose_config("config", "study=depth_quick").study)))
    old = {**config, "models": {**config["models"], "old": {"preset": "gcn", "label": "Old GCN"}}}
    (tmp_path / "provenance.json").write_text(json.dumps({"sittings": [{"config": old}, {"config": config}]}))
    (tmp_path / "results.csv").write_text("model,dataset,depth,seed,test_accuracy\nold,cora,2,0,0.5\ngcn,cora,2,0,0.8\n")
    assert list(record_study(tmp_path).models) == ["gcn", "res_gcn", "gcn_ssm", "old"]
    (tmp_path / "results.csv").write_text("model,dataset,depth,seed,test_accuracy\ngcn,cora,2,0,0.8\n")
    assert list(record_study(tmp_path).models) == ["gcn", "res_gcn", "gcn_ssm"]

def test_a_relabelled_model_takes_the_packaged_label_and_meets_its_published_numbers(tmp_path, compose_config):
    """Labels are presentation: a sitting recorded under an old label shows the packaged one, which is also the key
    of the published numbers (peptides' DRew-GCN row was relabelled while its cell ran). So is a table's title
    (lrgb_seed's said "4 seeds" while its sittings ran one)."""
    from omegaconf import OmegaConf

    from dgl_ssm.studies.record import record_study
    from dgl_ssm.studies.tables import regenerate

    config = json.loads(json.dumps(OmegaConf.to_container(compose_config("config", "study=depth_cora").study)))
    packaged = config["models"]["gcn"]["label"]
    assert config["published"][packaged]["numbers"]["2"] == "81.5"
    config["models"]["gcn"]["label"] = "GCN, as once called"
    title, config["description"] = config["description"], "Depth, as once titled"
    (tmp_path / "provenance.json").write_text(json.dumps({"sittings": [{"config": config}]}))
    (tmp_path / "results.csv").write_text("model,dataset,depth,seed,status,test_accuracy\ngcn,cora,2,0,ok,0.8\n")
    assert record_study(tmp_path).models.gcn.label == packaged
    text = regenerate(tmp_path, write=False)
    assert "as once called" not in text and "as once titled" not in text and text.startswith(title + ":")
    row = next(line for line in text.splitlines() if line.startswith(f"| {packaged} | 2 |"))
    assert "| 80.0 (1 seed) | 81.5 | -1.5 |" in row  # ours beside the published number, not "–"

def test_a_study_grown_by_a_dataset_keeps_its_published_comparison(tmp_path, compose_config):
    """Sittings that ran one dataset, a packaged configuration that now has three and so keys its published numbers
    "<dataset> <setting>": the one-dataset table's column "<setting>" still meets its number (graphprop_hops ran
    eccentricity alone before diameter and SSSP joined it)."""
    from omegaconf import OmegaConf

    from dgl_ssm.studies.tables import regenerate

    config = json.loads(json.dumps(OmegaConf.to_container(compose_config("config", "study=graphprop_hops").study)))
    assert config["datasets"] == ["diameter", "sssp", "eccentricity"]
    config.update(datasets=["eccentricity"], models={"kgcn_ssm_hop10": config["models"]["kgcn_ssm_hop10"]},
                  select={"kGCN-SSM (max_hop ∈ {3, 5, 10})": ["kgcn_ssm_hop10"]})
    (tmp_path / "provenance.json").write_text(json.dumps({"sittings": [{"config": config}]}))
    (tmp_path / "results.csv").write_text(
        "model,dataset,layers,seed,status,val_log10_mse,test_log10_mse\nkgcn_ssm_hop10,eccentricity,10,0,ok,-4.2,-4.0\n")
    text = regenerate(tmp_path, write=False)
    published = [line for line in text.splitlines() if line.startswith("| kGCN-SSM (max_hop") and "Arroyo" in line]
    assert [line.split(" | ")[1] for line in published] == ["diameter 10", "sssp 10", "eccentricity 10"]
    assert "| -4.000 (1 seed) | -4.2652 ± 0.1776 | +0.265 |" in published[2]
    assert published[0].split(" | ")[2] == "–"

def test_retired_rows_leave_the_record_and_their_cells_rerun_with_the_fixed_protocol(tmp_path, raw_data, fits, compose_config, capsys):
    """A protocol fixed after its rows were made: retire them (kept in retired.csv), the next sitting reruns them."""
    from dgl_ssm.studies.retire import main as record_main

    raw_data(*TEXAS)
    out = tmp_path / "run"
    common = ["config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}"]
    run_study(compose_config(*common), "t", log=lambda *_: None)
    fixed = compose_config(*common, "study.models.gcn.train.lr=0.02")
    with pytest.raises(RecordConflict, match="retire"):
        run_study(fixed, "t", log=lambda *_: None)
    kept = [r for r in read_csv(out / "results.csv") if r["model"] != "gcn"]
    assert record_main([str(out), "--model", "gcnn", "--reason", "x"]) == 2
    assert "present: {'model': ['gcn', 'gcn_ssm']}" in capsys.readouterr().err
    assert record_main([str(out), "--model", "gcn", "--reason", "lr fixed"]) == 0
    assert read_csv(out / "results.csv") == kept
    retired = read_csv(out / "retired.csv")
    assert [r["model"] for r in retired] == ["gcn"] and retired[0]["reason"] == "lr fixed"
    assert {"retired_on", "retired_at_commit", "config_hash"} <= set(retired[0])
    calls = len(fits)
    rows, _ = run_study(fixed, "t", log=lambda *_: None)  # only the retired cell reruns, with the fixed protocol
    assert len(fits) == calls + 1 and sorted(r["model"] for r in rows) == ["gcn", "gcn_ssm"]
    assert record_main([str(out), "--column", "depth", "--reason", "x"]) == 2  # not NAME=VALUE: one error line
    assert record_main([str(out), "--column", "seed=0", "--reason", "every row"]) == 0
    assert read_csv(out / "results.csv") == [] and tables_main([str(out)]) == 0  # an emptied record still tabulates

def test_a_retired_rows_history_is_kept_from_its_rerun(tmp_path):
    """Retiring a row moves its per-epoch history to histories/retired/<cell>-<config_hash>.csv: the rerun of the
    cell writes histories/<cell>.csv anew and would otherwise overwrite the retired run's curve."""
    from dgl_ssm._io import write_csv
    from dgl_ssm.studies.record import ResultsRecord, config_hash

    cell = {"model": "gcn_lrgb", "dataset": "peptides-func", "layers": 5, "seed": 0}
    other = {**cell, "model": "gcn"}
    record = ResultsRecord(tmp_path, tuple(cell))
    for c in (cell, other):
        record.append(c, {"model": c["model"]}, {"test_ap": 0.44})
        write_csv(tmp_path / "histories" / f"{c['model']}-peptides-func-5-0.csv", [{"epoch": 0, "val_ap": 0.25}])
    assert ResultsRecord(tmp_path, ()).retire("fixed", model="gcn_lrgb") == 1  # as the retire command builds it
    moved = tmp_path / "histories" / "retired" / f"gcn_lrgb-peptides-func-5-0-{config_hash({'model': 'gcn_lrgb'})}.csv"
    assert moved.is_file() and not (tmp_path / "histories" / "gcn_lrgb-peptides-func-5-0.csv").exists()
    assert [float(r["val_ap"]) for r in read_csv(moved)] == [0.25]
    assert (tmp_path / "histories" / "gcn-peptides-func-5-0.csv").is_file()  # the rows kept keep theirs


def test_published_table_sets_ours_beside_the_paper(compose_config):
    """Issue 19: ours (the member chosen on validation) beside the published value, with the difference and scale."""
    from omegaconf import OmegaConf, open_dict

    from dgl_ssm.studies.tables import published_table
    from dgl_ssm.studies.schema import ConfigError, PublishedRow, check_published
    from dgl_ssm.studies.validation import validate

    cfg = compose_config("config", "study=graphprop_budget")
    rows = [{"model": label, "column": "diameter 10", "seed": seed, "status": "ok", "val_log10_mse": val,
             "test_log10_mse": test + 0.01 * seed}
            for seed in range(3) for label, val, test in (("GCN (h20)", -2.0, -3.0), ("GCN (h30)", -2.5, -2.41))]
    text = published_table(cfg.study, rows, ["diameter 10", "sssp 10", "eccentricity 10"])
    assert "| GCN | diameter 10 | -2.400 ± 0.010 (3 seeds) | 0.7424 ± 0.0466 | -3.142 | raw targets" in text
    assert "| GCN | sssp 10 | – | 0.9499 ± 0.0001 | – |" in text
    # while some members have not run, ours says so: the choice is not final
    text = published_table(cfg.study, [r for r in rows if r["model"] == "GCN (h30)"], ["diameter 10"])
    assert "| GCN | diameter 10 | -2.400 ± 0.010 (3 seeds, 1 of 2 entries run) | 0.7424 ± 0.0466 |" in text
    for key, value, message in (("GCNN", {"numbers": {"diameter 10": "1"}, "source": "x"}, "no such row"),
                                ("GCN", {"numbers": {"diameter 9": "1"}, "source": "x"}, "no column 'diameter 9'"),
                                ("GCN", {"numbers": {"diameter 10": "about 1"}, "source": "x"}, "is not 'mean' or 'mean ± std'")):
        bad = compose_config("config", "study=graphprop_budget")
        with open_dict(bad):
            bad.study.published[key] = OmegaConf.structured(PublishedRow(**value))
        with pytest.raises(ConfigError, match=message):
            check_published(bad.study)
        if "mean ± std" in message:  # the format also at the start of a sitting; rows and columns at report time
            with pytest.raises(ConfigError, match=message):
                validate(bad)
    part = compose_config("config", "study=graphprop_budget", "study.datasets=[diameter]")
    validate(part)  # a sitting may run a part of the grid: published rows of models it does not run are not errors

def test_a_plumbing_check_sets_no_published_numbers_beside_its_own(compose_config, tmp_path):
    """peptides_quick inherits the published numbers of study=peptides but, at 2 epochs on 256 graphs, compares with
    none of them (compare_published: false); peptides_30 does."""
    from dgl_ssm.studies.tables import write_tables

    rows = [{"model": "gcn", "dataset": "peptides-func", "layers": 17, "seed": 0, "status": "ok", "test_ap": 0.18,
             "train_time_s": 7.0, "epochs_run": 2}]
    quick = write_tables(compose_config("config", "study=peptides_quick").study, rows, tmp_path / "q")
    budget = write_tables(compose_config("config", "study=peptides_30").study, rows, tmp_path / "b")
    assert "| GCN " in quick and "Ours against the published numbers" not in quick
    assert "| GCN | 17 | 0.1800 (1 seed) | 0.5930 ± 0.0023 |" in budget

def test_epoch_time_table_counts_cpu_time_and_marks_what_it_could_not(compose_config, tmp_path):
    """An epoch in which the process was paused (SIGSTOP) inflates the wall-clock mean: the table shows CPU seconds
    per epoch; a row recorded without them shows its history's median epoch (†), or its wall-clock mean (*)."""
    from dgl_ssm._io import write_csv
    from dgl_ssm.studies.tables import write_tables

    study = compose_config("config", "study=peptides_30").study
    base = {"dataset": "peptides-func", "layers": 17, "seed": 0, "status": "ok", "test_ap": 0.3, "epochs_run": 3}
    rows = [{**base, "model": "gcn", "train_time_s": 3000.0, "train_cpu_s": 30.0},
            {**base, "model": "gcn_ssm", "train_time_s": 3000.0},
            {**base, "model": "kgcn_ssm", "train_time_s": 3000.0}]
    write_csv(tmp_path / "histories" / "gcn_ssm-peptides-func-17-0.csv",
              [{"epoch": e, "time_s": t} for e, t in enumerate((20.0, 22.0, 2958.0))])
    text = write_tables(study, rows, tmp_path)
    table = text[text.index("Training time per epoch"):]
    assert "| GCN " in table and "10.00" in table.split("| GCN ")[1].splitlines()[0]
    assert "| GCN-SSM (λ = 1, B = 0.1 I) † " in table and "22.00" in table
    assert "| kGCN-SSM (λ = 1, B = 0.1 I) * " in table and "1000.00" in table
    assert "CPU seconds" in table and "†: recorded without CPU time" in table and "*: recorded without" in table


def test_provenance_names_the_math_libraries_code_path(monkeypatch):
    """The last digit of a short run depends on the CPU's code path (docs/rough_edges.md): the record names it."""
    import torch

    from dgl_ssm.studies.record import machine_info

    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    info = machine_info()
    assert info["mkl_cbwr"] == "COMPATIBLE"
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    monkeypatch.delenv("MKL_CBWR")
    assert machine_info()["mkl_cbwr"] is None
    monkeypatch.setenv("LD_PRELOAD", "/x/libmkl_intel_path.so")  # only read, nothing loads it in this process
    assert machine_info()["ld_preload"] == "/x/libmkl_intel_path.so"
    monkeypatch.delenv("LD_PRELOAD")
    assert machine_info()["ld_preload"] is None


def test_the_tables_command_on_a_folder_that_is_not_a_record_is_one_line(tmp_path, capsys):
    assert tables_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path} is not a study record: it has no results.csv")
    (tmp_path / "results.csv").write_text("model,dataset,depth,seed\n")
    assert tables_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'provenance.json'} is missing and no packaged study")


def test_a_record_whose_provenance_is_gone_is_refused_before_anything_is_written(tmp_path, compose_config):
    """results.csv with rows and no provenance.json: a sitting would have written a provenance with only its own
    entry, losing the old rows' commits and commands silently."""
    import shutil

    from dgl_ssm.studies import RecordConflict, run_study

    out = tmp_path / "depth_quick"
    shutil.copytree(ROOT / "results" / "depth_quick", out)
    (out / "provenance.json").unlink()
    before = (out / "results.csv").read_text()
    with pytest.raises(RecordConflict, match=r"results.csv holds \d+ rows but .*provenance.json is missing: a sitting"):
        run_study(compose_config("config", "study=depth_quick", f"out={out}"), log=lambda *_: None)
    assert not (out / "provenance.json").exists() and (out / "results.csv").read_text() == before
