"""Shared pieces of the graph-level recipes: flags and YAML configs, model building, one run, reports.

``recipes/graph_regression.py`` and ``recipes/ring_transfer.py`` are thin:
they choose datasets and defaults and call :func:`add_training_flags`,
:func:`parse_with_config`, :func:`build_graph_model` and :func:`run_graph_task`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import torch
import yaml

from .. import report
from ..experiment import Run, atomic_write, resolve_device, seed_everything, start, write_csv
from ..runtime import configure_threads
from ..models import PRESETS, available_models, build_model, needs_hop_edges
from ..transforms import KHopRewire
from .distributed import DistInfo, wrap_ddp
from .graph import GraphTask
from .trainer import Trainer, make_optimizer, make_scheduler

__all__ = [
    "DatasetVariants",
    "max_hop_of",
    "add_training_flags",
    "parse_with_config",
    "build_graph_model",
    "check_models",
    "count_parameters",
    "run_graph_task",
    "plot_curves",
    "start_run",
    "write_rows",
    "write_text",
]


def add_training_flags(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Model, optimisation and run flags shared by the graph-level recipes (defaults set per task)."""
    p.add_argument("--config", default=None, help="YAML file of flag values (keys as the flags, '-' or '_'); flags given on the command line win")
    p.add_argument("--models", nargs="+", default=None, help=f"model presets to run; known now: {', '.join(available_models())}")
    p.add_argument("--hidden", type=int, default=None, help="hidden width (default per task)")
    p.add_argument("--layers", type=int, default=None, help="message-passing layers (default per task)")
    p.add_argument("--activation", default=None, help="relu, tanh, gelu or identity")
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--state-transition", default=None, help="SSM Λ: a number (Λ = λI) or 'uniform' (eigenvalues in [r_min, r_max])")
    p.add_argument("--input-matrix", default=None, help="SSM B: identity, random, gaussian or a number")
    p.add_argument("--r-min", type=float, default=None, help="smallest eigenvalue of Λ with --state-transition uniform")
    p.add_argument("--r-max", type=float, default=None, help="largest eigenvalue of Λ with --state-transition uniform")
    p.add_argument("--max-hop", type=int, default=None, help="k-hop rewiring radius for models that read 'hop' edges (kgcn-ssm, drew-gcn, ...); default 3")
    p.add_argument("--optimizer", default=None, choices=["adam", "adamw"])
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--scheduler", default=None, choices=["none", "cosine", "plateau", "step"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--runs", type=int, default=None, help="seeds per model (seed, seed+1, ...)")
    p.add_argument("--resume", action="store_true", help="continue interrupted runs from their checkpoints in --out")
    return p


def parse_with_config(p: argparse.ArgumentParser, defaults: Mapping, argv: Optional[Sequence[str]] = None, quick: Mapping = ()):
    """Parse ``argv`` with precedence: command line > ``--config`` YAML > ``--quick`` settings > task ``defaults``.

    Raises
    ------
    SystemExit
        Through ``argparse`` on an unknown key in the YAML file (the message lists it).
    """
    args = p.parse_args(argv)
    merged = dict(defaults)
    if args.quick:
        merged.update(quick)
    if args.config:
        config = yaml.safe_load(Path(args.config).read_text()) or {}
        known = {a.dest for a in p._actions}
        config = {str(k).replace("-", "_"): v for k, v in config.items()}
        unknown = sorted(set(config) - known)
        if unknown:
            p.error(f"unknown keys in --config {args.config}: {', '.join(unknown)}")
        merged.update(config)
    for key, value in merged.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def start_run(args, name: str, info: DistInfo) -> Run:
    """:func:`dgl_ssm.experiment.start` on rank 0; the other ranks configure threads and seeds but write nothing."""
    if info.is_main:
        run = start(args, name)
    else:
        configure_threads(args.threads)
        seed_everything(args.seed)
        resolve_device(args.device)
        run = Run(name=name, dir=Path(args.out) if args.out else Path("runs") / name, device=info.device, args=args)
    if info.enabled:
        import torch.distributed as dist

        holder = [str(run.dir)]
        dist.broadcast_object_list(holder)  # rank 0's (time-stamped) folder for everyone
        run.dir = Path(holder[0])
    run.device = info.device
    return run


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _number_or_name(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def check_models(names: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first unknown preset and listing the known ones (before any data is loaded)."""
    for name in names:
        if name not in PRESETS:
            raise ValueError(f"unknown model {name!r}; known: {', '.join(available_models())}")


def build_graph_model(name: str, args, in_feats: int, out_feats: int, *, readout=None, encoder=None, seed: int = 0):
    """:func:`dgl_ssm.models.build_model` from recipe flags; SSM options only for SSM presets.

    Raises
    ------
    ValueError
        On an unknown model name; the message lists the registered presets
        (k-hop presets appear once their module is imported).
    """
    check_models([name])
    options = dict(activation=args.activation, dropout=args.dropout, readout=readout, encoder=encoder)
    if "ssm" in str(PRESETS[name].get("block", "")):
        block = {"seed": seed}
        for key in ("state_transition", "input_matrix", "r_min", "r_max"):
            value = getattr(args, key, None)
            if value is not None:
                block[key] = _number_or_name(value)
        options["block_options"] = block
    if needs_hop_edges(name):
        if PRESETS[name].get("conv") == "khop":
            options["conv_options"] = {"max_hop": max_hop_of(args)}
        else:
            options["max_hop"] = max_hop_of(args)
    return build_model(name, in_feats, args.hidden, out_feats, args.layers, **options)


DEFAULT_MAX_HOP = 3


def max_hop_of(args) -> int:
    """The k-hop rewiring radius of a run (``--max-hop``, default :data:`DEFAULT_MAX_HOP`)."""
    return getattr(args, "max_hop", None) or DEFAULT_MAX_HOP


class DatasetVariants:
    """Load each variant of a dataset once: plain, or k-hop rewired for models that read ``'hop'`` edges.

    Plain models (GCN, GCN-SSM) must see the original graph; kGCN-SSM and
    DRew need it rewired by :class:`~dgl_ssm.transforms.KHopRewire`. The
    rewiring is a cached dataset pre-transform, so it runs once per dataset
    and ``max_hop`` and is then read from disk.

    Parameters
    ----------
    load : callable
        ``load(pre_transform) -> {"train": ds, "val": ds, "test": ds}``.
    max_hop : int
        Rewiring radius.
    """

    def __init__(self, load, max_hop: int):
        self.load, self.max_hop, self._cache = load, max_hop, {}

    def for_model(self, name: str) -> dict:
        """The dataset splits that model preset ``name`` trains on."""
        rewired = needs_hop_edges(name)
        if rewired not in self._cache:
            self._cache[rewired] = self.load(KHopRewire(self.max_hop) if rewired else None)
        return self._cache[rewired]


def run_graph_task(model, datasets: Dict[str, object], args, run_dir: Path, info: DistInfo, *, self_loop: bool = True,
                   on_divergence: str = "record"):
    """Train ``model`` on ``datasets`` with the shared :class:`Trainer`; returns its ``FitResult``.

    A run that diverges is returned as a ``FitResult`` with ``status="diverged"``
    (``on_divergence="record"``, the default here: every caller is a grid of runs).

    The model is wrapped in DDP when ``info`` is distributed; only rank 0
    writes ``run_dir/checkpoint.pt`` and ``history.csv``. ``args.resume``
    continues from the checkpoint.
    """
    model = wrap_ddp(model, info)
    task = GraphTask.for_datasets(datasets, batch_size=args.batch_size, device=info.device, ddp=info.enabled, self_loop=self_loop)
    optimizer = make_optimizer(model, args.optimizer, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = make_scheduler(optimizer, args.scheduler, max_epochs=args.epochs)
    trainer = Trainer(
        model,
        task,
        optimizer,
        scheduler,
        max_epochs=args.epochs,
        patience=args.patience,
        run_dir=run_dir,
        resume=args.resume,
        progress=not args.no_progress,
        is_main_process=info.is_main,
    )
    return trainer.fit(on_divergence=on_divergence)


def plot_curves(histories: Mapping[str, List[Mapping]], metric: str, run_dir: Path) -> None:
    """``loss_curves.png`` (training loss) and ``<metric>_curves.png`` (validation metric) per epoch, one line per run."""
    for column, ylabel, name, logy in (("train_loss", "training loss", "loss_curves.png", True), (f"val_{metric}", f"validation {metric}", f"{metric}_curves.png", False)):
        series = {label: ([r["epoch"] for r in h], [r[column] for r in h]) for label, h in histories.items()}
        report.plot_lines(series, Path(run_dir) / name, "epoch", ylabel, logy=logy)


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_rows(path: Path, rows: List[Mapping], info: DistInfo) -> None:
    """Rank 0 writes the per-run CSV (rewritten after every run, so a crash keeps finished runs)."""
    if info.is_main:
        write_csv(path, rows)
