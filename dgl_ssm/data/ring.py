"""RingTransfer: move a label across a cycle (Di Giovanni et al. 2023; Gutteridge et al. 2023)."""
from __future__ import annotations

import os
from typing import Optional

import dgl
import torch

from .base import GraphListDataset

__all__ = ["RingTransferDataset", "ring_graph"]


def ring_graph(n: int) -> dgl.DGLGraph:
    """The cycle :math:`0 - 1 - \\dots - (n-1) - 0`, both edge directions, no self-loops.

    Examples
    --------
    >>> ring_graph(5).num_edges()
    10
    """
    if n < 3:
        raise ValueError(f"a ring needs at least 3 nodes, got {n}")
    src = torch.arange(n)
    dst = (src + 1) % n
    return dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=n)


class RingTransferDataset(GraphListDataset):
    r"""RingTransfer: predict at node 0 the label stored at the opposite node of a cycle.

    Every graph is a cycle of ``num_nodes`` nodes. Node features
    ``ndata['feat']`` ``(n, num_classes)`` are all ones, except node 0 (all
    zeros: the target node) and node ``n // 2`` (the one-hot of the label), the
    node farthest from node 0. The label must travel :math:`n/2` hops, so models
    need at least ``n // 2`` message-passing layers (use ``num_layers = n // 2``)
    and its signal is squashed along the way.

    The prediction is read at node 0 of each graph: ``ndata['target_mask']``
    (bool, true at node 0 only) marks it. A node-level model (no readout) gives
    ``(N, C)`` outputs for a batched graph; ``out[bg.ndata['target_mask']]`` is
    ``(B, C)`` in graph order, to compare with the ``(B,)`` labels (cross-entropy,
    accuracy). The trainer in :mod:`dgl_ssm.train` does this when the dataset's
    ``target_mask`` attribute is true.

    Classes are balanced (``num_graphs / num_classes`` graphs per class, up to
    rounding) and the split is a seeded random 80/10/10 permutation.

    Sources: Di Giovanni et al. (2023), "On Over-Squashing in Message Passing
    Neural Networks", ICML; Gutteridge et al. (2023), "DRew: Dynamically Rewired
    Message Passing with Delay", ICML.

    Parameters
    ----------
    num_nodes : int
        Ring size :math:`n \ge 3`.
    num_graphs : int
        Number of graphs (all splits).
    num_classes : int
        Number of classes :math:`C`.
    seed : int
        Seed of the labels and the split.
    split : str or None
        ``"train"``, ``"val"``, ``"test"`` or ``None`` (all graphs).
    root : path, optional
        Data root (caches of pre-transforms; the rings themselves are cheap and
        are generated in memory).
    pre_transform : callable, optional
        Applied once and cached per ``cache_key`` (see :mod:`dgl_ssm.data.pretransform`).

    Raises
    ------
    ValueError
        If ``num_nodes < 3``, ``num_classes < 2`` or ``num_graphs < 10``.

    Examples
    --------
    >>> ds = RingTransferDataset(6, num_graphs=20, num_classes=2, split="train")
    >>> g, y = ds[0]
    >>> len(ds), g.num_nodes(), tuple(g.ndata['feat'].shape), int(g.ndata['target_mask'].sum())
    (16, 6, (6, 2), 1)
    """

    level = "graph"
    target_mask = True
    default_loss, default_metric = "ce", "accuracy"

    def __init__(
        self,
        num_nodes: int,
        num_graphs: int = 2000,
        num_classes: int = 5,
        seed: int = 0,
        split: Optional[str] = None,
        root: Optional[os.PathLike] = None,
        pre_transform=None,
    ):
        if num_classes < 2 or num_graphs < 10:
            raise ValueError(f"need num_classes >= 2 and num_graphs >= 10, got {num_classes} and {num_graphs}")
        self.num_nodes, self.num_graphs, self.num_classes, self.seed = int(num_nodes), int(num_graphs), int(num_classes), int(seed)
        ring_graph(self.num_nodes)  # validate before DGLDataset starts
        key = (1, self.num_nodes, self.num_graphs, self.num_classes, self.seed)
        super().__init__("ring_transfer", split, root, key, pre_transform)

    def has_cache(self) -> bool:  # generation is cheaper than loading
        return False

    def save(self):
        pass

    def process(self):
        gen = torch.Generator().manual_seed(self.seed)
        n, c = self.num_nodes, self.num_classes
        self.labels = torch.arange(self.num_graphs) % c
        self.labels = self.labels[torch.randperm(self.num_graphs, generator=gen)]
        perm = torch.randperm(self.num_graphs, generator=gen)
        n_train, n_val = int(0.8 * self.num_graphs), int(0.1 * self.num_graphs)
        self.split_of = torch.full((self.num_graphs,), 2, dtype=torch.long)
        self.split_of[perm[:n_train]] = 0
        self.split_of[perm[n_train : n_train + n_val]] = 1
        base = ring_graph(n)
        mask = torch.zeros(n, dtype=torch.bool)
        mask[0] = True
        for y in self.labels.tolist():
            g = base.clone()
            feat = torch.ones(n, c)
            feat[0] = 0.0
            feat[n // 2] = torch.nn.functional.one_hot(torch.tensor(y), c).float()
            g.ndata["feat"] = feat
            g.ndata["target_mask"] = mask.clone()
            self.graphs.append(g)

    def item_label(self, index: int) -> torch.Tensor:
        return self.labels[index]

    @property
    def num_features(self) -> int:
        return self.num_classes

    @property
    def num_targets(self) -> int:
        return self.num_classes
