"""One training loop for every recipe: early stopping, best-state restore, atomic checkpoints, exact resume."""
from __future__ import annotations

import copy
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from .._io import atomic_write, write_csv
from ..runtime import warn_if_slow
from .denormals import check_denormals, denormal_mode
from .precision import Precision

__all__ = ["Task", "Trainer", "FitResult", "TrainingDiverged", "make_optimizer", "make_scheduler", "load_checkpoint", "unwrap",
           "history_cpu_seconds", "history_epoch_seconds"]


#: what early stopping can watch (:class:`Trainer` ``monitor``)
MONITORS = ("metric", "loss", "loss_and_metric")

class TrainingDiverged(RuntimeError):
    """Training diverged: a non-finite training or validation loss, or non-finite parameters, buffers or gradients.

    The message names the epoch, what was non-finite and the last finite
    training loss; the same facts are attributes.

    Attributes
    ----------
    epoch : int
        The epoch (0-based) in which the divergence was seen.
    last_finite_epoch : int or None
        The last epoch whose model state and validation loss were finite (its
        checkpoint is the one on disk), ``None`` if there was none.
    last_finite_loss : float or None
        Its training loss.
    reason : str
        What was non-finite.
    """

    def __init__(self, message: str, epoch: int = -1, last_finite_epoch=None, last_finite_loss=None, reason: str = ""):
        super().__init__(message)
        self.epoch, self.last_finite_epoch, self.last_finite_loss, self.reason = epoch, last_finite_epoch, last_finite_loss, reason


class TrainingInterrupted(RuntimeError):
    """Training stopped on request (``Trainer(should_stop=...)``: a time limit, a signal) at the end of an epoch.

    The checkpoint of that epoch is on disk (with ``run_dir``), so a :class:`Trainer` with ``resume=True`` continues
    the run exactly, as if it had never stopped.

    Attributes
    ----------
    next_epoch : int
        The epoch (0-based) the resumed run starts with.
    reason : str
        Why it stopped, as ``should_stop`` returned it.
    """

    def __init__(self, message: str, next_epoch: int, reason: str):
        super().__init__(message)
        self.next_epoch, self.reason = next_epoch, reason


class Task(Protocol):
    """What the :class:`Trainer` needs from a task (node classification, graph regression, ...).

    Attributes
    ----------
    metric : str
        Name of the model-selection metric (e.g. ``"accuracy"``, ``"log10_mse"``).
    higher_is_better : bool
        Direction of ``metric``.

    Examples
    --------
    A task of one's own (node regression with the mean squared error) needs no base class: the two methods and the
    two attributes.

    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> class NodeRegression:
    ...     metric, higher_is_better = "mse", False
    ...     def __init__(self, graph, target):
    ...         self.graph, self.target = graph, target
    ...     def train_epoch(self, model, optimizer):
    ...         model.train()
    ...         optimizer.zero_grad()
    ...         loss = torch.nn.functional.mse_loss(model(self.graph, self.graph.ndata["feat"]), self.target)
    ...         loss.backward()
    ...         optimizer.step()
    ...         return loss.item()
    ...     @torch.no_grad()
    ...     def evaluate(self, model, splits):
    ...         model.eval()
    ...         mse = torch.nn.functional.mse_loss(model(self.graph, self.graph.ndata["feat"]), self.target).item()
    ...         return {split: {"loss": mse, "mse": mse} for split in splits}   # one graph for every split here
    >>> g = dgl.add_self_loop(dgl.rand_graph(20, 60))
    >>> g.ndata["feat"] = torch.randn(20, 4)
    >>> model = build_model("gcn-ssm", 4, 8, 1, num_layers=2)
    >>> task = NodeRegression(g, g.ndata["feat"][:, :1])
    >>> result = Trainer(model, task, make_optimizer(model, lr=0.01), max_epochs=5, progress=False).fit()
    >>> result.epochs_run, sorted(result.test)
    (5, ['loss', 'mse'])
    """

    metric: str
    higher_is_better: bool

    def train_epoch(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> float:
        """One epoch of optimisation; returns the mean training loss."""

    def evaluate(self, model: torch.nn.Module, splits: tuple) -> Dict[str, Dict[str, float]]:
        """``{split: {"loss": ..., metric: ...}}`` for each split name in ``splits`` (``"val"``, ``"test"``, ...)."""


def make_optimizer(model: torch.nn.Module, name: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                   weight_decay_groups: Optional[Dict[str, float]] = None):
    """``"adam"`` or ``"adamw"`` over the trainable parameters, with per-group weight decay.

    Parameters
    ----------
    model : torch.nn.Module
    name : str
        ``"adam"`` or ``"adamw"``.
    lr : float
    weight_decay : float
        L2 penalty (Adam) of every parameter outside ``weight_decay_groups``.
    weight_decay_groups : dict, optional
        ``{name prefix: weight decay}``: parameters whose name starts with the
        prefix (``"layers"``, ``"layers.0."``) get that decay; the longest
        matching prefix wins. GCNII's authors use ``{"layers": 0.01}`` with
        ``weight_decay=5e-4``; Kipf & Welling decay only the first layer
        (``{"layers.0.": 5e-4}`` with ``weight_decay=0``).

    Raises
    ------
    ValueError
        On an unknown optimizer, or a prefix that matches no parameter (a typo would silently decay nothing).

    Examples
    --------
    >>> from dgl_ssm.models import build_model
    >>> opt = make_optimizer(build_model("kipf-gcn", 5, 4, 3, 2), lr=0.01, weight_decay_groups={"layers.0.": 5e-4})
    >>> [(g["weight_decay"], len(g["params"])) for g in opt.param_groups]
    [(0.0, 2), (0.0005, 2)]
    """
    table = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if name not in table:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(table)}")
    groups = dict(weight_decay_groups or {})
    params = {None: []} | {prefix: [] for prefix in groups}
    for pname, p in model.named_parameters():
        if p.requires_grad:
            matches = [prefix for prefix in groups if pname.startswith(prefix)]
            params[max(matches, key=len) if matches else None].append(p)
    empty = [prefix for prefix in groups if not params[prefix]]
    if empty:
        raise ValueError(f"weight_decay_groups: no parameter name starts with {', '.join(map(repr, empty))}; "
                         f"names look like {next(iter(dict(model.named_parameters())), '?')!r}")
    param_groups = [{"params": params[None], "weight_decay": weight_decay}] if params[None] else []
    param_groups += [{"params": params[prefix], "weight_decay": wd} for prefix, wd in groups.items()]
    return table[name](param_groups, lr=lr, weight_decay=weight_decay)


def make_scheduler(optimizer, name: Optional[str] = None, max_epochs: int = 100, **options):
    """A learning-rate schedule: ``None``/``"none"``, ``"cosine"`` (to 0 over ``max_epochs``), ``"plateau"`` or ``"step"``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    name : str, optional
    max_epochs : int
        The cosine schedule's length.
    **options
        ``"plateau"`` (:class:`torch.optim.lr_scheduler.ReduceLROnPlateau`): ``factor`` (0.5), ``patience`` (20),
        ``min_lr`` (0) and ``watch``: ``"metric"`` (the task's validation metric, default) or ``"loss"`` (the
        validation loss, GraphGym's rule, which LRGB's and DRew's configurations use); ``"step"``: ``step_size``
        (50), ``gamma`` (0.5).

    Raises
    ------
    ValueError
        On an unknown schedule or an option it does not take (a misspelled one would be ignored).

    Examples
    --------
    >>> import torch
    >>> opt = torch.optim.AdamW(torch.nn.Linear(2, 1).parameters(), lr=1e-3)
    >>> s = make_scheduler(opt, "plateau", factor=0.5, patience=20, min_lr=1e-5, watch="loss")
    >>> s.factor, s.patience, s.min_lrs, s.watch
    (0.5, 20, [1e-05], 'loss')
    """
    known = {"cosine": (), "plateau": ("factor", "patience", "min_lr", "watch"), "step": ("step_size", "gamma")}
    if name in (None, "none"):
        if options:
            raise ValueError(f"scheduler 'none' takes no options, got {', '.join(options)}")
        return None
    if name not in known:
        raise ValueError(f"unknown scheduler {name!r}; known: none, cosine, plateau, step")
    unknown = sorted(set(options) - set(known[name]))
    if unknown:
        raise ValueError(f"scheduler {name!r} takes no option {', '.join(unknown)}; it takes "
                         f"{', '.join(known[name]) or 'none'}")
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
    if name == "plateau":
        watch = options.get("watch", "metric")
        if watch not in ("metric", "loss"):
            raise ValueError(f"scheduler 'plateau' watches 'metric' or 'loss', got {watch!r}")
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=options.get("factor", 0.5), patience=options.get("patience", 20),
            min_lr=options.get("min_lr", 0.0))
        scheduler.watch = watch  # read by Trainer._step_scheduler
        return scheduler
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=options.get("step_size", 50), gamma=options.get("gamma", 0.5))


@dataclass
class FitResult:
    """Outcome of :meth:`Trainer.fit`: best epoch, its validation/test metrics, and the per-epoch history.

    ``status`` is ``"ok"``, or ``"diverged"`` (``fit(on_divergence="record")``):
    then ``diverged_epoch``, ``last_finite_loss`` and ``divergence`` (what was
    non-finite) say what happened and the metrics are NaN.

    ``train_time_s`` is wall-clock seconds summed over the epochs: it counts the time the process was paused
    (``SIGSTOP``) or waited for a shared core. ``train_cpu_s`` is the CPU seconds of the training process over the
    same epochs (:func:`time.process_time`, every thread), or ``None`` when an epoch of the history has none: a model
    on a GPU (there the host's CPU time is not the cost; ``train_time_s`` is), or a run resumed from a checkpoint
    written before CPU time was recorded.

    Examples
    --------
    >>> r = FitResult(best_epoch=3, epochs_run=5, val={"accuracy": 0.8}, test={"accuracy": 0.79}, train_time_s=1.25)
    >>> r.summary(prefix="gcn_")["gcn_test_accuracy"], r.summary()["status"]
    (0.79, 'ok')
    """

    best_epoch: int
    epochs_run: int
    val: Dict[str, float]
    test: Dict[str, float]
    train_time_s: float
    history: List[dict] = field(default_factory=list)
    status: str = "ok"
    diverged_epoch: Optional[int] = None
    last_finite_loss: Optional[float] = None
    divergence: str = ""
    train_cpu_s: Optional[float] = None

    def summary(self, prefix: str = "") -> dict:
        """A flat dict (``status``, ``val_<metric>``, ``test_<metric>``, ...) for CSV rows."""
        row = {"status": self.status, "diverged_epoch": self.diverged_epoch, "last_finite_loss": self.last_finite_loss,
               "best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "train_time_s": round(self.train_time_s, 3),
               "train_cpu_s": None if self.train_cpu_s is None else round(self.train_cpu_s, 3)}
        row.update({f"val_{k}": v for k, v in self.val.items()})
        row.update({f"test_{k}": v for k, v in self.test.items()})
        return {f"{prefix}{k}": v for k, v in row.items()}


#: checkpoint format: tensors and plain Python values only (``torch.load(weights_only=True)`` reads it)
CHECKPOINT_FORMAT = 2


def _rng_state() -> dict:
    """Every RNG state as tensors and plain values (no NumPy objects, so ``weights_only=True`` loads it)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def history_cpu_seconds(history: List[dict]) -> Optional[float]:
    """The CPU seconds of a run's epochs (their ``cpu_s``), or ``None`` if an epoch has none (a model on a GPU, or
    epochs run before CPU time was recorded).

    Examples
    --------
    >>> history_cpu_seconds([{"cpu_s": 1.5}, {"cpu_s": 2.5}]), history_cpu_seconds([{"cpu_s": 1.5}, {"time_s": 9.0}])
    (4.0, None)
    """
    if any("cpu_s" not in h or h["cpu_s"] is None for h in history):
        return None
    return float(sum(h["cpu_s"] for h in history))


def history_epoch_seconds(history: List[dict]) -> tuple:
    """What one epoch of a run costs, from its history: ``(median cpu_s, "cpu")`` when every epoch has CPU seconds,
    else ``(median time_s, "median")`` (wall-clock; the median is not moved by the few epochs of a paused process),
    else ``(None, "")``.

    Examples
    --------
    >>> history_epoch_seconds([{"time_s": 9.0, "cpu_s": 8.0}, {"time_s": 900.0, "cpu_s": 8.5}])
    (8.25, 'cpu')
    >>> history_epoch_seconds([{"time_s": 9.0}, {"time_s": 11.0}, {"time_s": 880.0}])
    (11.0, 'median')
    """
    import statistics

    for column, how in (("cpu_s", "cpu"), ("time_s", "median")):
        values = [h.get(column) for h in history]
        if values and None not in values:
            return float(statistics.median(values)), how
    return None, ""


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper; ``model`` otherwise.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> net = torch.nn.Linear(2, 2)
    >>> unwrap(torch.nn.DataParallel(net)) is net, unwrap(net) is net
    (True, True)
    """
    return model.module if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)) else model


def load_checkpoint(path: os.PathLike) -> dict:
    """Read a :class:`Trainer` checkpoint with ``torch.load(weights_only=True)`` (on CPU).

    Parameters
    ----------
    path : path
        A ``checkpoint.pt`` of a :class:`Trainer` ``run_dir``.

    Returns
    -------
    dict
        The trainer's state: ``format``, ``next_epoch``, ``model``, ``optimizer``, ``history``, RNG states, ...

    Raises
    ------
    ValueError
        If the file is not a checkpoint of the current format (for example one
        written by dgl_ssm 0.1, which pickled NumPy objects); the message names
        the file and the fix.

    Examples
    --------
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/checkpoint.pt"
    >>> torch.save({"weights": torch.zeros(2)}, path)              # a file, but no trainer's
    >>> load_checkpoint(path)
    Traceback (most recent call last):
    ...
    ValueError: .../checkpoint.pt has checkpoint format None, this dgl_ssm reads format 2; delete it to start the run afresh
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError, EOFError on foreign or damaged files
        raise ValueError(f"{path} is not a dgl_ssm checkpoint of format {CHECKPOINT_FORMAT} "
                         f"({type(err).__name__}); delete it to start the run afresh") from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} has checkpoint format {found!r}, this dgl_ssm reads format {CHECKPOINT_FORMAT}; "
                         "delete it to start the run afresh")
    return state


class Trainer:
    """Train a model on a :class:`Task` with early stopping on the validation metric.

    Every epoch: ``task.train_epoch``, then ``task.evaluate`` on ``"val"``;
    the best model (by ``task.metric``) is kept in memory and restored at the
    end, when the test split is evaluated once. With a ``run_dir`` the full
    state (model, optimizer, scheduler, early-stopping counters, history and
    all RNG states) is written atomically to ``run_dir/checkpoint.pt`` after
    every epoch, and ``resume=True`` continues an interrupted run exactly: the
    final metrics equal those of an uninterrupted run with the same seed (on CPU).

    Parameters
    ----------
    model : torch.nn.Module
    task : Task
    optimizer : torch.optim.Optimizer
    scheduler : optional
        A torch LR scheduler; ``ReduceLROnPlateau`` is stepped with the validation metric.
    max_epochs : int
    patience : int
        Stop after this many epochs without a strictly better monitored value.
    monitor : str
        What early stopping and the best-state choice watch: ``"metric"`` (the
        task's validation metric, default), ``"loss"`` (the validation loss,
        lower is better; GCNII's authors stop on it: slow starters whose
        accuracy stays flat for a while are not cut off), or
        ``"loss_and_metric"``, the rule of GAT's authors (github.com/PetarV-/GAT,
        ``execute_cora.py``): patience restarts whenever the validation loss or
        metric is at least as good as its best so far, and the kept state is
        that of the last epoch at which both were.
    run_dir : path, optional
        Where ``checkpoint.pt`` and ``history.csv`` go. ``None``: no files.
    resume : bool
        Continue from ``run_dir/checkpoint.pt`` if it exists.
    checkpoint_every_s : float
        Write the checkpoint after an epoch only when at least this many seconds have passed since the last one
        (``0``, the default: after every epoch). Short epochs then do not pay for their checkpoints; a resumed run
        repeats at most this much work and is still exact.
    progress : bool
        Show a tqdm bar over epochs.
    is_main_process : bool
        Only the main process writes files (set ``False`` on DDP ranks > 0).
    on_epoch_end : callable, optional
        ``f(epoch, record)`` called after every epoch (e.g. to log).
    should_stop : callable, optional
        ``f() -> str or None``, asked after every epoch: a reason (e.g. ``"time limit reached"``) stops the run there,
        its checkpoint written whatever ``checkpoint_every_s`` says, and ``fit`` raises :class:`TrainingInterrupted`;
        after the run's last epoch (the epoch cap, or patience run out) a reason is ignored, the run being complete.
    precision : str
        ``"32"`` (default), ``"bf16-mixed"`` (bfloat16 autocast, CPU and CUDA) or ``"16-mixed"`` (float16 with a
        gradient scaler, CUDA only): :class:`~dgl_ssm.train.precision.Precision`. Parameters, optimizer state,
        losses and metrics stay in float32. The checkpoint records it; a resume with another precision is refused.
    denormals : str
        ``"ieee"`` (default: subnormal floats as IEEE 754 has them) or ``"flush"``: flush-to-zero on the CPU while
        :meth:`fit` runs, restored after it (:mod:`dgl_ssm.train.denormals`; one intra-op thread only, checked when
        ``fit`` starts). The checkpoint records it; a resume with the other mode is refused.
    identity : str, optional
        What run this is (a study passes its cell's key and configuration hash). The checkpoint records it, and a
        resume from a checkpoint that records another identity is refused (a checkpoint copied into another run's
        folder would otherwise continue silently under that run's name). Checkpoints written without one (before
        this option, or with ``identity=None``) resume as before.

    Raises
    ------
    ValueError
        On ``max_epochs`` or ``patience`` below 1, a negative ``checkpoint_every_s``, an unknown ``monitor``,
        ``precision`` or ``denormals``, or ``resume``, ``checkpoint_every_s`` or ``identity`` without a ``run_dir``.
    TrainingDiverged
        (``fit``) When the training loss, the model state (parameters,
        gradients, buffers) or the validation loss is NaN or infinite.
        ``history.csv`` and the checkpoint of the last epoch that passed these
        checks (with ``checkpoint_every_s``, of an earlier one) are already on disk. ``fit(on_divergence="record")`` returns a
        ``FitResult`` with ``status="diverged"`` instead.
    TrainingInterrupted
        (``fit``) When ``should_stop`` gave a reason; the run continues from that epoch with ``resume=True``.

    Examples
    --------
    A 16-layer GCN-SSM on Cora for 10 epochs (a study trains it for up to 200; ``make_trainer`` builds the trainer
    from a protocol):

    >>> import torch
    >>> from dgl_ssm.train import Trainer, NodeClassificationTask, make_optimizer
    >>> from dgl_ssm.data import load_node_graph
    >>> from dgl_ssm.models import build_model
    >>> g = load_node_graph("cora")
    >>> _ = torch.manual_seed(0)
    >>> model = build_model("gcn-ssm", g.ndata["feat"].shape[1], 64, 7, num_layers=16)
    >>> trainer = Trainer(model, NodeClassificationTask(g), make_optimizer(model, lr=0.01), max_epochs=10,
    ...                   patience=20, progress=False)
    >>> result = trainer.fit()
    >>> result.status, result.epochs_run, sorted(result.test)
    ('ok', 10, ['accuracy', 'loss'])
    >>> 1 <= result.best_epoch <= 10 and 0.0 <= result.test["accuracy"] <= 1.0
    True
    """

    CHECKPOINT = "checkpoint.pt"
    HISTORY = "history.csv"

    def __init__(
        self,
        model: torch.nn.Module,
        task: Task,
        optimizer: torch.optim.Optimizer,
        scheduler=None,
        *,
        max_epochs: int = 200,
        patience: int = 50,
        run_dir: Optional[os.PathLike] = None,
        resume: bool = False,
        progress: bool = True,
        is_main_process: bool = True,
        on_epoch_end: Optional[Callable[[int, dict], None]] = None,
        monitor: str = "metric",
        checkpoint_every_s: float = 0.0,
        should_stop: Optional[Callable[[], Optional[str]]] = None,
        precision: str = "32",
        denormals: str = "ieee",
        identity: Optional[str] = None,
    ):
        if max_epochs < 1 or patience < 1:
            raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs}, {patience}")
        if not checkpoint_every_s >= 0:
            raise ValueError(f"checkpoint_every_s must be >= 0 (0: after every epoch), got {checkpoint_every_s}")
        if run_dir is None:  # these shape the checkpoint, and without a run_dir there is none: they would be ignored
            given = [name for name, value in (("resume", resume), ("checkpoint_every_s", checkpoint_every_s),
                                              ("identity", identity)) if value]
            if given:
                raise ValueError(f"Trainer: {', '.join(given)} concern the checkpoint in run_dir, and run_dir is None: "
                                 "give a run_dir, or leave them out")
        self.checkpoint_every_s, self._last_save = float(checkpoint_every_s), time.perf_counter()
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be 'metric' (the task's validation metric), 'loss' (validation loss) or "
                             f"'loss_and_metric' (GAT's rule), got {monitor!r}")
        self.monitor = monitor
        warn_if_slow()
        self.model, self.task, self.optimizer, self.scheduler = model, task, optimizer, scheduler
        param = next(model.parameters(), None)
        self._device = param.device if param is not None else torch.device("cpu")
        self.precision = Precision(precision, self._device)
        # CPU seconds measure an epoch's cost where the model runs on the CPU; on a GPU they are the host's share only
        self._cpu_timed = self._device.type == "cpu"
        check_denormals(denormals, self._device)  # its value and device now; the thread count when fit starts
        self.denormals = denormals
        # what the task calls and steps: the model under autocast (its output in float32), the optimizer (scaled)
        self._task_model = self.precision.wrap(model)
        self._task_optimizer = self.precision.wrap_optimizer(optimizer)
        self.max_epochs, self.patience = max_epochs, patience
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resume, self.progress, self.is_main = resume, progress, is_main_process
        self.on_epoch_end, self.should_stop = on_epoch_end, should_stop
        self.identity = None if identity is None else str(identity)
        self.history: List[dict] = []
        self.best_value: Optional[float] = None
        self.best_seen: Optional[tuple] = None  # (lowest validation loss, best validation metric) so far
        self.best_epoch = -1
        self.best_state: Optional[dict] = None
        self.bad_epochs = 0
        self.next_epoch = 0
        self.elapsed = 0.0
        self.last_finite = (None, None)  # (epoch, loss)

    # ----------------------------------------------------------------- state
    def _improved(self, value: float) -> bool:
        if self.best_value is None or not math.isfinite(self.best_value):
            return math.isfinite(value)
        higher = self.task.higher_is_better and self.monitor == "metric"
        return value > self.best_value if higher else value < self.best_value

    def _watch(self, val: dict) -> tuple:
        """``(improved, keep)``: whether patience restarts, and whether this epoch's state becomes the best one."""
        if self.monitor != "loss_and_metric":
            watched = val["loss"] if self.monitor == "loss" else val[self.task.metric]
            improved = self._improved(watched)
            if improved:
                self.best_value = watched
            return improved, improved
        loss, metric = val["loss"], val[self.task.metric]
        sign = 1.0 if self.task.higher_is_better else -1.0
        low, high = self.best_seen if self.best_seen is not None else (math.inf, -math.inf)
        loss_ok, metric_ok = loss <= low, sign * metric >= high
        if not (loss_ok or metric_ok):
            return False, False
        self.best_seen = (min(loss, low), max(sign * metric, high))
        if loss_ok and metric_ok:
            self.best_value = loss
        return True, loss_ok and metric_ok

    @property
    def cpu_elapsed(self) -> Optional[float]:
        """CPU seconds of the epochs run so far (:func:`history_cpu_seconds`)."""
        return history_cpu_seconds(self.history)

    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly: tensors and plain values only.

        The model's state is that of the unwrapped module, so a checkpoint of a
        DDP run resumes in a single process and the other way round.
        """
        return {
            "format": CHECKPOINT_FORMAT,
            **({"identity": self.identity} if self.identity is not None else {}),  # absent: written without one
            **self.precision.state_dict(),  # "precision" (absent from checkpoints written before it: "32")
            "denormals": self.denormals,  # absent from checkpoints written before it: "ieee"
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "best_value": self.best_value,
            "best_seen": self.best_seen,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "next_epoch": self.next_epoch,
            "elapsed": self.elapsed,
            "history": self.history,
            "last_finite": self.last_finite,
            "rng": _rng_state(),
        }

    def load_state_dict(self, state: dict, where: str = "the checkpoint") -> None:
        """Continue from :meth:`state_dict`'s output.

        Raises
        ------
        ValueError
            If the state was written with another ``precision`` (one without it was written at ``"32"``), or by a
            run of another ``identity`` (a state without one is taken as it is).
        """
        theirs = state.get("identity")
        if theirs is not None and self.identity is not None and theirs != self.identity:
            raise ValueError(f"{where} is the checkpoint of run {theirs!r}, not of this run {self.identity!r}: it was "
                             "copied or moved here; delete it to start this run afresh, or put it back in its own folder")
        self.precision.load_state_dict(state, where)
        found = state.get("denormals", "ieee")
        if found != self.denormals:
            raise ValueError(f"{where} was written with denormals={found!r}, this run asks for denormals="
                             f"{self.denormals!r}; resume with denormals={found!r}, or delete it to start the run afresh")
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for key in ("best_value", "best_epoch", "best_state", "bad_epochs", "next_epoch", "elapsed", "history", "last_finite"):
            setattr(self, key, state[key])
        self.best_seen = state.get("best_seen")  # absent from checkpoints written before loss_and_metric
        _set_rng_state(state["rng"])

    def _save(self, force: bool = False) -> None:
        if self.run_dir is None or not self.is_main:
            return
        if not force and time.perf_counter() - self._last_save < self.checkpoint_every_s:
            return
        self._last_save = time.perf_counter()
        state = self.state_dict()
        atomic_write(self.run_dir / self.CHECKPOINT, lambda tmp: torch.save(state, tmp))
        write_csv(self.run_dir / self.HISTORY, self.history)

    def _maybe_resume(self) -> None:
        if not (self.resume and self.run_dir is not None):
            return
        path = self.run_dir / self.CHECKPOINT
        if path.is_file():
            self.load_state_dict(load_checkpoint(path), where=str(path))
            # optimizer tensors must live where the model lives
            device = next(self.model.parameters()).device
            for st in self.optimizer.state.values():
                for k, v in st.items():
                    if torch.is_tensor(v) and k != "step":
                        st[k] = v.to(device)

    # ------------------------------------------------------------------ loop
    def _step_scheduler(self, val: dict) -> None:
        """Step the schedule after an epoch; a plateau schedule with the validation metric (made lower-is-better) or,
        with ``watch="loss"``, the validation loss."""
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if getattr(self.scheduler, "watch", "metric") == "loss":
                self.scheduler.step(val["loss"])
            else:
                value = val[self.task.metric]
                self.scheduler.step(value if not self.task.higher_is_better else -value)
        else:
            self.scheduler.step()

    def non_finite_state(self) -> Optional[str]:
        """The name of the first parameter, gradient or floating buffer of the model with a NaN or inf, else ``None``.

        Looks at the model itself, not the loss: a readout such as DGL's
        ``MaxPooling`` maps NaN node states to 0, so a diverged model can have
        a finite loss. Called once per epoch: about 5 ms for a 60-layer GCN-SSM
        of width 30 (122 tensors), under 1% of a graph-property epoch.
        """
        for name, param in self.model.named_parameters():
            if not bool(torch.isfinite(param).all()):
                return f"parameter {name!r}"
            # under "16-mixed" a step with non-finite (scaled) gradients is skipped by the scaler: not a divergence
            if param.grad is not None and self.precision.scaler is None and not bool(torch.isfinite(param.grad).all()):
                return f"gradient of {name!r}"
        for name, buf in self.model.named_buffers():
            if buf.is_floating_point() and not bool(torch.isfinite(buf).all()):
                return f"buffer {name!r}"
        return None

    def _diverged(self, epoch: int, reason: str) -> TrainingDiverged:
        self._save_history_only()
        last_epoch, last_loss = self.last_finite
        return TrainingDiverged(
            f"training diverged at epoch {epoch}: {reason}; last finite state at epoch {last_epoch} "
            f"(training loss {last_loss}). Lower the learning rate, the depth, or the spectral radius of the "
            "state transition matrix.",
            epoch, last_epoch, last_loss, reason,
        )

    def fit(self, on_divergence: str = "raise") -> FitResult:
        """Train until ``max_epochs`` or early stop; restore the best state; evaluate on test.

        Divergence is a non-finite training loss, non-finite model state
        (parameters, gradients, buffers; :meth:`non_finite_state`) after an
        epoch, or a non-finite validation loss. A checkpoint is only written
        for an epoch that passed all three checks.

        Parameters
        ----------
        on_divergence : str
            ``"raise"`` (default): raise :class:`TrainingDiverged`. ``"record"``:
            return a :class:`FitResult` with ``status="diverged"`` and NaN
            metrics instead, so that a study records the cell and goes on.

        Returns
        -------
        FitResult
        """
        if on_divergence not in ("raise", "record"):
            raise ValueError(f"on_divergence must be 'raise' or 'record', got {on_divergence!r}")
        try:
            with denormal_mode(self.denormals, self._device):
                return self._fit()
        except TrainingDiverged as err:
            if on_divergence == "raise":
                raise
            nan = {"loss": math.nan, self.task.metric: math.nan}
            return FitResult(
                best_epoch=self.best_epoch, epochs_run=err.epoch + 1, val=dict(nan), test=dict(nan),
                train_time_s=self.elapsed, history=self.history, status="diverged", diverged_epoch=err.epoch,
                last_finite_loss=err.last_finite_loss, divergence=err.reason, train_cpu_s=self.cpu_elapsed,
            )

    def _fit(self) -> FitResult:
        self._maybe_resume()
        metric = self.task.metric
        bar = tqdm(
            range(self.next_epoch, self.max_epochs),
            initial=self.next_epoch,
            total=self.max_epochs,
            disable=not (self.progress and self.is_main),
            leave=False,
        )
        for epoch in bar:
            if self.bad_epochs >= self.patience:
                break
            start, lr = time.perf_counter(), self.optimizer.param_groups[0]["lr"]  # this epoch's learning rate
            cpu_start = time.process_time()
            loss = float(self.task.train_epoch(self._task_model, self._task_optimizer))
            if not math.isfinite(loss):
                raise self._diverged(epoch, f"training loss is {loss}")
            bad = self.non_finite_state()
            if bad is not None:
                raise self._diverged(epoch, f"{bad} is not finite (training loss {loss:.6g} looked finite)")
            val = self.task.evaluate(self._task_model, ("val",))["val"]
            if not math.isfinite(val["loss"]):
                raise self._diverged(epoch, f"validation loss is {val['loss']}")
            self.last_finite = (epoch, loss)
            self._step_scheduler(val)
            improved, keep = self._watch(val)
            if keep:
                self.best_epoch = epoch
                self.best_state = copy.deepcopy(unwrap(self.model).state_dict())
            self.bad_epochs = 0 if improved else self.bad_epochs + 1
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            self.elapsed += seconds
            record = {"epoch": epoch, "train_loss": loss, **{f"val_{k}": v for k, v in val.items()},
                      "lr": lr, "time_s": round(seconds, 3), **({"cpu_s": round(cpu, 3)} if self._cpu_timed else {})}
            self.history.append(record)
            self.next_epoch = epoch + 1
            self._save()
            bar.set_postfix(loss=f"{loss:.4f}", **{f"val_{metric}": f"{val[metric]:.4f}"})
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch, record)
            reason = self.should_stop() if self.should_stop is not None else None
            if reason and self.next_epoch < self.max_epochs and self.bad_epochs < self.patience:
                self._save(force=True)
                bar.close()
                raise TrainingInterrupted(f"training stopped after epoch {epoch}: {reason}; resume=True continues "
                                          f"from epoch {self.next_epoch}", self.next_epoch, reason)
        bar.close()
        if self.best_state is not None:
            unwrap(self.model).load_state_dict(self.best_state)
        final = self.task.evaluate(self._task_model, ("val", "test"))
        return FitResult(
            best_epoch=self.best_epoch,
            epochs_run=self.next_epoch,
            val=final["val"],
            test=final["test"],
            train_time_s=self.elapsed,
            history=self.history,
            train_cpu_s=self.cpu_elapsed,
        )

    def _save_history_only(self) -> None:
        if self.run_dir is not None and self.is_main:
            write_csv(self.run_dir / self.HISTORY, self.history or [{"epoch": None}])
