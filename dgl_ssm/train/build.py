"""Building blocks of a cell: a seeded model build and the trainer of a protocol (one place each)."""
from __future__ import annotations

import torch

from .protocol import TrainProtocol

__all__ = ["count_parameters", "seeded_build", "make_trainer"]

def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

def seeded_build(seed: int, preset: str, in_feats: int, hidden: int, out_feats: int, num_layers: int,
                 **options) -> torch.nn.Module:
    """Seed everything (:func:`~dgl_ssm.experiment.seed_everything`), then :func:`~dgl_ssm.models.build_model`:
    where every model of the package is seeded. An ``encoder`` given as a zero-argument callable is built right
    after the seed, before the model (its draws come first).

    Examples
    --------
    >>> a = seeded_build(0, "gcn", 5, 8, 3, 2); b = seeded_build(0, "gcn", 5, 8, 3, 2)
    >>> all(bool((x == y).all()) for x, y in zip(a.parameters(), b.parameters()))
    True
    """
    from ..experiment import seed_everything
    from ..models import build_model

    seed_everything(seed)
    if callable(options.get("encoder")) and not isinstance(options["encoder"], torch.nn.Module):
        options["encoder"] = options["encoder"]()
    return build_model(preset, in_feats, hidden, out_feats, num_layers, **options)

def make_trainer(model: torch.nn.Module, task, protocol: TrainProtocol, *, run_dir=None, resume: bool = False,
                 checkpoint_every_s: float = 0.0, progress: bool = False, should_stop=None,
                 is_main_process: bool = True, identity=None):
    """The :class:`~dgl_ssm.train.Trainer` of ``protocol``: its optimizer (with per-group weight decay), its
    scheduler (over ``protocol.epochs``), epochs, patience, monitor, precision and denormals; nothing taken from
    anywhere else.
    ``identity``: the run's name in its checkpoint (:class:`~dgl_ssm.train.Trainer`).

    Raises
    ------
    ValueError
        ``precision="16-mixed"`` off CUDA (:class:`~dgl_ssm.train.precision.Precision`); ``denormals="flush"``
        off the CPU (:func:`~dgl_ssm.train.denormals.check_denormals`).
    """
    from .trainer import Trainer, make_optimizer, make_scheduler

    optimizer = make_optimizer(model, protocol.optimizer, lr=protocol.lr, weight_decay=protocol.weight_decay,
                               weight_decay_groups=dict(protocol.weight_decay_groups))
    scheduler = make_scheduler(optimizer, protocol.scheduler, max_epochs=protocol.epochs,
                               **dict(protocol.scheduler_options))
    return Trainer(model, task, optimizer, scheduler, max_epochs=protocol.epochs, patience=protocol.patience,
                   run_dir=run_dir, resume=resume, progress=progress, is_main_process=is_main_process,
                   monitor=protocol.monitor, checkpoint_every_s=checkpoint_every_s, should_stop=should_stop,
                   precision=protocol.precision, denormals=protocol.denormals, identity=identity)
