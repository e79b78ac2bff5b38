"""Graph-level training: metrics, losses, GraphTask batching, exact resume, the ring study, DDP."""
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

from dgl_ssm.data import GraphPropertyDataset, RingTransferDataset, self_loops
from dgl_ssm.models import build_model
from dgl_ssm.train.graph import GraphTask
from dgl_ssm.train.metrics import AveragePrecision, Accuracy, Log10MSE, MAE, make_loss, make_metric
from dgl_ssm.train.trainer import Trainer, make_optimizer

ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")


def property_sets(tmp_path, task="sssp", sizes=(64, 16, 16)):
    return {s: GraphPropertyDataset(task, s, root=tmp_path, sizes=sizes, pre_transform=self_loops()) for s in SPLITS}


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
    task = GraphTask.for_datasets(sets, batch_size=8)
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


def test_ddp_without_a_process_group_is_refused():
    """ddp=True outside torchrun would train every graph in this one process: the sharding asked for, not done."""
    rings = {s: RingTransferDataset(6, num_graphs=40, num_classes=3, split=s) for s in SPLITS}
    with pytest.raises(ValueError, match=r"GraphTask\(ddp=True\) needs an initialized process group"):
        GraphTask.for_datasets(rings, batch_size=8, ddp=True)


def test_graph_level_training_reduces_loss(tmp_path):
    sets = property_sets(tmp_path, "diameter")
    torch.manual_seed(0)
    model = build_model("gcn-ssm", 2, 16, 1, 4, activation="tanh", readout="max")
    task = GraphTask.for_datasets(sets, batch_size=16)
    opt = make_optimizer(model, lr=3e-3)
    losses = [task.train_epoch(model, opt) for _ in range(8)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert set(task.evaluate(model, ("val", "test"))["test"]) == {"loss", "log10_mse"}


def test_batches_gathered_by_position_train_exactly_as_per_item_dgl_batch(tmp_path):
    """GraphTask gathers batches with ``collate_positions`` when the dataset has it: the same shuffles and the same
    numbers as GraphDataLoader over the items with ``dgl.batch``."""

    class Items:  # the datasets' item interface only: GraphTask falls back to collate (dgl.batch)
        def __init__(self, ds):
            self.ds, self.collate = ds, ds.collate

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            return self.ds[i]

    sets = property_sets(tmp_path)
    losses = []
    for wrap in (lambda d: d, Items):
        torch.manual_seed(0)
        model = build_model("gcn-ssm", 2, 8, 1, 3, activation="tanh")
        task = GraphTask({s: wrap(d) for s, d in sets.items()}, loss="mse", metric="log10_mse", batch_size=16)
        opt = make_optimizer(model, lr=3e-3)
        losses.append([task.train_epoch(model, opt) for _ in range(3)] + [task.evaluate(model, ("val", "test"))])
    assert losses[0] == losses[1]


def test_freed_memory_is_released_on_schedule_without_changing_the_numbers(tmp_path, monkeypatch):
    """GraphTask returns freed heap pages every ``release_memory_every`` steps and after each pass (glibc heap
    fragmentation on batches of varying size); the losses are bit-identical with and without."""
    import dgl_ssm.train.graph as graph_module
    from dgl_ssm.runtime import release_freed_memory

    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not a glibc system
        libc = ""
    assert release_freed_memory() is libc.startswith("glibc")
    sets = property_sets(tmp_path, "diameter")  # 64 training graphs: 4 steps of 16
    calls = []
    monkeypatch.setattr(graph_module, "release_freed_memory", lambda: calls.append(1) or True)
    losses = {}
    for every in (0, 2):
        torch.manual_seed(0)
        model = build_model("gcn-ssm", 2, 8, 1, 3, activation="tanh", readout="max")
        task = GraphTask.for_datasets(sets, batch_size=16, release_memory_every=every)
        opt = make_optimizer(model, lr=3e-3)
        calls.clear()
        torch.manual_seed(1)
        losses[every] = [task.train_epoch(model, opt) for _ in range(2)]
        trained = len(calls)
        task.evaluate(model, ("val", "test"))
        assert (trained, len(calls) - trained) == ((0, 0) if every == 0 else (2 * (2 + 1), 1))
    assert losses[0] == losses[2]
    with pytest.raises(ValueError, match="release_memory_every must be >= 0"):
        GraphTask.for_datasets(sets, release_memory_every=-1)


class Interrupt(Exception):
    pass


def _fit(sets, run_dir, stop_at=None, resume=False):
    torch.manual_seed(0)
    model = build_model("gcn-ssm", 2, 8, 1, 3, activation="tanh", dropout=0.1)
    task = GraphTask.for_datasets(sets, batch_size=16)

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


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


GRAPH_TINY = ["study=graphprop_quick", "study.datasets=[diameter]", "study.settings=[3]", "study.sizes=[128,32,32]",
              "study.train.epochs=6", "study.train.batch_size=16", "study.train.hidden=16", "~study.models.gcn",
              "~study.models.gcn_ssm_eig1", "~study.models.kgcn_ssm", "~study.models.drew_gcn", "~study.models.drew_gcn_delay"]


def test_ring_study_smoke(tmp_path, compose_config):
    """RingTransfer through the study engine: ring size n -> n // 2 layers, checkpoints and histories per cell."""
    from dgl_ssm.studies import run_study

    cfg = compose_config("config", *["study=ring_quick", "study.settings=[4,6]", "study.ring_graphs=40",
                                           "study.train.epochs=2", "study.train.hidden=8", "~study.models.gcn",
                                           "~study.models.gcn_ssm_l050", "~study.models.gcn_ssm_l075", "~study.models.kgcn_ssm",
                                           f"out={tmp_path / 'run'}", f"data_root={tmp_path / 'data'}"])
    rows, _ = run_study(cfg, "t", log=lambda *_: None)
    assert [(r["ring_size"], r["epochs_run"]) for r in rows] == [(4, 2), (6, 2)]
    assert len(_rows(tmp_path / "run" / "histories" / "gcn_ssm_l100-ring-4-0.csv")) == 2
    assert (tmp_path / "run" / "test_accuracy_ring.png").stat().st_size > 0
    # one setting: the plot is the validation metric per epoch of each row (from histories/), not a single dot
    one = compose_config("config", "study=ring_quick", "study.settings=[4]", "study.ring_graphs=40", "study.train.epochs=2",
                         "study.train.hidden=8", "~study.models.gcn", "~study.models.gcn_ssm_l050", "~study.models.gcn_ssm_l075",
                         "~study.models.kgcn_ssm", f"out={tmp_path / 'one'}", f"data_root={tmp_path / 'data'}")
    run_study(one, "t", log=lambda *_: None)
    assert (tmp_path / "one" / "validation_curves_ring.png").stat().st_size > 0
    assert not (tmp_path / "one" / "test_accuracy_ring.png").exists()


def free_port() -> int:
    """A TCP port nobody listens on now (a fixed port collides with a concurrent run of the suite)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_cpu_processes_converge_and_write_once(tmp_path):
    """torchrun -m dgl_ssm.studies: 2 gloo ranks train each cell together; only rank 0 records and logs."""
    out = tmp_path / "run"
    # every tensor handed to a collective must live on the process's device (NCCL rejects CPU tensors)
    script = tmp_path / "checked_study.py"
    script.write_text(
        "import os, sys, torch, torch.distributed as dist\n"
        "real = dist.all_reduce\n"
        "def checked(tensor, *args, **kwargs):\n"
        "    assert tensor.device == torch.device(os.environ['EXPECTED_DEVICE']), tensor.device\n"
        "    open(os.environ['COLLECTIVES_LOG'] + os.environ['RANK'], 'a').write(str(tensor.device) + '\\n')\n"
        "    return real(tensor, *args, **kwargs)\n"
        "dist.all_reduce = checked\n"
        "from dgl_ssm.studies.__main__ import main\n"
        "sys.argv[0] = 'dgl_ssm.studies'\n"
        "main()\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(script), *GRAPH_TINY, f"out={out}", f"data_root={tmp_path / 'data'}", "device=cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "EXPECTED_DEVICE": "cpu",
                                 "COLLECTIVES_LOG": str(tmp_path / "collectives")})
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:  # kill the whole session: a hung rank must not outlive the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.count("| model \\ layers ") == 1, "only rank 0 may write the table"
    for rank in (0, 1):  # losses of every epoch and split went through all_reduce on the model's device
        assert set((tmp_path / f"collectives{rank}").read_text().split()) == {"cpu"}
    history = _rows(out / "histories" / "gcn_ssm-diameter-3-0.csv")
    losses = [float(r["train_loss"]) for r in history]
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    assert len(_rows(out / "results.csv")) == 1
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "a temporary file was left behind"
