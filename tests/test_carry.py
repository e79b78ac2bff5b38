"""tools/carry_study.sh (`make carry`): a study's record, its running cells' checkpoints and its recorded cells' kept
models go from the workers' worktree into the committing checkout, staged; a recorded cell's carried checkpoint is
removed; a running sitting is refused before anything is copied, except by ``--recorded``, which carries only the
recorded cells."""
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "carry_study.sh"

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("flock") is None,
                                reason="needs git and flock (util-linux)")


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def checkout(tmp_path):
    """A committing checkout with the project's .gitignore, a record and a carried checkpoint of cell ``a``."""
    repo = tmp_path / "main"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    study = repo / "results" / "st"
    _write(study / "provenance.json", '{"sittings": [1]}')
    _write(study / "results.csv", "model\n")
    _write(study / ".checkpoints" / "a-1" / "checkpoint.pt", "epoch 5")
    _write(study / ".checkpoints" / "a-1" / "history.csv", "epoch\n5\n")
    _git(repo, "add", ".")
    _git(repo, "add", "-f", "results/st/.checkpoints")
    _git(repo, "commit", "-qm", "start")
    return repo


def _worktree(tmp_path):
    """What the workers left: cell ``a`` recorded (its checkpoint deleted by the engine), cell ``b`` running."""
    run = tmp_path / "run" / "results" / "st"
    _write(run / "provenance.json", '{"sittings": [1, 2]}')
    _write(run / "results.csv", "model\na\n")
    _write(run / "histories" / "a-0.csv", "epoch\n")
    _write(run / ".checkpoints" / "b-2" / "checkpoint.pt", "epoch 9")
    _write(run / ".checkpoints" / "b-2" / "history.csv", "epoch\n9\n")
    _write(run / ".models" / "a-0.pt", "model")
    _write(run / ".lock", "")
    return run


def _carry(repo, *args):
    return subprocess.run([str(SCRIPT), *args], cwd=repo, capture_output=True, text=True, timeout=60)


def test_carry_stages_the_record_and_replaces_the_checkpoints(tmp_path, checkout):
    _worktree(tmp_path)
    proc = _carry(checkout, str(tmp_path / "run"), "st")
    assert proc.returncode == 0, proc.stderr
    staged = dict(line.split("\t")[::-1] for line in _git(checkout, "diff", "--cached", "--no-renames", "--name-status").splitlines())
    assert staged == {
        "results/st/provenance.json": "M", "results/st/results.csv": "M", "results/st/histories/a-0.csv": "A",
        "results/st/.checkpoints/b-2/checkpoint.pt": "A", "results/st/.checkpoints/b-2/history.csv": "A",
        "results/st/.checkpoints/a-1/checkpoint.pt": "D", "results/st/.checkpoints/a-1/history.csv": "D",
        "results/st/.models/a-0.pt": "A"}  # the recorded cell's trained model, for a diagnostic in a later sitting
    assert (checkout / "results" / "st" / ".models" / "a-0.pt").read_text() == "model"
    assert not (checkout / "results" / "st" / ".lock").exists()
    assert json.loads((checkout / "results" / "st" / "provenance.json").read_text()) == {"sittings": [1, 2]}


def test_carry_leaves_the_empty_table_of_a_record_without_rows(tmp_path, checkout):
    """Before its first cell is recorded, a study's sittings leave provenance.json and a results.md of no rows."""
    run = tmp_path / "run" / "results" / "st"
    _write(run / "provenance.json", '{"sittings": [1, 2]}')
    _write(run / "results.md", "mean ± std over 0 seeds ()")
    _write(run / ".checkpoints" / "a-1" / "checkpoint.pt", "epoch 7")
    _write(run / ".checkpoints" / "a-1" / "history.csv", "epoch\n7\n")
    (checkout / "results" / "st" / "results.csv").unlink()
    _git(checkout, "commit", "-qam", "no rows yet")
    assert _carry(checkout, str(tmp_path / "run"), "st").returncode == 0
    staged = _git(checkout, "diff", "--cached", "--no-renames", "--name-only").split()
    assert sorted(staged) == ["results/st/.checkpoints/a-1/checkpoint.pt", "results/st/.checkpoints/a-1/history.csv",
                              "results/st/provenance.json"]
    assert not (checkout / "results" / "st" / "results.md").exists()


def test_carry_refuses_while_a_sitting_runs_and_copies_nothing(tmp_path, checkout):
    run = _worktree(tmp_path)
    announcement = _write(run / ".sittings" / "4242-1.json", json.dumps({"pid": 4242, "command": "x"}))
    with open(announcement) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running sitting holds it (dgl_ssm.studies.record)
        proc = _carry(checkout, str(tmp_path / "run"), "st")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: a sitting (pid 4242) still runs in {run}; stop it first: kill -TERM 4242 (it finishes its epoch and "
        "prints a stopped: line), then rerun"]
    assert _git(checkout, "status", "--porcelain") == "" and (checkout / "results/st/results.csv").read_text() == "model\n"
    # the sitting ended (its lock released, its announcement left behind as a killed one's is): carried
    assert _carry(checkout, str(tmp_path / "run"), "st").returncode == 0


def test_carry_recorded_takes_the_finished_cells_while_a_sitting_runs(tmp_path, checkout):
    """``--recorded``: cell ``a`` recorded, its carried checkpoint removed and its model kept; cell ``b``'s carried
    checkpoint stays as committed (its in-flight copy there is of an epoch ago), and a cell begun since is not taken."""
    run = _worktree(tmp_path)
    _write(checkout / "results" / "st" / ".checkpoints" / "b-2" / "checkpoint.pt", "epoch 3")
    _git(checkout, "add", "-f", "results/st/.checkpoints/b-2")
    _git(checkout, "commit", "-qm", "b carried at epoch 3")
    _write(run / ".checkpoints" / "c-3" / "checkpoint.pt", "epoch 1")
    announcement = _write(run / ".sittings" / "4242-1.json", json.dumps({"pid": 4242, "command": "x"}))
    with open(announcement) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _carry(checkout, "--recorded", str(tmp_path / "run"), "st")
    assert proc.returncode == 0, proc.stderr
    assert "make carry RUN=" in proc.stdout.splitlines()[-1]
    staged = dict(line.split("\t")[::-1] for line in _git(checkout, "diff", "--cached", "--no-renames", "--name-status").splitlines())
    assert staged == {
        "results/st/provenance.json": "M", "results/st/results.csv": "M", "results/st/histories/a-0.csv": "A",
        "results/st/.checkpoints/a-1/checkpoint.pt": "D", "results/st/.checkpoints/a-1/history.csv": "D",
        "results/st/.models/a-0.pt": "A"}
    assert (checkout / "results/st/.checkpoints/b-2/checkpoint.pt").read_text() == "epoch 3"
    assert not (checkout / "results/st/.checkpoints/c-3").exists()
    unstaged = [line for line in _git(checkout, "status", "--porcelain", "--ignored", "--no-renames").splitlines()
                if line[1] != " "]
    assert unstaged == []


@pytest.mark.parametrize("args, message", [
    ((), "usage: tools/carry_study.sh [--recorded] RUN [STUDY]"),
    (("--recorded",), "usage: tools/carry_study.sh [--recorded] RUN [STUDY]"),
    (("nowhere", "st"), "nowhere/results/st is not a study folder"),
])
def test_carry_errors_are_one_line(checkout, args, message):
    proc = _carry(checkout, *args)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    assert _git(checkout, "status", "--porcelain") == ""


def test_make_carry_needs_run(checkout):
    if shutil.which("make") is None:
        pytest.skip("no make")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), "carry"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "RUN": ""})
    assert proc.returncode != 0 and "error: make carry needs RUN=" in proc.stderr


def test_make_carry_refuses_an_unknown_recorded_value(checkout):
    """``RECORDED=yes`` is not silently read as a full carry (nor as 1): it is refused, naming the values it takes."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), "carry", "RUN=nowhere", "RECORDED=yes"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and proc.stderr.splitlines()[0] == \
        "error: RECORDED=yes: give RECORDED=1 (only the recorded cells) or leave it out"
