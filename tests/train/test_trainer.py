"""Trainer: early stopping, best-state restore, atomic checkpoints, exact resume, NaN guard."""
import math

import dgl
import pytest
import torch

from dgl_ssm.experiment import seed_everything
from dgl_ssm.models import build_model
from dgl_ssm.report import markdown_table, read_csv
from dgl_ssm.train import (NodeClassificationTask, Trainer, TrainingDiverged, TrainingInterrupted, make_optimizer,
                           make_scheduler)


def toy_graph(n=60, classes=3, seed=0):
    """Two-community-ish random graph whose labels depend on features, with random splits."""
    gen = torch.Generator().manual_seed(seed)
    g = dgl.add_self_loop(dgl.to_bidirected(dgl.rand_graph(n, 4 * n)))
    label = torch.randint(0, classes, (n,), generator=gen)
    g.ndata["feat"] = torch.nn.functional.one_hot(label, classes).float() + 0.5 * torch.randn(n, classes, generator=gen)
    g.ndata["label"] = label
    perm = torch.randperm(n, generator=gen)
    for i, split in enumerate(("train", "val", "test")):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[perm[i * n // 3 : (i + 1) * n // 3]] = True
        g.ndata[f"{split}_mask"] = mask
    return g


def make(seed=0, lr=0.01, layers=3, dropout=0.3):
    seed_everything(seed)
    model = build_model("gcn-ssm", 3, 8, 3, layers, dropout=dropout, block_options={"input_matrix": 0.1})
    opt = make_optimizer(model, "adam", lr=lr)
    return model, opt, make_scheduler(opt, "step", step_size=5)


def test_fit_learns_and_restores_best_state():
    g = toy_graph()
    model, opt, _ = make()
    result = Trainer(model, NodeClassificationTask(g), opt, max_epochs=60, patience=60, progress=False).fit()
    assert result.val["accuracy"] == max(h["val_accuracy"] for h in result.history)
    assert result.history[result.best_epoch]["val_accuracy"] == result.val["accuracy"]
    assert result.test["accuracy"] > 0.5  # chance is 1/3


def test_early_stopping_stops_after_patience():
    g = toy_graph()
    model, opt, _ = make(lr=0.0)  # nothing changes: no improvement after epoch 0
    result = Trainer(model, NodeClassificationTask(g), opt, max_epochs=100, patience=4, progress=False).fit()
    assert result.best_epoch == 0 and result.epochs_run == 5


def test_resume_reproduces_uninterrupted_run(tmp_path):
    g = toy_graph()
    model, opt, sched = make()
    full = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=12, patience=50, progress=False).fit()

    model, opt, sched = make()
    Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=5, patience=50, run_dir=tmp_path, progress=False).fit()
    assert (tmp_path / "checkpoint.pt").is_file() and len(read_csv(tmp_path / "history.csv")) == 5
    # a fresh process would rebuild everything from scratch, with a different RNG state
    model, opt, sched = make(seed=123)
    resumed = Trainer(
        model, NodeClassificationTask(g), opt, sched, max_epochs=12, patience=50, run_dir=tmp_path, resume=True, progress=False
    ).fit()
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert resumed.test == full.test and resumed.best_epoch == full.best_epoch


def test_checkpoint_loads_with_weights_only_and_refuses_foreign_files(tmp_path):
    """Issue 16: torch >= 2.6 loads with weights_only=True by default; the checkpoint holds tensors and plain values."""
    import pickle

    import numpy as np

    from dgl_ssm.train import load_checkpoint

    g = toy_graph()
    model, opt, sched = make()
    Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=2, run_dir=tmp_path, progress=False).fit()
    state = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["format"] == 2 and set(state["rng"]) >= {"torch", "numpy", "python"}
    np.random.seed(5)
    expected = np.random.rand(3)
    np.random.seed(5)
    state = Trainer(model, NodeClassificationTask(g), opt, progress=False).state_dict()
    np.random.rand(7)
    from dgl_ssm.train.trainer import _set_rng_state

    _set_rng_state(state["rng"])
    assert np.array_equal(np.random.rand(3), expected)
    (tmp_path / "old.pt").write_bytes(pickle.dumps({"rng": np.random.get_state()}))
    with pytest.raises(ValueError, match="old.pt is not a dgl_ssm checkpoint of format 2.*delete it"):
        load_checkpoint(tmp_path / "old.pt")
    torch.save({"format": 1}, tmp_path / "v1.pt")
    with pytest.raises(ValueError, match="format 1, this dgl_ssm reads format 2"):
        load_checkpoint(tmp_path / "v1.pt")


def test_ddp_checkpoint_resumes_in_a_single_process(tmp_path):
    """The checkpoint holds the unwrapped module: no 'module.' prefix, so DDP and single-process runs interchange."""
    import torch.distributed as dist

    g = toy_graph()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model, opt, sched = make()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        Trainer(ddp, NodeClassificationTask(g), opt, sched, max_epochs=3, run_dir=tmp_path, progress=False).fit()
    finally:
        dist.destroy_process_group()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state["model"])
    model, opt, sched = make(seed=9)
    resumed = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=5, run_dir=tmp_path, resume=True,
                      progress=False).fit()
    assert resumed.epochs_run == 5 and [h["epoch"] for h in resumed.history] == [0, 1, 2, 3, 4]


def test_nan_loss_stops_with_clear_message(tmp_path):
    g = toy_graph()
    model, opt, _ = make()
    task = NodeClassificationTask(g)
    real_epoch = task.train_epoch
    calls = []

    def flaky(model, optimizer):
        calls.append(1)
        return float("nan") if len(calls) == 4 else real_epoch(model, optimizer)

    task.train_epoch = flaky
    with pytest.raises(TrainingDiverged, match=r"at epoch 3: training loss is nan; last finite state at epoch 2"):
        Trainer(model, task, opt, max_epochs=10, run_dir=tmp_path, progress=False).fit()
    history = read_csv(tmp_path / "history.csv")
    assert [h["epoch"] for h in history] == [0, 1, 2] and all(math.isfinite(h["train_loss"]) for h in history)


def test_missing_node_fields_raise():
    g = toy_graph()
    del g.ndata["val_mask"]
    with pytest.raises(KeyError, match="val_mask"):
        NodeClassificationTask(g)


def test_unknown_optimizer_and_scheduler():
    model, _, _ = make()
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(model, "sgdx")
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler(make_optimizer(model), "warp")


def test_markdown_table_mean_std():
    """Mean ± sample std per cell; a cell with one run shows its value alone (no "± 0.00")."""
    rows = [{"m": "a", "d": 2, "v": 1.0}, {"m": "a", "d": 2, "v": 3.0}, {"m": "b", "d": 4, "v": 2.0}]
    table = " ".join(markdown_table(rows, "m", "d", "v", digits=2).split())  # cells are padded to equal widths
    assert "| a | 2.00 ± 1.41 | – |" in table and "| b | – | 2.00 |" in table


def test_divergence_hidden_by_max_pooling_is_seen_in_the_model_state(tmp_path):
    """Regression (issue 14, defect 1): MaxPooling maps NaN to 0, so the loss of a diverged model stayed finite."""
    from dgl_ssm.data import GraphPropertyDataset, self_loops
    from dgl_ssm.train import GraphTask

    sets = {s: GraphPropertyDataset("diameter", s, root=tmp_path / "data", sizes=(32, 8, 8), pre_transform=self_loops())
            for s in ("train", "val", "test")}
    seed_everything(0)
    with pytest.warns(RuntimeWarning, match="spectral radius of the state transition matrix is 5.0000 > 1"):
        model = build_model("gcn-ssm", 2, 8, 1, 60, activation="tanh", readout="max",
                            block_options={"state_transition": 5.0})
    task = GraphTask.for_datasets(sets, batch_size=16)
    trainer = Trainer(model, task, make_optimizer(model, lr=3e-3), max_epochs=5, patience=5, run_dir=tmp_path / "run",
                      progress=False)
    with pytest.raises(TrainingDiverged, match="is not finite") as info:
        trainer.fit()
    assert info.value.epoch == 0 and "looked finite" in str(info.value)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # no epoch passed the checks: nothing non-finite saved


def test_record_mode_and_checkpoint_of_the_last_finite_validation(tmp_path):
    """Issue 14, defect 2: a diverged cell is a result (status, epoch, last finite loss); the kept state is finite on validation."""
    g = toy_graph()
    model, opt, _ = make()
    task = NodeClassificationTask(g)
    real_eval = task.evaluate
    calls = []

    def flaky(model, splits):
        out = real_eval(model, splits)
        if splits == ("val",):
            calls.append(1)
            if len(calls) == 3:
                out["val"]["loss"] = float("inf")
        return out

    task.evaluate = flaky
    result = Trainer(model, task, opt, max_epochs=10, run_dir=tmp_path, progress=False).fit(on_divergence="record")
    assert result.status == "diverged" and result.diverged_epoch == 2 and "validation loss is inf" in result.divergence
    row = result.summary()
    assert row["status"] == "diverged" and math.isnan(row["test_accuracy"]) and math.isfinite(row["last_finite_loss"])
    state = torch.load(tmp_path / "checkpoint.pt")
    assert state["next_epoch"] == 2 and all(math.isfinite(h["val_loss"]) for h in state["history"])
    with pytest.raises(ValueError, match="on_divergence"):
        Trainer(model, task, opt, max_epochs=1, progress=False).fit(on_divergence="ignore")


def test_tables_show_diverged_cells():
    nan = float("nan")
    rows = [{"m": "a", "d": 2, "v": 1.0, "status": "ok"}, {"m": "a", "d": 2, "v": nan, "status": "diverged"},
            {"m": "b", "d": 2, "v": nan, "status": "diverged"}]
    table = " ".join(markdown_table(rows, "m", "d", "v", digits=1).split())
    assert "| a | 1.0 (1 of 2 diverged) |" in table and "| b | diverged (1 of 1) |" in table


class _Scripted:
    """A task whose validation values follow a script (training does nothing); for the early-stopping rules."""

    metric, higher_is_better = "accuracy", True

    def __init__(self, script):
        self.script, self.i = list(script), 0

    def train_epoch(self, model, optimizer):
        return 1.0

    def evaluate(self, model, splits):
        if splits == ("val",):
            loss, acc = self.script[self.i]
            self.i += 1
            return {"val": {"loss": loss, "accuracy": acc}}
        return {s: {"loss": 0.0, "accuracy": 0.0} for s in splits}


def _gat_oracle(script, patience):
    """The loop of github.com/PetarV-/GAT execute_cora.py, transcribed: (epoch of the kept model, epochs run)."""
    vlss_mn, vacc_mx, curr_step, kept = math.inf, 0.0, 0, None
    for epoch, (loss, acc) in enumerate(script):
        if acc >= vacc_mx or loss <= vlss_mn:
            if acc >= vacc_mx and loss <= vlss_mn:
                kept = epoch
            vacc_mx, vlss_mn, curr_step = max(acc, vacc_mx), min(loss, vlss_mn), 0
        else:
            curr_step += 1
            if curr_step == patience:
                return kept, epoch + 1
    return kept, len(script)


def test_loss_and_metric_monitor_is_the_gat_authors_rule():
    """monitor="loss_and_metric" keeps and stops exactly as the GAT authors' loop does, on random scripts."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    values = st.tuples(st.sampled_from([0.5, 0.6, 0.7, 0.8]), st.sampled_from([0.2, 0.4, 0.6, 0.8]))

    @settings(max_examples=60, deadline=None)
    @given(st.lists(values, min_size=1, max_size=25), st.integers(1, 4))
    def check(script, patience):
        model = torch.nn.Linear(2, 2)
        trainer = Trainer(model, _Scripted(script), torch.optim.SGD(model.parameters(), lr=0.0),
                          max_epochs=len(script), patience=patience, progress=False, monitor="loss_and_metric")
        result = trainer.fit()
        assert (result.best_epoch, result.epochs_run) == _gat_oracle(script, patience)

    check()
    with pytest.raises(ValueError, match="loss_and_metric"):
        Trainer(torch.nn.Linear(2, 2), _Scripted([]), None, monitor="both")


def test_checkpoint_interval(tmp_path):
    """checkpoint_every_s: at most one checkpoint per interval (0: every epoch); a negative value is refused."""
    g = toy_graph()
    model, opt, _ = make()
    Trainer(model, NodeClassificationTask(g), opt, max_epochs=3, run_dir=tmp_path / "hourly", checkpoint_every_s=3600,
            progress=False).fit()
    assert not (tmp_path / "hourly" / "checkpoint.pt").exists()
    Trainer(model, NodeClassificationTask(g), opt, max_epochs=3, run_dir=tmp_path / "every", progress=False).fit()
    assert len(read_csv(tmp_path / "every" / "history.csv")) == 3
    with pytest.raises(ValueError, match="checkpoint_every_s must be >= 0"):
        Trainer(model, NodeClassificationTask(g), opt, checkpoint_every_s=-1)



@pytest.mark.parametrize("given", [{"resume": True}, {"checkpoint_every_s": 60.0}, {"identity": "cell-0"},
                                   {"resume": True, "identity": "cell-0"}])
def test_checkpoint_settings_without_a_run_dir_are_refused(given):
    """Without a run_dir there is no checkpoint to resume, space out or name: the settings would be ignored."""
    g = toy_graph()
    model, opt, _ = make()
    with pytest.raises(ValueError, match=f"Trainer: {', '.join(given)} concern the checkpoint in run_dir, and run_dir "
                                         "is None"):
        Trainer(model, NodeClassificationTask(g), opt, progress=False, **given)


def test_stop_request_checkpoints_the_epoch_and_resume_is_exact(tmp_path):
    """should_stop: the run stops after the epoch it first gives a reason, writes that epoch's checkpoint whatever
    checkpoint_every_s says, and a resumed run ends exactly as an uninterrupted one; a reason after the last epoch
    changes nothing."""
    g = toy_graph()
    model, opt, sched = make()
    full = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=9, patience=50, progress=False).fit()

    asked = []
    model, opt, sched = make()
    trainer = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=9, patience=50, run_dir=tmp_path,
                      progress=False, checkpoint_every_s=3600,
                      should_stop=lambda: asked.append(1) or ("time limit reached" if len(asked) == 4 else None))
    with pytest.raises(TrainingInterrupted, match="stopped after epoch 3: time limit reached") as err:
        trainer.fit()
    assert err.value.next_epoch == 4 and err.value.reason == "time limit reached"
    assert len(read_csv(tmp_path / "history.csv")) == 4 and (tmp_path / "checkpoint.pt").is_file()
    model, opt, sched = make(seed=7)
    resumed = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=9, patience=50, run_dir=tmp_path,
                      resume=True, progress=False).fit()
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert resumed.test == full.test and resumed.best_epoch == full.best_epoch

    model, opt, _ = make(lr=0.0)  # no improvement after epoch 0: patience 2 ends the run after epoch 2
    for max_epochs, patience in ((1, 50), (50, 2)):
        asked.clear()
        last = min(max_epochs, patience + 1)  # reasons come only after the run's last epoch
        result = Trainer(model, NodeClassificationTask(g), opt, max_epochs=max_epochs, patience=patience, progress=False,
                         should_stop=lambda: asked.append(1) or ("too late" if len(asked) == last else None)).fit()
        assert result.epochs_run == last and len(asked) == last


def test_cpu_time_excludes_a_pause_and_is_unknown_after_an_older_checkpoint(tmp_path):
    """An epoch's wall-clock time counts a paused process (SIGSTOP) or a wait; its CPU time does not, so the record's
    ``train_cpu_s`` is what an epoch costs. A run resumed from a checkpoint without CPU times says it has none."""
    import time

    g = toy_graph()
    model, opt, sched = make()
    task = NodeClassificationTask(g)
    real_eval, pause = task.evaluate, 0.3

    def paused(model, splits):
        if splits == ("val",) and len(calls) == 1:
            time.sleep(pause)  # the process waits: wall-clock time passes, no CPU time does
        calls.append(1)
        return real_eval(model, splits)

    calls = []
    task.evaluate = paused
    result = Trainer(model, task, opt, sched, max_epochs=3, patience=50, run_dir=tmp_path, progress=False).fit()
    epoch = result.history[1]
    assert epoch["time_s"] >= pause > epoch["cpu_s"] + 0.1
    assert result.train_cpu_s == pytest.approx(sum(h["cpu_s"] for h in result.history))
    assert result.summary()["train_cpu_s"] == round(result.train_cpu_s, 3) < result.train_time_s
    assert "cpu_s" in read_csv(tmp_path / "history.csv")[0]

    state = torch.load(tmp_path / "checkpoint.pt")  # as a checkpoint written before CPU time was recorded
    state["history"] = [{k: v for k, v in h.items() if k != "cpu_s"} for h in state["history"]]
    torch.save(state, tmp_path / "checkpoint.pt")
    model, opt, sched = make()
    resumed = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=5, patience=50, run_dir=tmp_path,
                      resume=True, progress=False).fit()
    assert "cpu_s" in resumed.history[-1] and resumed.train_cpu_s is None and resumed.summary()["train_cpu_s"] is None


def test_flush_to_zero_holds_during_fit_only(tmp_path):
    """denormals='flush': a subnormal float32 operand is 0 inside fit (every epoch, on_epoch_end included) and IEEE
    again after it, also when fit raises; more than one intra-op thread is refused when fit starts; a checkpoint of
    the other mode is refused; one written before the option resumes as 'ieee'."""
    tiny = torch.tensor([1e-39])  # subnormal in float32
    seen = []
    g = toy_graph()
    model, opt, sched = make()
    trainer = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=3, patience=50, run_dir=tmp_path,
                      progress=False, denormals="flush", on_epoch_end=lambda e, r: seen.append((tiny * 1.0).item()))
    trainer.fit()
    assert seen == [0.0, 0.0, 0.0] and (tiny * 1.0).item() > 0
    assert torch.load(tmp_path / "checkpoint.pt")["denormals"] == "flush"

    model, opt, sched = make()
    with pytest.raises(ValueError, match="denormals='flush'.*denormals='ieee'"):
        Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=4, run_dir=tmp_path, resume=True,
                progress=False).fit()
    assert (tiny * 1.0).item() > 0

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="reaches only the calling thread.*runs 2 intra-op threads"):
            Trainer(model, NodeClassificationTask(g), opt, max_epochs=1, progress=False, denormals="flush").fit()
    finally:
        torch.set_num_threads(before)
    class Dies(_Scripted):
        def train_epoch(self, model, optimizer):
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        Trainer(model, Dies([]), opt, max_epochs=2, progress=False, denormals="flush").fit()
    assert (tiny * 1.0).item() > 0, "fit left flush-to-zero on after it raised"
    with pytest.raises(ValueError, match="denormals must be one of ieee, flush, got 'ftz'"):
        Trainer(model, NodeClassificationTask(g), opt, progress=False, denormals="ftz")

    state = torch.load(tmp_path / "checkpoint.pt")  # as written before the option, at IEEE arithmetic
    del state["denormals"]
    torch.save(state, tmp_path / "checkpoint.pt")
    model, opt, sched = make()
    resumed = Trainer(model, NodeClassificationTask(g), opt, sched, max_epochs=4, patience=50, run_dir=tmp_path,
                      resume=True, progress=False).fit()
    assert resumed.epochs_run == 4
