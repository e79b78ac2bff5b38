"""A record that survives hand edits, foreign checkpoints and sittings with clashing configurations (issue 42): each
case is refused, or reported in one line and rerun, before anything is written or counted."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from dgl_ssm.report import read_csv
from dgl_ssm.studies import RecordConflict, run_study
from dgl_ssm.studies.integrity import DIGESTS
from dgl_ssm.studies.record import ResultsRecord
from dgl_ssm.studies.tables import main as tables_main

ROOT = Path(__file__).resolve().parents[2]
TEXAS = ("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")
TINY = ["study=depth_quick", "study.datasets=[texas]", "study.settings=[2]", "study.protocol=shared",
        "study.train.epochs=2", "study.seeds=2", "~study.models.res_gcn", "~study.models.gcn_ssm"]


def _sittings(out: Path) -> int:
    return len(json.loads((out / "provenance.json").read_text())["sittings"])


@pytest.fixture
def tiny(tmp_path, raw_data, compose_config):
    """``tiny(*overrides, out=...)``: run the two-seed GCN study on Texas (2 epochs) into ``out``; its rows."""
    raw_data(*TEXAS)

    def run(*extra, out=tmp_path / "out"):
        cfg = compose_config("config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}", "checkpoint_every_s=0",
                             *extra)
        return run_study(cfg, "test", log=lambda *_: None)[0]

    return run


# ---------------------------------------------------------------- hand-damaged records
def _edit(path: Path, seed: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines[1:], 1):
        fields = line.split(",")
        if fields[header.index("seed")] == str(seed):
            fields[header.index(column)] = value
            lines[i] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value,why", [("abc", "differs from the row as recorded"), ("0.99", "differs from the row as recorded")])
def test_an_edited_value_is_named_not_counted_and_rerun(tiny, tmp_path, fits, capsys, value, why):
    """A test accuracy edited by hand (to ``abc``, or to a plausible 0.99) was counted as done: shown as "–" or as
    the edited number in every table and never rerun. Now the tables command names it in one line and leaves it out,
    and the next sitting reruns it and moves the edited row to retired.csv with the reason."""
    out = tmp_path / "out"
    rows = tiny()
    assert len(rows) == 2 and len(fits) == 2
    truth = next(r["test_accuracy"] for r in rows if r["seed"] == 1)
    _edit(out / "results.csv", 1, "test_accuracy", value)
    assert ResultsRecord(out, ("model", "dataset", "depth", "seed")).rows() == [r for r in rows if r["seed"] == 0]
    assert tables_main([str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {out / 'results.csv'}: 1 damaged row (model=gcn, "
                                               f"dataset=texas, depth=2, seed=1: {why}")
    assert "(2 seeds)" not in (out / "results.md").read_text()
    again = tiny()
    assert len(fits) == 3 and len(again) == 2, "the edited cell is rerun, the other is not"
    assert next(r["test_accuracy"] for r in again if r["seed"] == 1) == truth
    retired = read_csv(out / "retired.csv")
    assert len(retired) == 1 and retired[0]["reason"].startswith("damaged: ") and str(retired[0]["test_accuracy"]) == value


def test_an_unsealed_row_with_a_word_for_a_number_is_damaged(tiny, tmp_path):
    """Rows written before digests existed carry none: there, a value that is not a number where the column holds
    numbers is the damage (``abc``); the next write seals the intact rows."""
    out = tmp_path / "out"
    tiny()
    doc = json.loads((out / "provenance.json").read_text())
    del doc[DIGESTS]
    (out / "provenance.json").write_text(json.dumps(doc))
    record = ResultsRecord(out, ("model", "dataset", "depth", "seed"))
    assert not record.integrity().damaged
    _edit(out / "results.csv", 1, "test_accuracy", "abc")
    assert [why for _, why in record.integrity().damaged] == ["test_accuracy='abc' is not a number"]
    assert record.seal() == 1  # the intact row gets its digest; the damaged one moves to retired.csv
    assert len(json.loads((out / "provenance.json").read_text())[DIGESTS]) == 1
    found = record.integrity()
    assert not found.damaged and not found.missing and len(found.intact) == 1
    assert read_csv(out / "retired.csv")[0]["reason"] == "damaged: test_accuracy='abc' is not a number"


def test_a_truncated_record_is_named_and_its_lost_rows_rerun_not_refused(tiny, tmp_path, fits, capsys):
    """results.csv cut to half its bytes gave partial tables without a word, then a misleading "recorded with
    another configuration" refusal. Now: the cut row and the lost ones are named, and the next sitting reruns them."""
    out = tmp_path / "out"
    tiny()
    text = (out / "results.csv").read_bytes()
    (out / "results.csv").write_bytes(text[: len(text) // 2 + 40])
    found = ResultsRecord(out, ("model", "dataset", "depth", "seed")).integrity()
    assert len(found.intact) + len(found.damaged) + len(found.missing) >= 2 and (found.damaged or found.missing)
    assert tables_main([str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "do not count as done" in err[0]
    rows = tiny()
    assert len(rows) == 2 and len(fits) == 2 + 2 - len(found.intact), "only the cut and lost rows rerun"
    assert not ResultsRecord(out, ("model", "dataset", "depth", "seed")).integrity().report(out / "results.csv")


def test_the_tables_command_without_provenance_says_so_and_a_sitting_refuses(tiny, tmp_path, capsys):
    """A deleted provenance.json crashed the tables command; a later sitting recreated it with its own entry only."""
    out = tmp_path / "depth_quick"
    tiny(out=out)
    (out / "provenance.json").unlink()
    assert tables_main([str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {out / 'provenance.json'} is missing: the rows' commits")
    with pytest.raises(RecordConflict, match="holds 2 rows but .* is missing"):
        tiny(out=out)
    assert not (out / "provenance.json").exists()


def test_sealing_a_committed_record_changes_no_value_and_no_hash(tmp_path):
    """Committed records got their digests from their committed files: sealing a copy changes neither results.csv nor
    cells.json, and leaves every old provenance entry as it was."""
    source = ROOT / "results" / "depth_quick"
    if not (source / "results.csv").is_file():
        pytest.skip("no committed depth_quick record")
    copy = tmp_path / "depth_quick"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".checkpoints", ".claims", ".lock"))
    before = {n: (copy / n).read_bytes() for n in ("results.csv", "cells.json")}
    sittings = json.loads((copy / "provenance.json").read_text())["sittings"]
    record = ResultsRecord(copy, ("model", "dataset", "depth", "seed"))
    record.seal()
    assert {n: (copy / n).read_bytes() for n in before} == before
    doc = json.loads((copy / "provenance.json").read_text())
    assert doc["sittings"] == sittings and len(doc[DIGESTS]) == len(read_csv(copy / "results.csv"))
    assert not record.integrity().damaged and not record.integrity().missing


# ---------------------------------------------------------------- foreign checkpoints
def test_a_checkpoint_copied_into_another_cells_folder_is_refused(tiny, tmp_path, monkeypatch):
    """The lr 0.01 cell's checkpoint copied into the lr 0.005 cell's folder (same shapes) resumed silently: the
    record said lr 0.005 and held the lr 0.01 run. Now the sitting refuses before it starts, naming both."""
    from dgl_ssm.train.node import NodeClassificationTask

    real = NodeClassificationTask.train_epoch

    def dies_in_epoch_2(self, *args):
        if getattr(self, "_epochs", 0) == 1:
            raise RuntimeError("killed")
        self._epochs = getattr(self, "_epochs", 0) + 1
        return real(self, *args)

    monkeypatch.setattr(NodeClassificationTask, "train_epoch", dies_in_epoch_2)
    for lr, out in (("0.01", tmp_path / "a"), ("0.005", tmp_path / "b")):
        with pytest.raises(RuntimeError, match="killed"):
            tiny(f"study.train.lr={lr}", "study.seeds=1", out=out)
    monkeypatch.setattr(NodeClassificationTask, "train_epoch", real)
    (theirs,), (mine,) = ((tmp_path / n / ".checkpoints").glob("*/checkpoint.pt") for n in "ab")
    assert torch.load(theirs, weights_only=True)["identity"] == theirs.parent.name
    shutil.copy(theirs, mine)
    sittings = _sittings(tmp_path / "b")
    with pytest.raises(RecordConflict, match=f"is the checkpoint of run '{theirs.parent.name}', not of cell "
                                             f"'{mine.parent.name}'"):
        tiny("study.train.lr=0.005", "study.seeds=1", out=tmp_path / "b")
    assert _sittings(tmp_path / "b") == sittings, "refused before the sitting started"
    mine.write_bytes(b"truncated")
    with pytest.raises(RecordConflict, match="is unreadable"):
        tiny("study.train.lr=0.005", "study.seeds=1", out=tmp_path / "b")
    mine.unlink()
    assert len(tiny("study.train.lr=0.005", "study.seeds=1", out=tmp_path / "b")) == 1


def test_the_trainer_refuses_a_checkpoint_of_another_run_and_reads_one_without_identity(tmp_path):
    """The library guarantee under the study check: ``Trainer(identity=...)``; a format-2 checkpoint written before
    identities (none recorded) still resumes (the LRGB cells that were running when identities came)."""
    from dgl_ssm.train import Trainer
    from dgl_ssm.train.trainer import load_checkpoint

    class Task:
        metric, higher_is_better = "accuracy", True

        def train_epoch(self, model, optimizer):
            optimizer.zero_grad()
            loss = model(torch.ones(1, 2)).sum()
            loss.backward()
            optimizer.step()
            return float(loss)

        def evaluate(self, model, splits):
            with torch.no_grad():
                return {s: {"loss": float(model(torch.ones(1, 2)).sum()), "accuracy": 0.5} for s in splits}

    def trainer(identity, epochs=1):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        return Trainer(model, Task(), torch.optim.SGD(model.parameters(), lr=0.1), max_epochs=epochs, patience=5,
                       run_dir=tmp_path, resume=True, progress=False, identity=identity)

    trainer("cell-a").fit()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["identity"] == "cell-a"
    with pytest.raises(ValueError, match="is the checkpoint of run 'cell-a', not of this run 'cell-b'"):
        trainer("cell-b", epochs=2).fit()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    del state["identity"]
    torch.save(state, tmp_path / "checkpoint.pt")
    assert trainer("cell-b", epochs=2).fit().epochs_run == 2, "a checkpoint without identity resumes"


# ---------------------------------------------------------------- sittings with clashing configurations
def test_a_sitting_that_would_run_a_cell_another_sitting_runs_otherwise_is_refused_at_its_start(tiny, tmp_path, fits,
                                                                                                 compose_config):
    """Two sittings into one folder, the second at lr 0.005: both ran cells, the record held seed 0 at one learning
    rate and seed 1 at the other, averaged into one row, and only then both exited with RecordConflict. Now the
    second is refused before its first cell; a sitting that runs another part of the grid, or the same grid with the
    same configuration, starts."""
    from dgl_ssm.studies.run import _announced

    out = tmp_path / "out"
    record = ResultsRecord(out, ("model", "dataset", "depth", "seed"))
    running = compose_config("config", *TINY, f"out={out}").study
    with _announced(running, record, [], "python -m dgl_ssm.studies study=depth_quick (the first sitting)", True):
        with pytest.raises(RecordConflict, match=r"another sitting \(pid \d+: python -m dgl_ssm.studies study=depth_quick "
                                                 r"\(the first sitting\)\) is running .* with another configuration of "
                                                 r"cell model=gcn, dataset=texas, depth=2, seed=0 \(train.lr: 0.01 -> 0.005\)"):
            tiny("study.train.lr=0.005")
        assert not fits and not (out / "results.csv").exists() and not (out / "provenance.json").exists()
        assert len(tiny("study.train.lr=0.005", "study.settings=[3]")) == 2, "another part of the grid starts"
        assert len(tiny()) == 4, "the same configuration starts (sittings side by side share the cells)"
    assert not list((out / ".sittings").glob("*.json")), "a sitting's announcement goes with it"
    # a killed sitting's announcement (its flock released) is stale: removed, not a clash
    (out / ".sittings" / "999999-0.json").write_text(json.dumps({"pid": 999999, "cells": {
        "model=gcn, dataset=texas, depth=4, seed=0": "x"}}))
    assert len(tiny("study.settings=[4]", "study.seeds=1")) == 5
    assert not (out / ".sittings" / "999999-0.json").exists()


# ---------------------------------------------------------------- errors found before the sitting starts
def test_an_empty_data_folder_is_refused_before_the_sitting_starts(tmp_path, compose_config):
    """An empty data folder was found by the first cell, after the sitting's provenance entry was written (an
    unfinished sitting on record). Now the data files of the pending cells are checked first."""
    from dgl_ssm.data import MissingDataError

    empty, out = tmp_path / "empty", tmp_path / "out"
    empty.mkdir()
    cfg = compose_config("config", *TINY, f"out={out}", f"data_root={tmp_path / 'data'}", f"data_dir={empty}")
    with pytest.raises(MissingDataError, match=r"out1_graph_edges\.txt is missing"):
        run_study(cfg, "test", log=lambda *_: None)
    assert not (out / "provenance.json").exists() and not (out / "results.csv").exists()
