"""Common base of the graph-level datasets: splits, items, pre-transforms, batching."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import dgl
import torch
from dgl.data import DGLDataset

from .paths import data_root, folder_lock
from ..graphcache import cache_intact
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

    Parameters
    ----------
    name : str
        The dataset's folder under the data root.
    split : str or None
        ``"train"``, ``"val"``, ``"test"`` or ``None`` (all graphs).
    root : path, optional
        Data root (:func:`~dgl_ssm.data.paths.data_root`).
    hash_key : tuple
        What the processed graphs depend on (sizes, seeds, a version): the cache folder is named by its hash, so a
        change of any of them builds a new cache instead of loading the old one.
    pre_transform : callable, optional
        Applied once and cached (:func:`~dgl_ssm.data.apply_pre_transform`).

    Raises
    ------
    ValueError
        On an unknown ``split``.

    Examples
    --------
    Paths of 2 to 11 nodes, each labelled with its length (a graph regression task), cached under the root:

    >>> import dgl, tempfile, torch
    >>> class PathLengths(GraphListDataset):
    ...     default_loss = default_metric = "mse"
    ...     default_readout = "sum"
    ...     num_features = num_targets = 1
    ...     def __init__(self, split=None, root=None):
    ...         super().__init__("path_lengths_example", split, root, hash_key=(1,))
    ...     def process(self):
    ...         sizes = list(range(2, 12))
    ...         self.graphs = [dgl.graph((torch.arange(n - 1), torch.arange(1, n))) for n in sizes]
    ...         for g in self.graphs:
    ...             g.ndata["feat"] = torch.ones(g.num_nodes(), 1)
    ...         self.labels = torch.tensor(sizes, dtype=torch.float32)[:, None] - 1
    ...         self.split_of = torch.tensor([0] * 8 + [1, 2])             # 8 train, 1 validation, 1 test
    ...     def cached_labels(self):
    ...         return {"labels": self.labels, "split_of": self.split_of}
    ...     def restore_labels(self, labels):
    ...         self.labels, self.split_of = labels["labels"], labels["split_of"]
    ...     def item_label(self, index):
    ...         return self.labels[index]
    >>> root = tempfile.mkdtemp()
    >>> train = PathLengths("train", root=root)
    >>> g, y = train[3]
    >>> len(train), g.num_edges(), y
    (8, 4, tensor([4.]))
    >>> len(PathLengths("test", root=root))                  # loaded from the cache
    1
    >>> bg, labels = train.collate_positions([0, 1, 2])
    >>> bg.batch_size, labels.shape
    (3, torch.Size([3, 1]))
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
        # processes sharing the data root: one builds (or heals) a cache while the others wait, then load it; without
        # the lock one could take another's cache, between its graph file and its digest, for damaged and delete it
        with folder_lock(data_root(root) / name):
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
        return cache_intact(self.cache_file)  # a damaged cache is deleted (one warning) and rebuilt

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

    # -- batching by position ----------------------------------------------------
    def item_labels(self, indices: torch.Tensor) -> torch.Tensor:
        """Labels of the graphs ``indices`` (into the full list), stacked (graph level) or concatenated (node
        level) as :func:`collate` does; subclasses may vectorise it."""
        labels = [self.item_label(int(i)) for i in indices]
        return torch.cat(labels, 0) if self.level == "node" else torch.stack(labels, 0)

    def collate_positions(self, positions):
        """Collate function over positions of this split: the batch ``collate([self[i] for i in positions])``
        gathered from one packed copy of the split's graphs instead of :func:`dgl.batch` over per-item graphs.

        The batched graph has the same nodes, edges (same order), fields and ``batch_num_nodes`` /
        ``batch_num_edges`` as :func:`dgl.batch`, so models compute bit-identical outputs; it costs a few tensor
        gathers instead of a Python loop over graphs (:class:`dgl_ssm.train.GraphTask` uses it; 2-3x faster loading
        at batch 128 and 512 in ``benchmarks/bench_graph_loading.py``; before it, :func:`dgl.batch` and the items took about
        0.3 s of a 1.2 s graph property epoch at batch 512).

        Parameters
        ----------
        positions : list of int or torch.Tensor
            Positions ``0 <= i < len(self)`` (what a sampler over ``range(len(self))`` yields).

        Returns
        -------
        (dgl.DGLGraph, torch.Tensor)
            The batched graph and the labels, as :meth:`collate`.

        Raises
        ------
        IndexError
            If a position is outside ``0 .. len(self) - 1`` (negative ones too, unlike Python indexing).

        Examples
        --------
        >>> from dgl_ssm.data import RingTransferDataset
        >>> ds = RingTransferDataset(6, num_graphs=20, num_classes=3, split="train")
        >>> bg, y = ds.collate_positions([2, 0])
        >>> bg.batch_size, bg.batch_num_nodes().tolist(), tuple(y.shape)
        (2, [6, 6], (2,))
        """
        positions = torch.as_tensor(positions, dtype=torch.long)
        if len(positions) and not (0 <= int(positions.min()) and int(positions.max()) < len(self)):
            raise IndexError(f"collate_positions: positions must be in 0..{len(self) - 1} (this {self.split or 'whole'} "
                             f"split has {len(self)} items), got {int(positions.min())}..{int(positions.max())}")
        pack = self._pack()
        nodes, edges = pack["num_nodes"][positions], pack["num_edges"][positions]
        node_ids = _ranges(pack["node_start"][positions], nodes)
        edge_ids = _ranges(pack["edge_start"][positions], edges)
        shift = torch.repeat_interleave(torch.cumsum(nodes, 0) - nodes, edges)
        graph = dgl.graph((pack["src"][edge_ids] + shift, pack["dst"][edge_ids] + shift),
                          num_nodes=int(nodes.sum()), idtype=pack["idtype"])
        for key, value in pack["ndata"].items():
            graph.ndata[key] = value[node_ids]
        for key, value in pack["edata"].items():
            graph.edata[key] = value[edge_ids]
        graph.set_batch_num_nodes(nodes.to(pack["idtype"]))
        graph.set_batch_num_edges(edges.to(pack["idtype"]))
        return graph, self.item_labels(self.indices[positions])

    def _pack(self) -> dict:
        """This split's graphs (``self.indices``, in order: pack entry ``i`` is position ``i``), their nodes, edges
        (local ids) and fields concatenated; rebuilt when ``self.graphs`` or ``self.indices`` change. Graphs outside
        the split are not read: a limited run (:meth:`head`) transforms only the graphs it keeps."""
        key = (id(self.graphs), len(self.graphs), id(self.indices), len(self.indices))
        if getattr(self, "_packed", None) is None or self._packed["key"] != key:
            graphs = [self.graphs[int(i)] for i in self.indices]
            nodes = torch.tensor([g.num_nodes() for g in graphs], dtype=torch.long)
            edges = torch.tensor([g.num_edges() for g in graphs], dtype=torch.long)
            ends = [g.edges(order="eid") for g in graphs]
            self._packed = {
                "key": key, "num_nodes": nodes, "num_edges": edges, "idtype": graphs[0].idtype,
                "node_start": torch.cumsum(nodes, 0) - nodes, "edge_start": torch.cumsum(edges, 0) - edges,
                "src": torch.cat([u.long() for u, _ in ends]), "dst": torch.cat([v.long() for _, v in ends]),
                "ndata": {k: torch.cat([g.ndata[k] for g in graphs]) for k in graphs[0].ndata},
                "edata": {k: torch.cat([g.edata[k] for g in graphs]) for k in graphs[0].edata},
            }
        return self._packed


def _ranges(starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``cat([arange(s, s + n) for s, n in zip(starts, lengths)])`` without a loop."""
    total = int(lengths.sum())
    offsets = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
    return offsets + torch.arange(total, dtype=torch.long)
