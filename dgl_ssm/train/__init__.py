"""Shared training logic: one :class:`Trainer`, task objects, metrics, optimizers and schedulers."""
from .graph import GraphTask
from .metrics import Accuracy, AveragePrecision, Log10MSE, MAE, Metric, make_loss, make_metric
from .node import NodeClassificationTask, build_node_classifier, fit_node_classifier
from .protocol import TrainProtocol, default_protocol, load_protocol
from .cell import DataOptions, fit_cell, prepare_cell
from .last_layer import train_last_layer
from .trained import load_trained, save_trained
from .trainer import FitResult, Task, Trainer, TrainingDiverged, TrainingInterrupted, load_checkpoint, make_optimizer, make_scheduler, unwrap

__all__ = [
    "TrainProtocol",
    "load_protocol",
    "default_protocol",
    "DataOptions",
    "prepare_cell",
    "fit_cell",
    "train_last_layer",
    "Trainer",
    "Task",
    "FitResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "NodeClassificationTask",
    "fit_node_classifier",
    "build_node_classifier",
    "GraphTask",
    "make_optimizer",
    "make_scheduler",
    "Metric",
    "Log10MSE",
    "AveragePrecision",
    "MAE",
    "Accuracy",
    "make_metric",
    "make_loss",
    "load_checkpoint",
    "unwrap",
    "save_trained",
    "load_trained",
]
