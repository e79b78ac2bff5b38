"""Common base of the graph-level datasets: splits, items, pre-transforms, batching."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import dgl
import torch
from dgl.data import DGLDataset

from .paths import data_root
from .pretransform import apply_pre_transform, save_graphs_atomic

__all__ = ["GraphListDataset", "TaskInfo", "collate", "SPLITS"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TaskInfo:
    """What a dataset asks of a model and a trainer; models, trainers and studies read this, never task names.

    Attributes
    ----------
    level : str
        ``"node"``: one target row per node; ``"graph"``: one per graph.
    in_feats : int
        Columns of ``ndata['feat']`` (for an ``encoder``, the raw feature columns it embeds).
    num_targets : int
        Model outputs per target row (classes for ``"ce"``, targets otherwise).
    loss, metric : str
        Names for :mod:`dgl_ssm.train.metrics` (``"mse"``, ``"ce"``, ``"bce"``; ``"log10_mse"``, ``"accuracy"``, ``"ap"``, ...).
    readout : str, optional
        Default pooling of a graph-level model (``"mean"``, ``"max"``, ...); ``None`` for node outputs.
    encoder : callable, optional
        ``encoder(hidden) -> nn.Module`` replacing the linear input layer (ogb's AtomEncoder for molecules).
    target_mask : bool
        Whether the prediction is read at the nodes marked by ``ndata['target_mask']`` (RingTransfer).

    Examples
    --------
    >>> from dgl_ssm.data import RingTransferDataset
    >>> RingTransferDataset(6, num_graphs=20, num_classes=3).task_info
    TaskInfo(level='graph', in_feats=3, num_targets=3, loss='ce', metric='accuracy', readout=None, encoder=None, target_mask=True)
    """

    level: str
    in_feats: int
    num_targets: int
    loss: str
    metric: str
    readout: Optional[str] = None
    encoder: Optional[Callable] = None
    target_mask: bool = False

    def build_encoder(self, hidden: int):
        """``encoder(hidden)``, or ``None`` for the default linear input layer."""
        return None if self.encoder is None else self.encoder(hidden)


def collate(items, node_level: bool = False):
    """Batch ``(graph, label)`` items: ``(dgl.batch(graphs), labels)``.

    Graph-level labels are stacked to ``(B, ...)``; node-level labels (one row
    per node, ragged across graphs) are concatenated to ``(sum N_i, ...)`` in
    the node order of the batched graph. DGL's default ``GraphCollator``
    stacks every tensor, which fails on ragged node-level labels.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0], [1]))
    >>> bg, y = collate([(g, torch.zeros(2, 1)), (g, torch.ones(2, 1))], node_level=True)
    >>> bg.batch_size, tuple(y.shape)
    (2, (4, 1))
    """
    graphs, labels = zip(*items)
    labels = torch.cat(labels, 0) if node_level else torch.stack(labels, 0)
    return dgl.batch(graphs), labels


class GraphListDataset(DGLDataset):
    """A list of graphs with per-item labels, a split and an optional cached pre-transform.

    Subclasses implement :meth:`process` (filling ``self.graphs``,
    ``self.labels`` and ``self.split_of`` (a ``(G,)`` tensor 0/1/2 for
    train/val/test) and :meth:`item_label`. Caching of the processed graphs
    (``cache_file``) is atomic: a failed run leaves no partial cache.

    Attributes
    ----------
    level : str
        ``"graph"`` (one label per graph) or ``"node"`` (one label row per node).
    target_mask : bool
        Whether ``ndata['target_mask']`` marks the nodes whose outputs are the
        prediction (graph-level labels read at selected nodes, e.g. RingTransfer).
    default_loss, default_metric : str
        Names for :mod:`dgl_ssm.train.metrics` (``"mse"``/``"log10_mse"``, ...).
    default_readout : str, optional
        Pooling of a graph-level model (``None``: node outputs).
    encoder : callable, optional
        ``encoder(hidden) -> nn.Module`` for raw features that need embedding.
    """

    level = "graph"
    target_mask = False
    default_loss = default_metric = None
    default_readout = None
    encoder = None

    @property
    def task_info(self) -> TaskInfo:
        """The task of this dataset (see :class:`TaskInfo`)."""
        return TaskInfo(self.level, self.num_features, self.num_targets, self.default_loss, self.default_metric,
                        self.default_readout, type(self).encoder, self.target_mask)

    def __init__(self, name: str, split: Optional[str], root, hash_key, pre_transform=None):
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)} or None (all graphs)")
        self.split = split
        self._root_arg = root
        self.pre_transform = pre_transform
        self.graphs, self.split_of = [], None
        super().__init__(name=name, raw_dir=str(data_root(root)), hash_key=hash_key, verbose=False)
        self.graphs = apply_pre_transform(self.graphs, pre_transform, self.cache_dir)
        self.indices = self._split_indices(split)

    # -- caching ---------------------------------------------------------------
    @property
    def cache_dir(self) -> Path:
        """Folder of this dataset's caches: ``<root>/<name>/<hash of hash_key>/``."""
        return Path(self.raw_dir) / self.name / self.hash

    @property
    def cache_file(self) -> Path:
        return self.cache_dir / "graphs.bin"

    def has_cache(self) -> bool:
        return self.cache_file.is_file()

    def cached_labels(self) -> dict:
        """The label tensors saved with the graphs (subclasses define them)."""
        raise NotImplementedError

    def save(self):
        save_graphs_atomic(self.cache_file, self.graphs, self.cached_labels())

    def load(self):
        self.graphs, labels = dgl.load_graphs(str(self.cache_file))
        self.restore_labels(labels)

    def restore_labels(self, labels: dict) -> None:
        raise NotImplementedError

    # -- items -----------------------------------------------------------------
    def _split_indices(self, split) -> torch.Tensor:
        if split is None:
            return torch.arange(len(self.graphs))
        return torch.nonzero(self.split_of == SPLITS.index(split)).flatten()

    def get_idx_split(self) -> dict:
        """``{'train': idx, 'val': idx, 'test': idx}`` into the full list (as DGL's LRGB datasets)."""
        return {s: self._split_indices(s) for s in SPLITS}

    def item_label(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def head(self, n: Optional[int]):
        """Keep only the first ``n`` items of this split (quick runs, tests); returns ``self``."""
        if n is not None:
            self.indices = self.indices[: int(n)]
        return self

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        index = int(self.indices[i])
        return self.graphs[index], self.item_label(index)

    def collate(self, items):
        """Collate function for :class:`dgl.dataloading.GraphDataLoader` (see :func:`collate`)."""
        return collate(items, node_level=self.level == "node")
