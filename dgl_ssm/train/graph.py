"""Graph-level tasks for the shared :class:`~dgl_ssm.train.Trainer`: mini-batches of graphs.

:class:`GraphTask` implements the trainer's task protocol
(``train_epoch(model, optimizer)``, ``evaluate(model, splits)``, ``metric``,
``higher_is_better``) over :class:`dgl.dataloading.GraphDataLoader` batches, for

* graph-level targets (one row per graph: diameter, Peptides),
* node-level targets inside batched graphs (one row per node: SSSP, eccentricity),
* targets read at marked nodes (``ndata['target_mask']``: RingTransfer's node 0),

and runs unchanged under DDP (``torchrun``): each rank trains on its shard of
the training graphs (``GraphDataLoader(use_ddp=True)``), losses are averaged
over ranks, and metrics are computed on the gathered predictions of the whole
split, so that every rank takes the same early-stopping decisions.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.distributed as dist
from dgl.dataloading import GraphDataLoader

from ..runtime import release_freed_memory
from .metrics import make_loss, make_metric

__all__ = ["GraphTask"]

def _ddp() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce_sum(*values: float, device="cpu") -> list:
    """Sum over ranks, on ``device`` (the process's device: NCCL reduces CUDA tensors only, gloo CPU ones)."""
    if not _ddp():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _loader(ds, **kwargs) -> GraphDataLoader:
    """A :class:`GraphDataLoader` over ``ds``; over its positions with ``ds.collate_positions`` when it has one
    (the same samplers and random numbers, so the same batches; :meth:`GraphListDataset.collate_positions`)."""
    if hasattr(ds, "collate_positions"):
        return GraphDataLoader(range(len(ds)), collate_fn=ds.collate_positions, **kwargs)
    return GraphDataLoader(ds, collate_fn=ds.collate, **kwargs)


class GraphTask:
    """A supervised task over datasets of ``(graph, label)`` items, batched with :func:`dgl.batch`.

    Parameters
    ----------
    datasets : dict
        ``{"train": ds, "val": ds, "test": ds}``: :class:`dgl_ssm.data.GraphListDataset`
        objects (or any dataset of ``(graph, label)`` with a ``collate`` method,
        a ``level`` (``"graph"``/``"node"``) and a ``target_mask`` flag).
    loss : str
        ``"mse"``, ``"l1"``, ``"bce"`` (multi-label, with logits) or ``"ce"``.
    metric : str
        ``"log10_mse"``, ``"mae"``, ``"ap"`` or ``"accuracy"``.
    batch_size : int
        Graphs per batch (per process under DDP).
    device : torch.device or str
    ddp : bool
        Shard the training set over the processes of the initialized process
        group (``GraphDataLoader(use_ddp=True)``) and the evaluation sets without padding.
    feat_key : str
        Node feature field passed to the model: ``model(bg, bg.ndata[feat_key])``.
    release_memory_every : int
        Return freed heap pages to the operating system
        (:func:`dgl_ssm.runtime.release_freed_memory`) every this many training
        steps and after every pass; 0 never. Batches of varying size fragment
        glibc's heap: without it a Peptides-func worker grew past 10 GB.

    Raises
    ------
    ValueError
        On a missing split, a negative ``release_memory_every``, or ``ddp=True`` without an initialized process
        group.


    Notes
    -----
    Self-loops (GCN's :math:`A + I`) belong to the data: give the datasets
    the cached pre-transform :func:`dgl_ssm.data.self_loops` rather than
    adding them to every batch.

    Under DDP the training sampler is reseeded every epoch with
    :meth:`GraphDataLoader.set_epoch` from a number drawn from torch's global
    RNG, which the trainer checkpoints, so ``--resume`` reshuffles exactly as
    the uninterrupted run (the task itself holds no epoch counter).

    Examples
    --------
    >>> from dgl_ssm.data import RingTransferDataset
    >>> sets = {s: RingTransferDataset(6, num_graphs=40, num_classes=2, split=s) for s in ("train", "val", "test")}
    >>> task = GraphTask(sets, loss="ce", metric="accuracy", batch_size=8)
    >>> task.metric, task.higher_is_better
    ('accuracy', True)
    """

    def __init__(
        self,
        datasets: Dict[str, object],
        loss: str,
        metric: str,
        batch_size: int = 128,
        device="cpu",
        ddp: bool = False,
        feat_key: str = "feat",
        release_memory_every: int = 8,
    ):
        if release_memory_every < 0:
            raise ValueError(f"release_memory_every must be >= 0 (0: never), got {release_memory_every}")
        self.release_memory_every = release_memory_every
        missing = {"train", "val", "test"} - set(datasets)
        if missing:
            raise ValueError(f"GraphTask needs train, val and test datasets; missing {', '.join(sorted(missing))}")
        self.datasets = datasets
        self.loss_fn, self.loss_name = make_loss(loss), loss
        self._metric = make_metric(metric)
        self.metric, self.higher_is_better = self._metric.name, self._metric.higher_is_better
        self.device, self.feat_key = torch.device(device), feat_key
        if ddp and not (dist.is_available() and dist.is_initialized()):  # it would train unsharded, unseen
            raise ValueError("GraphTask(ddp=True) needs an initialized process group: run under torchrun with "
                             "dgl_ssm.train.distributed.init_distributed() (or torch.distributed.init_process_group) first")
        self.ddp = ddp and _ddp()  # one process in the group: nothing to shard
        self.train_loader = _loader(datasets["train"], batch_size=batch_size, shuffle=True, drop_last=False,
                                    use_ddp=self.ddp)
        self.eval_loaders = {name: self._eval_loader(ds, batch_size) for name, ds in datasets.items()}

    def _eval_loader(self, ds, batch_size):
        sampler = None
        if self.ddp:  # every graph exactly once over all ranks (DistributedSampler would pad)
            sampler = list(range(dist.get_rank(), len(ds), dist.get_world_size()))
        return _loader(ds, batch_size=batch_size, shuffle=False, sampler=sampler)

    def predict(self, model, batch):
        """Model outputs aligned with the batch's labels: ``(pred, target)`` on the task's device."""
        bg, target = batch
        bg, target = bg.to(self.device), target.to(self.device)
        out = model(bg, bg.ndata[self.feat_key])
        if "target_mask" in bg.ndata:
            out = out[bg.ndata["target_mask"].bool()]  # DGL's graph cache gives bool ndata back as uint8
        if out.dim() == 2 and target.dim() == 1 and out.shape[1] == 1:
            target = target.unsqueeze(1)
        return out, target

    def train_epoch(self, model, optimizer) -> float:
        """One pass over the training graphs; the mean loss per graph (over all ranks under DDP)."""
        if self.ddp:
            self.train_loader.set_epoch(int(torch.randint(2**31 - 1, ())))
        model.train()
        total, count, steps = 0.0, 0, 0
        for batch in self.train_loader:
            pred, target = self.predict(model, batch)
            loss = self.loss_fn(pred, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = batch[0].batch_size
            total, count = total + float(loss.detach()) * n, count + n
            steps += 1
            if self.release_memory_every and steps % self.release_memory_every == 0:
                release_freed_memory()
        if self.release_memory_every:
            release_freed_memory()
        total, count = _all_reduce_sum(total, count, device=self.device)
        return total / max(count, 1)

    @torch.no_grad()
    def evaluate(self, model, splits=("val",)) -> Dict[str, Dict[str, float]]:
        """``{split: {"loss": mean loss per graph, metric: value}}`` on whole splits (gathered under DDP)."""
        model.eval()
        results = {}
        for split in splits:
            self._metric.reset()
            total, count = 0.0, 0
            for batch in self.eval_loaders[split]:
                pred, target = self.predict(model, batch)
                n = batch[0].batch_size
                total, count = total + float(self.loss_fn(pred, target)) * n, count + n
                self._metric.update(pred, target)
            total, count = _all_reduce_sum(total, count, device=self.device)
            results[split] = {"loss": total / max(count, 1), self.metric: self._metric.compute()}
        if self.release_memory_every:
            release_freed_memory()
        return results

    @classmethod
    def for_datasets(cls, datasets: Dict[str, object], **kwargs) -> "GraphTask":
        """A task with the loss and metric of the datasets' :class:`~dgl_ssm.data.TaskInfo` (overridable by kwargs)."""
        info = datasets["train"].task_info
        kwargs.setdefault("loss", info.loss)
        kwargs.setdefault("metric", info.metric)
        return cls(datasets, **kwargs)
