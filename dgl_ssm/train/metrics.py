"""Losses and evaluation metrics of the graph-level tasks, accumulated over batches.

A metric object is fed ``(prediction, target)`` batches with :meth:`Metric.update`
and gives one number with :meth:`Metric.compute`. Batches are kept (metrics such
as average precision do not decompose over batches); under DDP,
:meth:`Metric.compute` gathers every rank's batches first, so all ranks get the
metric of the whole split.
"""
from __future__ import annotations

import math
from typing import Callable, Dict

import numpy as np
import torch
import torch.distributed as dist
from sklearn.metrics import average_precision_score
from torch import nn

__all__ = ["Metric", "Log10MSE", "AveragePrecision", "MAE", "Accuracy", "METRICS", "LOSSES", "make_metric", "make_loss"]


class Metric:
    """Base class: accumulate predictions and targets, compute one score.

    Attributes
    ----------
    name : str
        Column name in result files.
    higher_is_better : bool
        Direction used for early stopping and model selection.

    Raises
    ------
    RuntimeError
        From :meth:`compute` before any :meth:`update`.

    Examples
    --------
    A metric of one's own: subclass, name it, define :meth:`score` over all the batches of a split.

    >>> class MaxError(Metric):
    ...     name = "max_error"
    ...     def score(self, pred, true):
    ...         return float((pred - true).abs().max())
    >>> m = MaxError()
    >>> m.update(torch.tensor([[1.0], [2.0]]), torch.tensor([[1.5], [2.0]]))
    >>> m.update(torch.tensor([[0.0]]), torch.tensor([[-1.0]]))      # a second batch
    >>> m.compute(), m.better(0.1, m.compute())
    (1.0, True)
    """

    name = "metric"
    higher_is_better = False

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._pred, self._true = [], []

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self._pred.append(pred.detach().float().cpu())
        self._true.append(target.detach().cpu())

    def _gathered(self):
        pred, true = torch.cat(self._pred), torch.cat(self._true)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, (pred, true))
            pred, true = torch.cat([p for p, _ in parts]), torch.cat([t for _, t in parts])
        return pred, true

    def compute(self) -> float:
        if not self._pred:
            raise RuntimeError(f"{type(self).__name__}.compute() called before any update()")
        return float(self.score(*self._gathered()))

    def score(self, pred: torch.Tensor, true: torch.Tensor) -> float:
        raise NotImplementedError

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats ``b`` (NaN never wins)."""
        if math.isnan(a):
            return False
        return math.isnan(b) or (a > b if self.higher_is_better else a < b)


class Log10MSE(Metric):
    r""":math:`\log_{10}` of the mean squared error (graph property prediction; lower is better).

    Examples
    --------
    >>> m = Log10MSE(); m.update(torch.zeros(4, 1), torch.full((4, 1), 0.1)); round(m.compute(), 6)
    -2.0
    """

    name = "log10_mse"

    def score(self, pred, true):
        return math.log10(max(float(torch.mean((pred - true.float()) ** 2)), 1e-300))


class MAE(Metric):
    """Mean absolute error over all targets (Peptides-struct; lower is better).

    Examples
    --------
    >>> m = MAE(); m.update(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])); m.compute()
    1.5
    """

    name = "mae"

    def score(self, pred, true):
        return float(torch.mean(torch.abs(pred - true.float())))


class AveragePrecision(Metric):
    """Average precision averaged over tasks, from logits (Peptides-func; higher is better).

    As in LRGB/OGB, a task whose targets have no positive or no negative in the
    evaluated set is skipped (AP is undefined there).

    Raises
    ------
    RuntimeError
        If no task has both classes.

    Examples
    --------
    >>> m = AveragePrecision()
    >>> m.update(torch.tensor([[2.0, 0.0], [-1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    >>> m.compute()  # task 1 has no positive: skipped
    1.0
    """

    name = "ap"
    higher_is_better = True

    def score(self, pred, true):
        pred, true = pred.numpy(), true.numpy()
        aps = [
            average_precision_score(true[:, t], pred[:, t])
            for t in range(true.shape[1])
            if 0 < true[:, t].sum() < true.shape[0]
        ]
        if not aps:
            raise RuntimeError("average precision: no task has both positive and negative targets")
        return float(np.mean(aps))


class Accuracy(Metric):
    """Fraction of correct arg-max predictions (higher is better).

    Examples
    --------
    >>> m = Accuracy(); m.update(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])); m.compute()
    0.5
    """

    name = "accuracy"
    higher_is_better = True

    def score(self, pred, true):
        return float((pred.argmax(-1) == true.view(-1)).float().mean())


METRICS: Dict[str, type] = {m.name: m for m in (Log10MSE, MAE, AveragePrecision, Accuracy)}


def _ce(pred, target):
    return nn.functional.cross_entropy(pred, target.view(-1).long())


def _bce(pred, target):
    mask = ~torch.isnan(target)  # LRGB/OGB convention: NaN targets are unlabeled
    return nn.functional.binary_cross_entropy_with_logits(pred[mask], target[mask].float())


def _mse(pred, target):
    return nn.functional.mse_loss(pred, target.float().view_as(pred))


def _l1(pred, target):
    return nn.functional.l1_loss(pred, target.float().view_as(pred))


#: loss name -> function(prediction, target)
LOSSES: Dict[str, Callable] = {"mse": _mse, "l1": _l1, "bce": _bce, "ce": _ce}


def _lookup(table, kind, name):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def make_metric(name: str) -> Metric:
    """A fresh metric by name: ``log10_mse``, ``mae``, ``ap``, ``accuracy``.

    Parameters
    ----------
    name : str

    Returns
    -------
    Metric

    Raises
    ------
    ValueError
        On an unknown name; the message lists the known ones.

    Examples
    --------
    >>> make_metric("ap").higher_is_better, make_metric("mae").higher_is_better
    (True, False)
    """
    return _lookup(METRICS, "metric", name)()


def make_loss(name: str) -> Callable:
    """A loss function by name: ``mse``, ``l1``, ``bce`` (with logits, multi-label), ``ce``.

    ``bce`` skips NaN targets (LRGB's and OGB's unlabelled entries); ``ce`` takes class indices of any shape that
    flattens to ``(B,)``.

    Parameters
    ----------
    name : str

    Returns
    -------
    callable
        ``loss(prediction, target) -> 0-dim tensor``.

    Raises
    ------
    ValueError
        On an unknown name; the message lists the known ones.

    Examples
    --------
    >>> loss = make_loss("bce")
    >>> float(loss(torch.zeros(1, 2), torch.tensor([[1.0, float("nan")]])))   # log 2, the NaN skipped
    0.6931...
    >>> make_loss("hinge")
    Traceback (most recent call last):
    ...
    ValueError: unknown loss 'hinge'; known: bce, ce, l1, mse
    """
    return _lookup(LOSSES, "loss", name)
