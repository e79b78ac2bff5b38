"""Graph-level training: metrics, losses, GraphTask batching, exact resume, recipes, DDP."""
import contextlib
import csv
import math
import os
import subprocess
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from dgl_ssm.data import GraphPropertyDataset, RingTransferDataset
from dgl_ssm.models import build_model
from dgl_ssm.train.graph import GraphTask
from dgl_ssm.train.metrics import AveragePrecision, Accuracy, Log10MSE, MAE, make_loss, make_metric
from dgl_ssm.train.trainer import Trainer, make_optimizer

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "val", "test")


def property_sets(tmp_path, task="sssp", sizes=(64, 16, 16)):
    return {s: GraphPropertyDataset(task, s, root=tmp_path, sizes=sizes) for s in SPLITS}


def test_metrics_against_references():
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(50, 3)), (rng.random((50, 3)) < 0.3).astype(float)
    y[:, 2] = 0  # no positive: skipped, as in LRGB
    ap = AveragePrecision()
    ap.update(torch.tensor(logits[:20]), torch.tensor(y[:20]))
    ap.update(torch.tensor(logits[20:]), torch.tensor(y[20:]))
    expected = np.mean([average_precision_score(y[:, t], logits[:, t]) for t in range(2)])
    assert ap.compute() == pytest.approx(expected)
    m = Log10MSE()
    m.update(torch.zeros(3, 1), torch.full((3, 1), 0.01))
    assert m.compute() == pytest.approx(-4.0)
    acc = Accuracy()
    acc.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    assert acc.compute() == 0.5 and acc.better(0.6, 0.5) and not Log10MSE().better(-1.0, -2.0)
    mae = MAE()
    mae.update(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
    assert mae.compute() == 1.5
    assert make_loss("bce")(torch.zeros(2, 2), torch.tensor([[1.0, float("nan")], [0.0, 1.0]])) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="known: accuracy, ap, log10_mse, mae"):
        make_metric("auroc")
    with pytest.raises(ValueError, match="known: bce, ce, l1, mse"):
        make_loss("hinge")


def test_node_level_targets_and_ring_node0_selection(tmp_path):
    sets = property_sets(tmp_path)
    task = GraphTask.for_datasets(sets, batch_size=8, self_loop=True)
    batch = next(iter(task.train_loader))
    pred, target = task.predict(lambda g, x: x[:, :1] * 0 + g.in_degrees().float().unsqueeze(1), batch)
    assert pred.shape == target.shape == (batch[0].num_nodes(), 1)
    assert pred.min() >= 2, "self-loops were not added"  # no isolated node + a self-loop
    rings = {s: RingTransferDataset(6, num_graphs=40, num_classes=3, split=s) for s in SPLITS}
    task = GraphTask.for_datasets(rings, batch_size=8)
    bg, y = next(iter(task.train_loader))
    pred, target = task.predict(lambda g, x: x, (bg, y))
    assert pred.shape == (8, 3) and target.shape == (8,)
    assert pred.abs().sum() == 0, "the outputs at node 0 (all-zero features) must be selected"
    model = build_model("gcn", 3, 8, 3, 3)  # node-level model, trained through the node-0 readout
    opt = make_optimizer(model, lr=0.01)
    assert math.isfinite(task.train_epoch(model, opt)) and 0 <= task.evaluate(model)["val"]["accuracy"] <= 1


def test_graph_level_training_reduces_loss(tmp_path):
    sets = property_sets(tmp_path, "diameter")
    torch.manual_seed(0)
    model = build_model("gcn-ssm", 2, 16, 1, 4, activation="tanh", readout="max")
    task = GraphTask.for_datasets(sets, batch_size=16, self_loop=True)
    opt = make_optimizer(model, lr=3e-3)
    losses = [task.train_epoch(model, opt) for _ in range(8)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert set(task.evaluate(model, ("val", "test"))["test"]) == {"loss", "log10_mse"}


class Interrupt(Exception):
    pass


def _fit(sets, run_dir, stop_at=None, resume=False):
    torch.manual_seed(0)
    model = build_model("gcn-ssm", 2, 8, 1, 3, activation="tanh", dropout=0.1)
    task = GraphTask.for_datasets(sets, batch_size=16, self_loop=True)

    def interrupt(epoch, record):
        if epoch == stop_at:
            raise Interrupt

    trainer = Trainer(model, task, make_optimizer(model, lr=3e-3), max_epochs=6, patience=6, run_dir=run_dir,
                      resume=resume, progress=False, on_epoch_end=interrupt if stop_at is not None else None)
    return trainer.fit()


def test_resume_of_interrupted_graph_run_gives_same_metrics(tmp_path):
    sets = property_sets(tmp_path / "data", sizes=(48, 16, 16))
    full = _fit(sets, tmp_path / "full")
    with pytest.raises(Interrupt):
        _fit(sets, tmp_path / "cut", stop_at=2)
    torch.manual_seed(123)  # a fresh process would not share the RNG state
    resumed = _fit(sets, tmp_path / "cut", resume=True)
    assert resumed.test == full.test and resumed.val == full.val and resumed.best_epoch == full.best_epoch
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]


def _recipe(name):
    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_graph_regression_recipe_smoke_with_config(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("layers: 2\nhidden: 8\nepochs: 3\nbatch-size: 32\n")
    out = tmp_path / "run"
    argv = ["--task", "eccentricity", "--sizes", "32", "8", "8", "--models", "gcn", "gcn-ssm", "--config", str(config),
            "--epochs", "2", "--state-transition", "0.9", "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress"]
    rows = _recipe("graph_regression").main(argv)
    assert [r["model"] for r in rows] == ["gcn", "gcn-ssm"] and all(r["epochs_run"] == 2 for r in rows)  # flag beats config
    assert rows[0]["params"] == 2 * (8 * 8 + 8) + (2 * 8 + 8) + (8 + 1)  # layers and hidden from the config
    assert len(_rows(out / "results.csv")) == 2
    assert "| model | eccentricity |" in (out / "summary.md").read_text() and (out / "loss_curves.png").stat().st_size > 0 and (out / "log10_mse_curves.png").is_file()
    assert (out / "gcn-ssm-seed0" / "checkpoint.pt").is_file()
    (tmp_path / "bad.yaml").write_text("hiden: 3\n")
    with pytest.raises(SystemExit):
        _recipe("graph_regression").main(["--config", str(tmp_path / "bad.yaml"), "--out", str(out)])


def test_ring_transfer_recipe_smoke(tmp_path):
    out = tmp_path / "run"
    rows = _recipe("ring_transfer").main(["--ring-sizes", "4", "6", "--num-graphs", "40", "--models", "gcn-ssm", "--epochs", "2",
                                          "--hidden", "8", "--out", str(out), "--data-root", str(tmp_path), "--no-progress"])
    assert [(r["ring_size"], r["layers"]) for r in rows] == [(4, 2), (6, 3)]
    assert (out / "accuracy_vs_size.png").stat().st_size > 0 and len(_rows(out / "results.csv")) == 2


@pytest.mark.parametrize("recipe", ["graph_regression", "ring_transfer"])
def test_unknown_model_is_one_clear_line(tmp_path, recipe):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / f"{recipe}.py"), "--models", "gnc", "--epochs", "1", "--out", str(tmp_path / "o"),
         "--data-root", str(tmp_path), "--sizes" if recipe == "graph_regression" else "--num-graphs", *(["16", "4", "4"] if recipe == "graph_regression" else ["20"])],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: unknown model 'gnc'; known:") and "gcn-ssm" in last and "Traceback" not in proc.stderr


@pytest.mark.slow
def free_port() -> int:
    """A TCP port nobody listens on now (a fixed port collides with a concurrent run of the suite)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_cpu_processes_converge_and_write_once(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "recipes" / "graph_regression.py"), "--task", "diameter", "--sizes", "128", "32", "32", "--models", "gcn-ssm",
           "--layers", "3", "--hidden", "16", "--epochs", "6", "--batch-size", "16", "--data-root", str(tmp_path / "data"),
           "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:  # kill the whole session: a hung rank must not outlive the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.count("parameters (hidden") == 1, "only rank 0 may log"
    history = _rows(out / "gcn-ssm-seed0" / "history.csv")
    losses = [float(r["train_loss"]) for r in history]
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    assert len(_rows(out / "results.csv")) == 1
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "a temporary file was left behind"
