"""Studies as data (issue 12): typed configuration, the results record, resume and refusal, one-line errors, sweeps."""
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dgl_ssm.train
import dgl_ssm.train.cell
from dgl_ssm.report import read_csv
from dgl_ssm.studies import RecordConflict, run_study
from dgl_ssm.studies.schema import ConfigError
from dgl_ssm.studies.tables import main as tables_main

ROOT = Path(__file__).resolve().parents[1]
TEXAS = ("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")
TINY = ["study=depth_quick", "study.datasets=[texas]", "study.settings=[2]", "study.train.epochs=2",
        "study.models.gcn.train.epochs=2", "~study.models.res_gcn"]



@pytest.fixture
def fits(monkeypatch):
    """The cells trained: every cell goes through the one cell path, dgl_ssm.train.cell.fit_cell."""
    import dgl_ssm.train.cell

    calls = []
    real = dgl_ssm.train.cell.fit_cell

    def counted(*args, **kwargs):
        calls.append(args[:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(dgl_ssm.train.cell, "fit_cell", counted)
    return calls


def test_study_records_resumes_and_refuses_other_settings(tmp_path, raw_data, fits, compose_config):
    raw_data(*TEXAS)
    out = tmp_path / "results" / "tiny"
    cfg = compose_config("config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}")
    rows, table = run_study(cfg, "test", log=lambda *_: None)
    assert len(fits) == 2 and {r["model"] for r in rows} == {"gcn", "gcn_ssm"}
    assert all(r["status"] == "ok" and r["epochs_run"] <= 2 and "config_hash" in r for r in rows)
    flat = " ".join(table.split())  # Markdown cells are padded to equal widths
    assert "| GCN (Kipf & Welling) | " in flat and "| GCN-SSM (λ = 1, B = 0.1·I) | " in flat and (out / "results.md").read_text() == table
    sitting = json.loads((out / "provenance.json").read_text())["sittings"][0]
    assert {"commit", "command", "date", "machine", "config", "wall_time_s"} <= set(sitting)
    assert {"cpu", "cores", "python", "torch", "dgl", "numpy", "cpu_capability", "mkl_cbwr"} <= set(sitting["machine"])
    assert sitting["machine"]["cpu_capability"] in {"DEFAULT", "AVX2", "AVX512", "VSX", "ZVECTOR", None}
    # the same configuration: nothing reruns, nothing is lost
    rows_again, _ = run_study(cfg, "test", log=lambda *_: None)
    assert len(fits) == 2 and len(rows_again) == 2
    # more seeds: only the new cells run, the record only grows
    more, _ = run_study(compose_config("config", *TINY, "study.seeds=2", f"out={out}", f"data_root={tmp_path / 'data'}"), "t", log=lambda *_: None)
    assert len(fits) == 4 and len(more) == 4
    # another protocol into the same record is refused before anything runs, naming what differs
    with pytest.raises(RecordConflict, match=r"train.lr: 0.01 -> 0.02"):
        run_study(compose_config("config", *TINY, "study.train.lr=0.02", f"out={out}"), "t", log=lambda *_: None)
    assert len(fits) == 4 and len(read_csv(out / "results.csv")) == 4
    # tables come from the record; a stale committed table is caught
    assert tables_main([str(out), "--check"]) == 0
    (out / "results.md").write_text("edited by hand\n")
    assert tables_main([str(out), "--check"]) == 1
    assert tables_main([str(out)]) == 0 and tables_main([str(out), "--check"]) == 0


@pytest.mark.parametrize("override,message", [
    ("study.train.epochs=0", "study.train.epochs must be >= 1, got 0"),
    ("study.seeds=-1", "study.seeds must be >= 1, got -1"),
    ("study.train.hidden=0", "study.train.hidden must be >= 1, got 0"),
    ("study.train.lr=abc", "could not be converted to Float"),
    ("study.train.lrr=0.1", "Could not override 'study.train.lrr'"),
    ("study.models.gcn.preset=gnc", "unknown model 'gnc'; known:"),
    ("+study.models.gcn_ssm.options.block_options.state_trasition=0.5", "unknown block option 'state_trasition'"),
    ("+study.models.gcn.options.block_options.state_transition=0.5", "model 'kipf-gcn' takes no block_options"),
    ("study.protocol=mine", "study.protocol must be 'published'"),
    ("study.models.gcn.train.monitor=accuracy", "monitor must be 'metric', 'loss' or 'loss_and_metric'"),
    ("+study.models.gcn.train.weight_decay_groups.convs=0.01", "weight_decay_groups prefix 'convs' matches no parameter"),
    ("study=nope", "Could not find 'study/nope'"),
    ("+study.models.gcn.train.hiden=3", "study.models.gcn.train"),
    ("study.train.max_hop=0", "study.train.max_hop=0 does not apply to node cells (node cells are not k-hop rewired"),
    ("study.train.batch_size=64", "study.train.batch_size=64 does not apply to node cells (a node cell trains on its whole graph"),
    ("study.train.scheduler=bogus", "study.train.scheduler must be one of none, cosine, plateau, step, got 'bogus'"),
    ("study.train.lr=inf", "study.train.lr must be a finite number > 0, got inf"),
    ("study.models.gcn_ssm.preset=kgcn-ssm", "study.models.gcn_ssm.preset: 'kgcn-ssm' reads k-hop rings (edata['hop']), which node studies do not build"),
    ("study.train.epochs=5", "study.train.epochs=5 does not reach model gcn (GCN (Kipf & Welling)), which trains with its own "
                             "study.models.gcn.train.epochs=200 (its published configuration); add study.models.gcn.train.epochs=5, "
                             "or train every model with study.train alone: study.protocol=shared"),
    ("study.limit=-1", "study.limit must be >= 1 or null"),
    ("study.datasets=[corra]", "unknown node-level dataset(s) corra"),
    ("study.target_scale=raw", "study.target_scale=raw applies to graph property tasks only"),
    ("study.target_scale=max", "study.target_scale must be one of train_max, raw, got 'max'"),
    ("study.datasets=cora", "study.datasets"),
    ("study.models.gcn.train.hidden=0", "study.models.gcn.train.hidden must be >= 1, got 0"),
    ("time_limit_s=-1", "time_limit_s must be a finite number of seconds >= 0 (0: no limit), got -1"),
])
def test_bad_configuration_is_one_error_line_and_writes_nothing(tmp_path, override, message):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "dgl_ssm.studies", "study=depth_quick", f"out={out}", override],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not out.exists()


def test_normalize_features_is_for_node_studies_and_keeps_old_hashes(compose_config):
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.validation import validate

    with pytest.raises(ConfigError, match="study.normalize_features applies to node classification studies"):
        validate(compose_config("config", "study=graphprop_quick", "study.normalize_features=true"))
    plain = compose_config("config", "study=depth_quick").study
    normed = compose_config("config", "study=depth_quick", "study.normalize_features=true").study
    cell = {"model": "gcn", "dataset": "cora", "depth": 2, "seed": 0}
    assert "normalize_features" not in cell_config(plain, cell)  # the default leaves every recorded hash as it was
    assert cell_config(normed, cell)["normalize_features"] is True


def test_values_keep_their_type(compose_config):
    """Issue 12: YAML's 1e-3 arrived as a string, and 'models: gcn' became the letters g, c, n."""
    cfg = compose_config("config", "study=depth_quick", "study.train.lr=1e-3", "study.settings=[4]")
    assert cfg.study.train.lr == 0.001 and isinstance(cfg.study.train.lr, float) and list(cfg.study.settings) == [4]


def test_output_folder_and_device_errors(tmp_path, compose_config):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run_study(compose_config("config", "study=depth_quick", f"out={target}"), log=lambda *_: None)
    with pytest.raises(RuntimeError, match="cuda"):
        run_study(compose_config("config", "study=depth_quick", f"out={tmp_path / 'o'}", "device=cuda:0"), log=lambda *_: None)
    assert not (tmp_path / "o").exists()
    for override, message in (("threads=0", "threads must be >= 1, got 0"),
                              ("checkpoint_every_s=-1", "checkpoint_every_s must be >= 0 seconds")):
        with pytest.raises(ConfigError, match=message):
            run_study(compose_config("config", "study=depth_quick", f"out={tmp_path / 'o'}", override), log=lambda *_: None)
        assert not (tmp_path / "o").exists()


def test_every_study_config_composes_and_validates(compose_config):
    from dgl_ssm.studies.validation import validate

    from importlib.resources import files

    names = sorted(p.name[:-5] for p in files("dgl_ssm.conf").joinpath("study").iterdir() if p.name.endswith(".yaml"))
    assert {"depth_quick", "depth_cora", "graphprop_full", "peptides", "peptides_30"} <= set(names)
    for name in names:
        cfg = compose_config("config", f"study={name}")
        validate(cfg)
        assert cfg.study.name == name


@pytest.mark.slow
def test_local_sweep_on_two_workers_shares_one_record(tmp_path, raw_data):
    raw_data(*TEXAS)
    out = tmp_path / "record"
    cmd = [sys.executable, "-m", "dgl_ssm.studies", "-m", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}",
           "num_shards=2", "shard=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
           f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_csv(out / "results.csv")
    assert sorted(r["model"] for r in rows) == ["gcn", "gcn_ssm"]
    sittings = json.loads((out / "provenance.json").read_text())["sittings"]
    assert len(sittings) == 2 and sorted(s["cells_run"] for s in sittings) == [1, 1]
    assert tables_main([str(out), "--check"]) == 0  # the last worker's table holds every row


def test_committed_tables_match_their_records(monkeypatch):
    """results/<study>/results.md and the README's generated blocks equal what the records give, checked by the
    documented command itself (no folders: every study of results/, not the diagnostics beside them)."""
    assert list((ROOT / "results").glob("*/results.csv")), "no committed study records"
    assert [p for p in (ROOT / "results").glob("*/provenance.json") if not (p.parent / "results.csv").is_file()], \
        "the diagnostics records (provenance, no results.csv) this test keeps the command honest about"
    monkeypatch.chdir(ROOT)
    assert tables_main(["--check", "--readme", "README.md"]) == 0


def test_a_partial_sitting_writes_the_table_of_the_whole_record(tmp_path, raw_data, compose_config):
    """A sitting that runs part of the grid (fewer models, other settings) writes the table of every sitting, in the
    configuration's row and column order, exactly as ``python -m dgl_ssm.studies.tables`` does."""
    from dgl_ssm.studies.tables import regenerate

    raw_data(*TEXAS)
    out = tmp_path / "run"
    base = ["config", "study=depth_quick", "study.datasets=[texas]", "study.train.epochs=2",
            "study.models.gcn.train.epochs=2", "~study.models.res_gcn", f"out={out}", f"data_root={tmp_path / 'data'}"]
    run_study(compose_config(*base, "study.settings=[8]"), "t", log=lambda *_: None)
    _, table = run_study(compose_config(*base, "study.settings=[2]", "~study.models.gcn_ssm"), "t", log=lambda *_: None)
    text = (out / "results.md").read_text()
    assert text == table == regenerate(out, write=False)
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    assert header.index(" 2 ") < header.index(" 8 ")  # numeric order, not the order of the sittings
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| G")]
    assert rows == ["GCN (Kipf & Welling)", "GCN-SSM (λ = 1, B = 0.1·I)"]  # labels of models this sitting left out


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
    of the published numbers (peptides' DRew-GCN row was relabelled while its cell ran)."""
    from omegaconf import OmegaConf

    from dgl_ssm.studies.record import record_study
    from dgl_ssm.studies.tables import regenerate

    config = json.loads(json.dumps(OmegaConf.to_container(compose_config("config", "study=depth_cora").study)))
    packaged = config["models"]["gcn"]["label"]
    assert config["published"][packaged]["numbers"]["2"] == "81.5"
    config["models"]["gcn"]["label"] = "GCN, as once called"
    (tmp_path / "provenance.json").write_text(json.dumps({"sittings": [{"config": config}]}))
    (tmp_path / "results.csv").write_text("model,dataset,depth,seed,status,test_accuracy\ngcn,cora,2,0,ok,0.8\n")
    assert record_study(tmp_path).models.gcn.label == packaged
    text = regenerate(tmp_path, write=False)
    assert "as once called" not in text
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


def test_a_diverged_cell_is_recorded_and_the_grid_goes_on(tmp_path, raw_data, compose_config):
    """Issue 14, defect 2: TrainingDiverged used to abort the grid, leaving no table."""
    raw_data(*TEXAS)
    cfg = compose_config("config", "study=depth_quick", "study.datasets=[texas]", "study.settings=[30]", "study.train.epochs=2",
                 "study.models.gcn.train.epochs=2", "~study.models.res_gcn",
                 "study.models.gcn_ssm.options.block_options.state_transition=50.0",
                 f"out={tmp_path / 'run'}", f"data_root={tmp_path / 'data'}")
    with pytest.warns(RuntimeWarning, match="spectral radius"):
        rows, table = run_study(cfg, "t", log=lambda *_: None)
    by_model = {r["model"]: r for r in rows}
    assert by_model["gcn_ssm"]["status"] == "diverged" and by_model["gcn_ssm"]["diverged_epoch"] == 0
    assert by_model["gcn"]["status"] == "ok"
    assert "| GCN-SSM (λ = 1, B = 0.1·I) | diverged (1 of 1) |" in " ".join(table.split())


def test_gradients_at_init_are_recorded_with_the_baselines(tmp_path, raw_data, compose_config):
    raw_data(*TEXAS)
    cfg = compose_config("config", "study=depth_baselines_quick", "study.datasets=[texas]", "study.settings=[3]", "study.train.epochs=2",
                 "~study.models.res_gcn", "~study.models.lip_res_gcn", "~study.models.gcnii",
                 f"out={tmp_path / 'run'}", f"data_root={tmp_path / 'data'}")
    run_study(cfg, "t", log=lambda *_: None)
    grads = read_csv(tmp_path / "run" / "gradients.csv")
    assert len(grads) == 2 * (3 + 1) and all(g["grad_norm"] > 0 for g in grads if g["layer"] > 0)
    assert all(g["error_feature_norm"] > 0 for g in grads)  # dL/dH_l of dgl_ssm.analysis.gradient_flow
    assert (tmp_path / "run" / "gradients_texas.png").is_file() and (tmp_path / "run" / "test_accuracy_texas.png").is_file()


def test_graph_cell_model_draws_its_weights_in_the_recipe_order(compose_config):
    """The seed comes before the encoder (the first random draws), as the former graph recipes built Peptides models."""
    import torch

    from dgl_ssm.data import PeptidesDataset, TaskInfo, atom_encoder
    from dgl_ssm.experiment import seed_everything
    from dgl_ssm.models import build_model
    from dgl_ssm.studies.cells import cell_protocol
    from dgl_ssm.train.cell import build_cell_model

    study = compose_config("config", "study=peptides_quick").study
    task = TaskInfo("graph", 9, 10, "bce", "ap", readout="mean", encoder=PeptidesDataset.encoder)
    ours = build_cell_model("gcn", 3, 4, cell_protocol(study, "gcn"), task, hidden=16).state_dict()
    seed_everything(4)
    theirs = build_model("gcn", 9, 16, 10, 3, activation="gelu", dropout=0.1, readout="mean", encoder=atom_encoder(16)).state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


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


def test_every_packaged_study_names_real_published_rows_and_columns(compose_config):
    """The published numbers of every packaged study sit in a row and a column of its table (checked at report time)."""
    from importlib.resources import files

    from dgl_ssm.studies.schema import check_published

    names = sorted(p.name[:-5] for p in files("dgl_ssm.conf").joinpath("study").iterdir() if p.name.endswith(".yaml"))
    assert "depth_cora" in names
    for name in names:
        check_published(compose_config("config", f"study={name}").study)


def test_committed_records_keep_their_configuration_hashes(compose_config):
    """Protocol keys added later (monitor, weight_decay_groups) at their former implicit values change no hash:
    every committed cell of the committed studies is still 'done', none pending, none in conflict."""
    from dgl_ssm.studies.record import ResultsRecord
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.grid import study_cells

    for name in ("graphprop_quick", "ring_quick", "peptides_quick"):
        study = compose_config("config", f"study={name}").study
        record = ResultsRecord(ROOT / "results" / name, ["model", "dataset", study.setting_name, "seed"])
        rows = record.rows()
        assert rows and all(record.status(c, cell_config(study, c), rows) == "done" for c in study_cells(study))


def test_a_cell_another_sitting_holds_is_skipped_and_run_later(tmp_path, raw_data, fits, compose_config):
    """Sittings started side by side share the pending cells (ResultsRecord.claim) instead of running one twice."""
    from dgl_ssm.studies.record import ResultsRecord

    raw_data(*TEXAS)
    out = tmp_path / "results" / "shared"
    cfg = compose_config("config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}")
    lines = []
    with ResultsRecord(out, ("model", "dataset", "depth", "seed")).claim({"model": "gcn", "dataset": "texas", "depth": 2, "seed": 0}) as held:
        assert held
        rows, _ = run_study(cfg, "t", log=lines.append)
    assert [r["model"] for r in rows] == ["gcn_ssm"] and len(fits) == 1
    assert any("model=gcn, dataset=texas, depth=2, seed=0 | skipped: another sitting is running it" in x for x in lines)
    sitting = json.loads((out / "provenance.json").read_text())["sittings"][-1]
    assert sitting["finished"] and sitting["cells_run"] == 1 and sitting["cells_planned"] == 2
    rows, _ = run_study(cfg, "t", log=lambda *_: None)  # the claim is gone: the next sitting runs the cell
    assert sorted(r["model"] for r in rows) == ["gcn", "gcn_ssm"] and len(fits) == 2


def test_interrupted_cell_resumes_exactly_and_never_from_another_configuration(tmp_path, raw_data, monkeypatch, compose_config):
    """A node cell killed mid-training continues from its checkpoint to the uninterrupted result (``plan=true`` says
    where it resumes); a cell rerun with
    another configuration starts afresh (checkpoints are keyed on the configuration's hash) and, once recorded,
    its checkpoint is removed."""
    from dgl_ssm.train.node import NodeClassificationTask

    raw_data(*TEXAS)
    base = ["config", *TINY, "~study.models.gcn_ssm", "study.models.gcn.train.epochs=5", "study.models.gcn.train.patience=50",
            "checkpoint_every_s=0", f"data_root={tmp_path / 'data'}"]

    def run(name, *extra):
        rows, _ = run_study(compose_config(*base, f"out={tmp_path / name}", *extra), "t", log=lambda *_: None)
        return {k: rows[0][k] for k in ("best_epoch", "epochs_run", "val_loss", "test_accuracy", "test_loss")}

    reference, other = run("reference"), run("other_lr", "study.models.gcn.train.lr=0.05")
    real, calls = NodeClassificationTask.train_epoch, []

    def dies_in_epoch_3(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(self, *args)

    monkeypatch.setattr(NodeClassificationTask, "train_epoch", dies_in_epoch_3)
    with pytest.raises(RuntimeError, match="killed"):
        run("resumed")
    monkeypatch.setattr(NodeClassificationTask, "train_epoch", real)
    assert len(list((tmp_path / "resumed" / ".checkpoints").glob("*/checkpoint.pt"))) == 1
    _, plan = run_study(compose_config(*base, f"out={tmp_path / 'resumed'}", "plan=true"), "t", log=lambda *_: None)
    assert "| gcn | texas | 2 | 0 (from epoch 2) | unknown |" in plan and "1 of them resume from a checkpoint" in plan
    assert run("resumed") == reference
    assert not list((tmp_path / "resumed" / ".checkpoints").glob("*/checkpoint.pt")), "a recorded cell keeps no checkpoint"
    calls.clear()
    monkeypatch.setattr(NodeClassificationTask, "train_epoch", dies_in_epoch_3)
    with pytest.raises(RuntimeError, match="killed"):
        run("changed")  # two epochs at lr 0.01 on disk
    monkeypatch.setattr(NodeClassificationTask, "train_epoch", real)
    assert run("changed", "study.models.gcn.train.lr=0.05") == other, "resumed a checkpoint of another configuration"


def test_sigterm_ends_the_sitting_after_the_epoch_and_the_same_command_continues_exactly(
        tmp_path, raw_data, monkeypatch, compose_config):
    """SIGTERM (a batch scheduler's warning) in epoch 2 of the first cell: that epoch ends, its checkpoint is
    written, no later cell starts, the record and provenance say so, and the next sitting gives every cell the
    uninterrupted result."""
    import signal

    from dgl_ssm.studies import StudyStopped
    from dgl_ssm.train.node import NodeClassificationTask

    raw_data(*TEXAS)
    base = ["config", *TINY, "study.models.gcn.train.epochs=5", "study.models.gcn.train.patience=50",
            "checkpoint_every_s=3600", f"data_root={tmp_path / 'data'}"]

    logged = []

    def run(name):
        rows, _ = run_study(compose_config(*base, f"out={tmp_path / name}"), "t", log=logged.append)
        return {(r["model"], r["test_accuracy"], r["val_loss"], r["epochs_run"]) for r in rows}

    reference = run("reference")
    real, calls = NodeClassificationTask.train_epoch, []
    from dgl_ssm.studies.record import ResultsRecord

    keys = ("model", "dataset", "depth", "seed")
    ref = ResultsRecord(tmp_path / "reference", keys)
    last = ref.rows()[-1]

    def terminated_in_epoch_2(self, *args):
        calls.append(1)
        if len(calls) == 1:  # meanwhile another sitting records the last cell of this sitting's plan
            ResultsRecord(tmp_path / "stopped", keys).append(
                {k: last[k] for k in keys}, ref._configs()[str(last["config_hash"])],
                {k: v for k, v in last.items() if k not in (*keys, "config_hash")})
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, *args)

    monkeypatch.setattr(NodeClassificationTask, "train_epoch", terminated_in_epoch_2)
    handler = signal.getsignal(signal.SIGTERM)
    logged.clear()
    with pytest.raises(StudyStopped, match="sitting stopped \\(SIGTERM received\\); rerun the same command"):
        run("stopped")
    assert any(f"; {len(reference) - 2} later cells not started" in line for line in logged), logged
    assert signal.getsignal(signal.SIGTERM) is handler and len(calls) == 2, "one more epoch, or a handler left behind"
    out = tmp_path / "stopped"
    assert len(read_csv(out / "results.csv")) == 1 and (out / "results.md").is_file()
    sitting = json.loads((out / "provenance.json").read_text())["sittings"][0]
    assert sitting["stopped"] == "SIGTERM received" and sitting["cells_run"] == 0 and sitting["finished"]
    from dgl_ssm.train.trainer import load_checkpoint

    (checkpoint,) = (out / ".checkpoints").glob("*/checkpoint.pt")
    assert load_checkpoint(checkpoint)["next_epoch"] == 2
    monkeypatch.setattr(NodeClassificationTask, "train_epoch", real)
    assert run("stopped") == reference


def test_time_limit_starts_no_cell_after_it_and_is_exit_status_3(tmp_path, raw_data):
    raw_data(*TEXAS)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "dgl_ssm.studies", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}",
                           "time_limit_s=1e-9"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == ("stopped: depth_quick: sitting stopped (time limit of 1e-09 s "
                                                    "reached); rerun the same command to continue")
    assert "2 cells not started" in proc.stdout and not read_csv(out / "results.csv")


def test_plan_lists_pending_cells_with_recorded_times_and_writes_nothing(tmp_path, raw_data, fits, compose_config):
    raw_data(*TEXAS)
    out = tmp_path / "results" / "planned"
    base = ["config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}"]
    _, text = run_study(compose_config(*base, "plan=true"), "t", log=lambda *_: None)
    assert text.startswith("depth_quick: 2 cells pending; 0.0 CPU-hours for the 0 with a recorded time")
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


def _budget_choices(columns):
    """graphprop_budget's study from its committed record and its choice per (row, column) on validation."""
    from dgl_ssm.studies.selection import selection_choices
    from dgl_ssm.studies.record import record_study

    folder = ROOT / "results" / "graphprop_budget"
    budget = record_study(folder)
    return budget, selection_choices(budget, read_csv(folder / "results.csv"), columns)


def _group_with_preset(study, presets: set, of: str) -> str:
    """The one ``select`` group of ``study`` whose members all have the presets ``presets`` (``of``: for the message)."""
    groups = [g for g, ms in study.select.items() if {study.models[m].preset for m in ms} == presets]
    assert len(groups) == 1, f"{of}: no single {study.name} row with preset {presets}"
    return groups[0]


def _entry_spec(model, without=()):
    """What a study entry trains: preset, train entries (less ``without``), options."""
    from omegaconf import OmegaConf

    train = {k: v for k, v in OmegaConf.to_container(model.train or {}).items() if k not in without}
    return model.preset, train, OmegaConf.to_container(model.options)


def test_graphprop_full_runs_the_budget_tables_choices(compose_config):
    """Issue 19: every entry of graphprop_full is, for its task, the width / λ that graphprop_budget chose on
    validation in the committed record (a final choice: every member has run the selection seeds), and every row
    has its entry on every task."""
    full = compose_config("config", "study=graphprop_full").study
    columns = {f"{d} {s}" for d in full.datasets for s in full.settings}
    budget, choices = _budget_choices(columns)

    checked = set()
    for group, members in full.select.items():
        if group.endswith(RADIUS_GROUP):  # checked against graphprop_hops below
            continue
        assert group in budget.select, f"{group!r} is not a row of graphprop_budget"
        for member in members:
            datasets = list(full.models[member].datasets)
            assert len(datasets) == 1, f"{member}: one entry per row and task"
            column = f"{datasets[0]} {full.settings[0]}"
            assert (group, column) not in checked, f"{group} has two entries for {column}"
            checked.add((group, column))
            chosen = choices[(group, column)]
            assert chosen is not None, f"{member}: graphprop_budget's choice for {group} on {column} is not final"
            assert _entry_spec(full.models[member]) == _entry_spec(budget.models[chosen]), (member, chosen)
    missing = {(group, column) for group in full.select if not group.endswith(RADIUS_GROUP) for column in columns}
    assert not missing - checked, f"rows and tasks without their budget choice: {sorted(missing - checked)}"


#: graphprop_full's rows that rerun a k-hop model at the radius graphprop_hops chose
RADIUS_GROUP = ", max_hop chosen on validation"


def test_graphprop_full_radius_rows_run_the_radius_graphprop_hops_chose(compose_config):
    """Issue 19: a "max_hop chosen on validation" row of graphprop_full runs, per task, exactly the entry (width, λ
    and max_hop) that graphprop_hops chose on validation for that model in its committed record; the choice must be
    final. Tasks whose radius is not chosen yet have no entry (they are added when it is)."""
    from dgl_ssm.studies.selection import selection_choices

    full = compose_config("config", "study=graphprop_full").study
    hops = compose_config("config", "study=graphprop_hops").study
    columns = [f"{d} {s}" for d in hops.datasets for s in hops.settings]
    choices = selection_choices(hops, read_csv(ROOT / "results" / "graphprop_hops" / "results.csv"), columns)

    groups = [g for g in full.select if g.endswith(RADIUS_GROUP)]
    assert len(groups) == 2, groups
    for group in groups:
        members = full.select[group]
        hop_group = _group_with_preset(hops, {full.models[m].preset for m in members}, group)
        tasks = [full.models[m].datasets[0] for m in members]
        assert len(tasks) == len(set(tasks)), f"{group}: one entry per task"
        for member in members:
            (task,) = full.models[member].datasets
            chosen = choices[(hop_group, f"{task} 10")]
            assert chosen is not None, f"{member}: graphprop_hops' choice on {task} is not final"
            assert _entry_spec(full.models[member]) == _entry_spec(hops.models[chosen]), (member, chosen)


def test_graphprop_hops_varies_only_the_radius_of_the_budget_tables_choice(compose_config):
    """Issue 19: every entry of graphprop_hops is, for its one task, the choice of graphprop_budget (committed
    record) for the row with its preset, with only ``max_hop`` changed; each group runs the radii 3, 5 and 10 on
    every task."""
    hops = compose_config("config", "study=graphprop_hops").study
    budget, choices = _budget_choices([f"{d} {s}" for d in hops.datasets for s in hops.settings])

    assert list(hops.settings) == [10]
    for group, members in hops.select.items():
        presets = {hops.models[m].preset for m in members}
        assert len(presets) == 1, f"{group}: one model per group, only the radius varies"
        row = _group_with_preset(budget, presets, group)
        radii = {}
        for member in members:
            model = hops.models[member]
            assert len(model.datasets) == 1, f"{member}: one task per entry"
            task = model.datasets[0]
            radii.setdefault(task, []).append(model.train.max_hop)
            chosen = choices[(row, f"{task} 10")]
            assert chosen is not None, f"graphprop_budget's {task} choice for {row} is not final"
            assert _entry_spec(model, without=("max_hop",)) == _entry_spec(budget.models[chosen]), (member, chosen)
        assert {t: sorted(r) for t, r in radii.items()} == {t: [3, 5, 10] for t in hops.datasets}, group

def test_a_grid_where_no_model_runs_on_the_datasets_is_refused(compose_config):
    """Models that list their own datasets can leave a study with no cell: one error line, not an empty table."""
    from dgl_ssm.studies.validation import validate

    with pytest.raises(ConfigError, match=r"the grid is empty: no model of study.models runs on study.datasets \(diameter;"):
        validate(compose_config("config", "study=graphprop_full", "study.datasets=[diameter]"))
    validate(compose_config("config", "study=graphprop_full"))


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
    grouped = compose_config("config", "study=heterophily_platonov", f"+study.select.G=[platonov_gcn]").study
    grouped.published = {"G": grouped.published[label]}
    with pytest.raises(ConfigError, match="a select group has none"):
        check_published(grouped)
    with pytest.raises(ConfigError, match="with study.select or study.choose_setting"):
        validate(compose_config("config", "study=heterophily_platonov", "study.select_metric=test_accuracy"))


def test_progress_shows_a_bar_per_cell_and_is_off_by_default(tmp_path, raw_data, compose_config, capsys):
    """``progress=true`` used to be accepted and ignored (cells always ran without a bar)."""
    raw_data(*TEXAS)
    logged = []
    common = [*TINY, "~study.models.gcn_ssm", f"data_root={tmp_path / 'data'}"]
    run_study(compose_config("config", *common, f"out={tmp_path / 'quiet'}"), "t", log=logged.append)
    assert "it/s" not in capsys.readouterr().err and not any("started" in line for line in logged)
    run_study(compose_config("config", *common, "progress=true", f"out={tmp_path / 'bar'}"), "t", log=logged.append)
    bar = capsys.readouterr().err
    assert "/2 [" in bar and "val_accuracy=" in bar  # tqdm's epochs of 2, with the running loss and metric
    assert any(line.endswith("| model=gcn, dataset=texas, depth=2, seed=0 | started") for line in logged)


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
    assert "| d_ecc | eccentricity | 10 | 0 | unknown |" in text and "0.3 CPU-hours for the 1 with a recorded time" in text
    # another width is the same cost class; another rewiring radius is not (max_hop 10 costs about 2-3x max_hop 3)
    study.models.update(k_h20=NS(preset="kgcn-ssm", train={"hidden": 20}), k_hop10=NS(preset="kgcn-ssm", train={"max_hop": 10}),
                        k_hop10_h20=NS(preset="kgcn-ssm", train={"hidden": 20, "max_hop": 10}))
    rows.append({"model": "k_hop10", "dataset": "sssp", "layers": 10, "seed": 0, "train_time_s": 3000.0})
    text = plan_text(study, [{"model": m, "dataset": "eccentricity", "layers": 10, "seed": 0}
                             for m in ("k_h20", "k_hop10_h20")], rows)
    assert "| k_h20 | eccentricity | 10 | 0 | 1000 (2 of preset kgcn-ssm) |" in text
    assert "| k_hop10_h20 | eccentricity | 10 | 0 | 3000 (1 of preset kgcn-ssm, max_hop=10) |" in text


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


def test_a_cell_another_sitting_left_unrecorded_when_it_died_runs_here(tmp_path, raw_data, monkeypatch, compose_config):
    """A sitting skips a cell another sitting holds; that sitting is killed before recording it (its claim is released
    by the operating system). This sitting runs the cell before it ends instead of leaving it to a rerun."""
    from dgl_ssm.studies.record import ResultsRecord
    from dgl_ssm.studies.run import _pending

    raw_data(*TEXAS)
    out = tmp_path / "results" / "orphan"
    cfg = compose_config("config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}")
    record = ResultsRecord(out, ("model", "dataset", "depth", "seed"))
    held = _pending(cfg, record, [])[0][0]  # the first cell this sitting plans: skipped while held
    other = contextlib.ExitStack()
    assert other.enter_context(record.claim(held)) and record.held(held)
    real, calls = dgl_ssm.train.cell.fit_cell, []

    def fit(*args, **kwargs):
        calls.append(args[1:3])
        other.close()  # the other sitting dies without recording its cell
        return real(*args, **kwargs)

    monkeypatch.setattr(dgl_ssm.train.cell, "fit_cell", fit)
    lines = []
    rows, _ = run_study(cfg, "t", log=lines.append)
    assert not record.held(held)
    assert any("skipped: another sitting is running it" in x for x in lines), lines
    assert any("1 cell another sitting held was left unrecorded when it ended; running it here" in x for x in lines)
    assert len(calls) == 2 and len(rows) == 2
    assert {tuple(r[k] for k in held) for r in rows} >= {tuple(held.values())}
