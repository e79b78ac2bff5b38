"""Shared training logic: one :class:`Trainer`, task objects, optimizers and schedulers."""
from .node import NodeClassificationTask
from .trainer import FitResult, Task, Trainer, TrainingDiverged, make_optimizer, make_scheduler

__all__ = ["Trainer", "Task", "FitResult", "TrainingDiverged", "NodeClassificationTask", "make_optimizer", "make_scheduler"]
