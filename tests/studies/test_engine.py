"""The study engine: a sitting runs, records and resumes cells; one-line errors before anything is written; sweeps,
signals and time limits; sittings side by side."""
import contextlib
import json
import os
import re
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
from dgl_ssm.train.trainer import load_checkpoint
from tiny import TEXAS, TINY

ROOT = Path(__file__).resolve().parents[2]


def test_study_records_resumes_and_refuses_other_settings(tmp_path, raw_data, fits, compose_config):
    raw_data(*TEXAS)
    out = tmp_path / "results" / "tiny"
    cfg = compose_config("config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}")
    rows, table = run_study(cfg, "test", log=lambda *_: None)
    assert len(fits) == 2 and {r["model"] for r in rows} == {"gcn", "gcn_ssm"}
    assert all(r["status"] == "ok" and r["epochs_run"] <= 2 and "config_hash" in r for r in rows)
    flat = " ".join(table.split())  # Markdown cells are padded to equal widths
    assert "| GCN (Kipf & Welling) | " in flat and "| GCN-SSM (λ = 1, B = 0.1·I) | " in flat and (out / "results.md").read_text() == table
    # the title is depth_quick's description (Cora, its epochs); the rows' dataset and epochs are not, and it says so
    packaged = compose_config("config", "study=depth_quick").study
    note = re.search(r"Made with values other than those of the packaged configuration .*", table).group(0)
    assert '`datasets` ["texas"] (packaged: ["cora"])' in note  # one dataset is no column of the table
    assert note.count("`train.epochs` 2 for ") == 2, note  # GCN's own protocol and the study's, each named
    assert f"`train.epochs` 2 for GCN-SSM (λ = 1, B = 0.1·I) (packaged: {packaged.train.epochs})" in note
    assert "seeds" not in note and "settings" not in note  # the table's columns and title say those
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
    ("study.limit=100", "study.limit=100: only the LRGB Peptides datasets read it"),
    ("study.sizes=[10,10,10]", "study.sizes=[10, 10, 10]: only the generated graph property datasets"),
    ("study.ring_graphs=50", "study.ring_graphs=50: only the RingTransfer dataset (ring) read it"),
    ("study.param_budget=1000", "study.param_budget=1000: only graph-level studies (kind: graph) read it"),
    ("study.train.denormals=ftz", "study.train.denormals must be one of ieee, flush, got 'ftz'"),
    ("models=[gcn,gnc]", "models=['gcn', 'gnc']: unknown model entries ['gnc'] of study depth_quick; its entries: gcn,"),
    ("models=[]", "models=[]: no model entry of study depth_quick; its entries: gcn,"),
])
def test_bad_configuration_is_one_error_line_and_writes_nothing(tmp_path, run_cli, override, message):
    from dgl_ssm.studies.__main__ import main

    out = tmp_path / "out"
    status, stderr = run_cli(main, "study=depth_quick", f"out={out}", override)
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert status == 2 and len(lines) == 1 and message in lines[0], stderr[-2000:]
    assert "Traceback" not in stderr and not out.exists() and not any(tmp_path.iterdir())


@pytest.mark.parametrize("override,message", [
    ("study.train.lrr=0.1", "Could not override 'study.train.lrr'"),  # Hydra's error
    ("study.train.epochs=5", "study.train.epochs=5 does not reach model gcn"),  # ours, after the models are built
])
def test_bad_configuration_in_a_real_process_exits_2_without_a_traceback(tmp_path, run_cli_process, override, message):
    """The cases above run ``main()`` in-process; a fresh process shows the exit status and a clean stderr."""
    out = tmp_path / "out"
    status, stderr = run_cli_process("dgl_ssm.studies", "study=depth_quick", f"out={out}", override)
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert status == 2 and len(lines) == 1 and message in lines[0], stderr[-2000:]
    assert "Traceback" not in stderr and not out.exists()


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


def test_flush_to_zero_is_a_cell_identity_and_needs_one_thread(compose_config):
    """denormals: flush changes results below 1.2e-38, so it is part of a cell's identity (ieee, the default, is left
    out: every recorded hash stays); it holds in one thread on the CPU, so a sitting with more is refused."""
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.validation import validate

    cell = {"model": "gcn_ssm", "dataset": "cora", "depth": 2, "seed": 0}
    plain = cell_config(compose_config("config", "study=depth_quick").study, cell)
    ieee = cell_config(compose_config("config", "study=depth_quick", "study.train.denormals=ieee").study, cell)
    flush = cell_config(compose_config("config", "study=depth_quick", "study.train.denormals=flush").study, cell)
    assert plain == ieee and "denormals" not in plain["train"] and flush["train"]["denormals"] == "flush"
    validate(compose_config("config", "study=depth_quick", "study.train.denormals=flush"))
    with pytest.raises(ConfigError, match="study.train.denormals=flush needs threads=1 and device=cpu.*threads=2"):
        validate(compose_config("config", "study=depth_quick", "study.train.denormals=flush", "threads=2"))


def test_a_corrected_preset_refuses_the_rows_of_the_model_before_it(compose_config, tmp_path):
    """A preset corrected after records existed (lrgb-gcn, revision 1: GraphGym's per-layer L2 normalisation) enters
    its cells' identity, so its old row is refused as another configuration, not counted as the corrected model;
    presets never corrected (revision 0) keep every recorded hash."""
    from dgl_ssm.models.registry import PRESETS, register_preset
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.record import RecordConflict, ResultsRecord

    study = compose_config("config", "study=lrgb_seed_60").study
    lrgb = {"model": "gcn_lrgb", "dataset": "peptides-func", "layers": 5, "seed": 0}
    gcn = {"model": "gcn", "dataset": "peptides-func", "layers": 17, "seed": 0}
    assert PRESETS["lrgb-gcn"].revision == 1 and cell_config(study, lrgb)["preset_revision"] == 1
    assert "preset_revision" not in cell_config(study, gcn)
    before = {k: v for k, v in cell_config(study, lrgb).items() if k != "preset_revision"}
    record = ResultsRecord(tmp_path, ("model", "dataset", "layers", "seed"))
    record.append(lrgb, before, {"test_ap": 0.44})
    with pytest.raises(RecordConflict, match="another configuration"):
        record.status(lrgb, cell_config(study, lrgb))
    with pytest.raises(ValueError, match="revision must be an int >= 0"):
        register_preset("never-registered", family="plain", factory=dict, revision=-1)
    assert "never-registered" not in PRESETS


def test_values_keep_their_type(compose_config):
    """Issue 12: YAML's 1e-3 arrived as a string, and 'models: gcn' became the letters g, c, n."""
    cfg = compose_config("config", "study=depth_quick", "study.train.lr=1e-3", "study.settings=[4]")
    assert cfg.study.train.lr == 0.001 and isinstance(cfg.study.train.lr, float) and list(cfg.study.settings) == [4]


def test_output_folder_and_device_errors(tmp_path, compose_config):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        run_study(compose_config("config", "study=depth_quick", f"out={target}"), log=lambda *_: None)
    with pytest.raises(ConfigError, match=rf"out={target / 'sub'}: {target} is a file, so no folder can be made under it"):
        run_study(compose_config("config", "study=depth_quick", f"out={target / 'sub'}"), log=lambda *_: None)
    with pytest.raises(RuntimeError, match=r"^device=cuda:0: (torch sees no CUDA device; use device=cpu|the installed DGL)"):
        run_study(compose_config("config", "study=depth_quick", f"out={tmp_path / 'o'}", "device=cuda:0"), log=lambda *_: None)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match=r"^device=mps: DGL runs on cpu or cuda only; use device=cpu or device=cuda$"):
        run_study(compose_config("config", "study=depth_quick", f"out={tmp_path / 'o'}", "device=mps"), log=lambda *_: None)
    with pytest.raises(ValueError, match=r"^device=gpu: not a device"):
        run_study(compose_config("config", "study=depth_quick", f"out={tmp_path / 'o'}", "device=gpu"), log=lambda *_: None)
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


def test_a_partial_sitting_writes_the_table_of_the_whole_record(tmp_path, raw_data, compose_config):
    """A sitting that runs part of the grid (fewer models, other settings) writes the table of every sitting, in the
    configuration's row and column order, exactly as ``python -m dgl_ssm.studies.tables`` does."""
    from dgl_ssm.studies.tables import regenerate

    raw_data(*TEXAS)
    out = tmp_path / "run"
    base = ["config", "study=depth_quick", "study.seeds=1", "study.datasets=[texas]", "study.train.epochs=2",
            "study.models.gcn.train.epochs=2", "~study.models.res_gcn", f"out={out}", f"data_root={tmp_path / 'data'}"]
    run_study(compose_config(*base, "study.settings=[8]"), "t", log=lambda *_: None)
    _, table = run_study(compose_config(*base, "study.settings=[2]", "~study.models.gcn_ssm"), "t", log=lambda *_: None)
    text = (out / "results.md").read_text()
    assert text == table == regenerate(out, write=False)
    header = next(line for line in text.splitlines() if line.startswith("| model"))
    assert header.index(" 2 ") < header.index(" 8 ")  # numeric order, not the order of the sittings
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| G")]
    assert rows == ["GCN (Kipf & Welling)", "GCN-SSM (λ = 1, B = 0.1·I)"]  # labels of models this sitting left out


def test_a_diverged_cell_is_recorded_and_the_grid_goes_on(tmp_path, raw_data, compose_config):
    """Issue 14, defect 2: TrainingDiverged used to abort the grid, leaving no table."""
    raw_data(*TEXAS)
    cfg = compose_config("config", "study=depth_quick", "study.seeds=1", "study.datasets=[texas]", "study.settings=[30]",
                 "study.train.epochs=2", "study.models.gcn.train.epochs=2", "~study.models.res_gcn",
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
    assert "1 of them resume from a checkpoint" in plan and "1 with an estimate" in plan
    # the cell under way times itself: its checkpoint's median CPU seconds per epoch times the protocol's 5 epochs
    per = re.search(r"\| gcn \| texas \| 2 \| 0 \(from epoch 2, best (val_\w+) ([\d.]+) at epoch (\d+)\) \| (\d+) "
                    r"\(its checkpoint's ([\d.]+) s/epoch × 5 epochs\) \|", plan)
    assert per and abs(int(per[4]) - 5 * float(per[5])) <= 1
    # ... and shows its best validation value so far, as the checkpoint holds it
    (saved,) = (tmp_path / "resumed" / ".checkpoints").glob("*/checkpoint.pt")
    state = load_checkpoint(saved)
    assert (per[1], float(per[2]), int(per[3])) == ("val_loss", round(state["best_value"], 4), state["best_epoch"])  # TINY monitors the loss
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


def test_a_grid_where_no_model_runs_on_the_datasets_is_refused(compose_config):
    """Models that list their own datasets can leave a study with no cell: one error line, not an empty table."""
    from dgl_ssm.studies.validation import validate

    with pytest.raises(ConfigError, match=r"the grid is empty: no model of study.models runs on study.datasets \(diameter;"):
        validate(compose_config("config", "study=graphprop_full", "study.datasets=[diameter]"))
    validate(compose_config("config", "study=graphprop_full"))


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


@pytest.mark.slow
def test_four_sittings_side_by_side_lose_no_row_of_any_file(tmp_path, raw_data):
    """Four sittings of one study with per-layer and gradient rows: every row of every file of the record is there
    exactly once (layers.csv and gradients.csv were read and rewritten without the record's lock and lost rows)."""
    raw_data(*TEXAS)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dgl_ssm.studies", "study=depth_quick", "study.datasets=[texas]", "study.protocol=shared",
           "~study.models.gcn", "study.settings=[1,2,3,4,5,6]", "study.seeds=2", "study.train.epochs=1",
           "study.train.hidden=8", "study.record_gradients=true", f"out={out}", f"data_root={tmp_path / 'data'}",
           "checkpoint_every_s=0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    assert all(p.wait(timeout=600) == 0 for p in procs), [p.stderr.read()[-1500:] for p in procs]
    results = read_csv(out / "results.csv")
    cells = {(r["model"], r["depth"], r["seed"]) for r in results}
    assert len(results) == len(cells) == 2 * 6 * 2
    expected = {(m, d, s, layer) for m, d, s in cells for layer in range(d + 1)}
    for name in ("layers.csv", "gradients.csv"):
        rows = [(r["model"], r["depth"], r["seed"], r["layer"]) for r in read_csv(out / name)]
        assert len(rows) == len(set(rows)) and set(rows) == expected, name


def test_keep_models_keeps_the_weights_each_recorded_number_came_from(tmp_path, raw_data, compose_config):
    """keep_models=true: every recorded cell's trained model in .models/, under the cell's identity; trained_cell
    rebuilds the cell with it and its test accuracy is the record's, to the last digit. Without the option nothing is
    kept and trained_cell says how to keep it; a file moved to another cell's name is refused."""
    import shutil

    from dgl_ssm.studies.trained import trained_cell

    raw_data(*TEXAS)
    out, data = tmp_path / "results" / "tiny", tmp_path / "data"
    rows, _ = run_study(compose_config("config", *TINY, "keep_models=true", f"out={out}", f"data_root={data}"), "t",
                        log=lambda *_: None)
    kept = sorted(p.name for p in (out / ".models").iterdir())
    assert len(kept) == len(rows) == 2 and {k.split("-")[0] for k in kept} == {"gcn", "gcn_ssm"}
    for row in rows:
        cell = {"model": row["model"], "dataset": row["dataset"], "depth": int(row["depth"]), "seed": int(row["seed"])}
        prepared = trained_cell(out, cell, data_root=data)
        test = prepared.task.evaluate(prepared.model, ("test",))["test"]["accuracy"]
        assert test == float(row["test_accuracy"])
    assert not (out / ".checkpoints").exists() or not any((out / ".checkpoints").iterdir())
    # a model file under another cell's name is refused
    gcn, ssm = sorted((out / ".models").iterdir())
    shutil.copy(gcn, ssm)
    assert ssm.name.split("-")[0] == "gcn_ssm"
    with pytest.raises(ValueError, match="copied or moved"):
        trained_cell(out, {"model": "gcn_ssm", "dataset": "texas", "depth": 2, "seed": 0}, data_root=data)
    ssm.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a dgl_ssm trained model"):
        trained_cell(out, {"model": "gcn_ssm", "dataset": "texas", "depth": 2, "seed": 0}, data_root=data)
    # without keep_models: no model kept, and the error says how to keep one
    other = tmp_path / "results" / "plain"
    run_study(compose_config("config", *TINY, f"out={other}", f"data_root={data}"), "t", log=lambda *_: None)
    assert not (other / ".models").exists()
    with pytest.raises(FileNotFoundError, match="keep_models=true"):
        trained_cell(other, {"model": "gcn", "dataset": "texas", "depth": 2, "seed": 0}, data_root=data)


def test_a_record_made_as_packaged_has_no_departures(compose_config):
    from dgl_ssm.studies.identity import cell_config, departures

    packaged = compose_config("config", "study=depth_quick").study
    cells = {f"h{i}": cell_config(packaged, {"model": m, "dataset": "cora", "depth": 2, "seed": 0})
             for i, m in enumerate(packaged.models)}
    rows = [{"model": c["cell"]["model"], "config_hash": h} for h, c in cells.items()]
    assert departures(packaged, rows, cells) == []
    other = compose_config("config", "study=depth_quick", "study.models.gcn_ssm.options.block_options.input_matrix=1.0").study
    cells["x"] = cell_config(other, {"model": "gcn_ssm", "dataset": "cora", "depth": 8, "seed": 1})
    assert departures(packaged, [*rows, {"model": "gcn_ssm", "config_hash": "x"}], cells) == [
        ("options.block_options.input_matrix", 1.0, 0.1, ["gcn_ssm"])]
    assert departures(None, rows, cells) == [] and departures(packaged, [{"model": "gcn"}], cells) == []
