"""Graph property prediction (Corso et al. 2020, PNA; as used by Gravina et al. 2023, A-DGN).

Three tasks on the same synthetic graphs: single-source shortest paths
(``"sssp"``, node-level), node eccentricity (``"eccentricity"``, node-level)
and graph diameter (``"diameter"``, graph-level). The graphs (25-35 nodes) are
drawn from a mixture of families, then randomly rewired by edge toggling.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import dgl
import networkx as nx
import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from .base import GraphListDataset

__all__ = ["GraphPropertyDataset", "generate_graph", "graph_targets", "GRAPH_PROPERTY_TASKS", "FAMILIES", "TARGET_SCALES"]

#: task -> (level, name of the stored target)
GRAPH_PROPERTY_TASKS = {"diameter": "graph", "sssp": "node", "eccentricity": "node"}

#: graph family -> mixture probability (Corso et al. 2020, Appendix)
FAMILIES = {
    "erdos_renyi": 0.2,
    "barabasi_albert": 0.2,
    "grid": 0.05,
    "caveman": 0.05,
    "tree": 0.15,
    "ladder": 0.05,
    "line": 0.05,
    "star": 0.05,
    "caterpillar": 0.1,
    "lobster": 0.1,
}

_DEFAULT_SIZES = (5120, 640, 1280)
_FORMAT_VERSION = 1
#: how targets are scaled: by the training maximum of the target, or not at all (hops)
TARGET_SCALES = ("train_max", "raw")


def _factor(rng, lo: int, hi: int, a: int) -> int:
    """A random ``b`` with ``lo <= a * b <= hi``."""
    return int(rng.integers(-(-lo // a), hi // a + 1))


def _tree_edges(rng, n: int, start: int = 1, parents: Optional[Tuple[int, int]] = None):
    """Attach nodes ``start..n-1`` each to a random earlier node, or to one in ``range(*parents)``."""
    v = np.arange(start, n)
    lo, hi = parents if parents is not None else (np.zeros_like(v), v)
    return list(zip(rng.integers(lo, hi, size=len(v)).tolist(), v.tolist()))


def _family_edges(family: str, rng, lo: int, hi: int) -> Tuple[int, list]:
    """Number of nodes and undirected edge list of one graph of ``family``."""
    n = int(rng.integers(lo, hi + 1))
    seed = int(rng.integers(2**31))
    if family == "erdos_renyi":
        g = nx.gnp_random_graph(n, float(rng.uniform(0.05, 0.25)), seed=seed)
    elif family == "barabasi_albert":
        g = nx.barabasi_albert_graph(n, int(rng.integers(1, 5)), seed=seed)
    elif family == "grid":
        rows = int(rng.integers(2, 6))
        g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, _factor(rng, lo, hi, rows)))
    elif family == "caveman":
        k = int(rng.integers(3, 7))
        g = nx.connected_caveman_graph(_factor(rng, lo, hi, k), k)
    elif family == "ladder":
        g = nx.ladder_graph(_factor(rng, lo, hi, 2))
    elif family == "line":
        g = nx.path_graph(n)
    elif family == "star":
        g = nx.star_graph(n - 1)
    elif family == "tree":
        return n, _tree_edges(rng, n)
    elif family in ("caterpillar", "lobster"):
        spine = int(rng.integers(max(2, n // 4), n // 2 + 1))
        edges = [(i, i + 1) for i in range(spine - 1)]
        if family == "caterpillar":
            return n, edges + _tree_edges(rng, n, spine, (0, spine))
        legs = int(rng.integers(spine + 1, n))  # first-level legs on the spine, second-level on the legs
        return n, edges + _tree_edges(rng, legs, spine, (0, spine)) + _tree_edges(rng, n, legs, (spine, legs))
    else:
        raise ValueError(f"unknown graph family {family!r}; known: {', '.join(FAMILIES)}")
    return g.number_of_nodes(), list(g.edges())


def generate_graph(rng: np.random.Generator, n_range: Tuple[int, int] = (25, 35), toggle: float = 0.1) -> Tuple[np.ndarray, int]:
    """One random graph of the PNA mixture, as a symmetric 0/1 adjacency matrix.

    The family is drawn from :data:`FAMILIES`. Then every existing edge is
    removed with probability ``toggle`` and every absent pair is added with
    probability ``toggle * E / (P - E)`` (``E`` edges, ``P`` node pairs), which
    keeps the expected number of edges. Finally every isolated node is joined to
    a random other node, so the graph may be disconnected but has no isolated node.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all randomness (the graph is a function of its state).
    n_range : (int, int)
        Inclusive range of node counts.
    toggle : float
        Fraction of edges toggled.

    Returns
    -------
    (numpy.ndarray, str)
        ``(N, N)`` boolean adjacency (no self-loops) and the family name.
    """
    names = list(FAMILIES)
    family = names[int(rng.choice(len(names), p=np.array([FAMILIES[k] for k in names])))]
    n, edges = _family_edges(family, rng, *n_range)
    adj = np.zeros((n, n), dtype=bool)
    if edges:
        e = np.asarray(edges)
        adj[e[:, 0], e[:, 1]] = adj[e[:, 1], e[:, 0]] = True
    iu = np.triu_indices(n, 1)
    present = adj[iu]
    num_edges, num_pairs = present.sum(), present.size
    p_add = toggle * num_edges / max(num_pairs - num_edges, 1)
    flip = rng.random(present.size) < np.where(present, toggle, p_add)
    present = present ^ flip
    adj[:] = False
    adj[iu] = present
    adj |= adj.T
    for v in np.flatnonzero(~adj.any(1)):
        u = int(rng.integers(n - 1))
        u += u >= v
        adj[u, v] = adj[v, u] = True
    return adj, family


def graph_targets(adj: np.ndarray, source: int) -> Tuple[np.ndarray, np.ndarray, float]:
    """SSSP distances from ``source``, eccentricities and the diameter of an unweighted graph.

    Unreachable nodes get SSSP distance 0; eccentricity is taken over the
    reachable nodes only; the diameter is the largest finite distance
    (over all components).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, float)
        ``(N,)`` SSSP, ``(N,)`` eccentricity, diameter.

    Examples
    --------
    >>> import numpy as np
    >>> adj = np.zeros((4, 4), bool); adj[0, 1] = adj[1, 0] = adj[2, 3] = adj[3, 2] = True
    >>> sssp, ecc, diam = graph_targets(adj, 0)
    >>> sssp.tolist(), ecc.tolist(), diam
    ([0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], 1.0)
    """
    dist = shortest_path(csr_matrix(adj), directed=False, unweighted=True)
    finite = np.where(np.isfinite(dist), dist, 0.0)
    return finite[source], finite.max(1), float(finite.max())


class GraphPropertyDataset(GraphListDataset):
    r"""Graph property prediction: SSSP, eccentricity and diameter (PNA benchmark).

    7,040 random graphs (5,120 / 640 / 1,280 train / validation / test) of
    25-35 nodes, drawn from a mixture of families (Erdős–Rényi 0.2,
    Barabási–Albert 0.2, grid 0.05, caveman 0.05, tree 0.15, ladder 0.05,
    line 0.05, star 0.05, caterpillar 0.1, lobster 0.1) and randomly rewired
    (:func:`generate_graph`). The graphs of all three tasks are the same: they
    are generated once per ``seed`` and cached (with all targets) under
    ``<data root>/graph_property/<hash>/graphs.bin``.

    Node features ``ndata['feat']`` ``(N, 2)`` float32: column 0 marks one
    random source node (one-hot), column 1 is :math:`U(0, 1)` noise. Targets
    come from all-pairs shortest paths (:func:`graph_targets`) and are divided
    by the maximum of the same target over the **training** split
    (``target_scale="train_max"``, as in the later code of the same group:
    SONAR, ``GraphPropPred/utils/gpp_dataset.py``), or left in hops
    (``target_scale="raw"``). The code of Gravina et al. (2023) intends to
    normalise but never does (its ``pre_transform`` is set after
    ``InMemoryDataset.__init__`` has processed the data), so the baseline rows
    copied from it are log10 MSE on raw targets. Adding ``2 log10(scale)`` to
    a scaled score converts the error, not the training: a model trained on
    scaled targets is a different fit.

    ================  ======  ====================  ==============
    task              level   label of item i       metric
    ================  ======  ====================  ==============
    ``sssp``          node    ``(N, 1)`` float32    log10 MSE
    ``eccentricity``  node    ``(N, 1)`` float32    log10 MSE
    ``diameter``      graph   ``(1,)`` float32      log10 MSE
    ================  ======  ====================  ==============

    Source: Corso et al. (2020), "Principal Neighbourhood Aggregation for Graph
    Nets", NeurIPS; task setup of Gravina et al. (2023), "Anti-Symmetric DGN",
    ICLR.

    Parameters
    ----------
    task : str
        ``"sssp"``, ``"eccentricity"`` or ``"diameter"``.
    split : str or None
        ``"train"``, ``"val"``, ``"test"``, or ``None`` for all graphs.
    seed : int
        Seed of the generator; the graphs are a deterministic function of it.
    root : path, optional
        Data root (see :func:`dgl_ssm.data.paths.data_root`).
    pre_transform : callable, optional
        Applied once to all graphs and cached per ``cache_key``
        (see :mod:`dgl_ssm.data.pretransform`), e.g. k-hop rewiring.
    sizes : (int, int, int)
        Train/validation/test graph counts (smaller values for tests).
    target_scale : str
        ``"train_max"`` (targets divided by the training maximum) or ``"raw"``
        (targets in hops, ``scale`` is 1).

    Attributes
    ----------
    scale : float
        What the targets were divided by: the training maximum, or 1 (raw).
    level : str
        ``"node"`` or ``"graph"``.

    Raises
    ------
    ValueError
        On an unknown task, split or ``target_scale``.

    Examples
    --------
    >>> import tempfile
    >>> ds = GraphPropertyDataset("sssp", "train", sizes=(8, 2, 2), root=tempfile.mkdtemp())
    >>> g, y = ds[0]
    >>> g.ndata['feat'].shape[1], y.shape[1]
    (2, 1)
    """

    default_loss, default_metric = "mse", "log10_mse"

    def __init__(
        self,
        task: str,
        split: Optional[str] = "train",
        seed: int = 0,
        root: Optional[os.PathLike] = None,
        pre_transform=None,
        sizes: Tuple[int, int, int] = _DEFAULT_SIZES,
        target_scale: str = "train_max",
    ):
        if target_scale not in TARGET_SCALES:
            raise ValueError(f"target_scale must be one of {', '.join(TARGET_SCALES)}, got {target_scale!r}")
        if task not in GRAPH_PROPERTY_TASKS:
            raise ValueError(f"unknown graph property task {task!r}; known: {', '.join(GRAPH_PROPERTY_TASKS)}")
        if len(sizes) != 3 or min(sizes) < 1:
            raise ValueError(f"sizes must be three positive split sizes, got {sizes!r}")
        self.task, self.seed, self.sizes = task, int(seed), tuple(int(s) for s in sizes)
        self.level = GRAPH_PROPERTY_TASKS[task]
        self.default_readout = "max" if self.level == "graph" else None  # the diameter is a maximum over nodes
        super().__init__("graph_property", split, root, (_FORMAT_VERSION, self.seed, self.sizes), pre_transform)
        train = self.split_of == 0
        self.target_scale = target_scale
        self.scale = float(self.targets[task][train].max()) if target_scale == "train_max" else 1.0

    def process(self):
        rng = np.random.default_rng(self.seed)
        diam = []
        for _ in range(sum(self.sizes)):
            adj, _family = generate_graph(rng)
            n = adj.shape[0]
            source = int(rng.integers(n))
            feat = np.stack([np.eye(n, dtype=np.float32)[source], rng.random(n, dtype=np.float32)], 1)
            sssp, ecc, diameter = graph_targets(adj, source)
            src, dst = np.nonzero(adj)
            g = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=n)
            g.ndata["feat"] = torch.from_numpy(feat)
            g.ndata["sssp"] = torch.from_numpy(sssp).float()
            g.ndata["eccentricity"] = torch.from_numpy(ecc).float()
            self.graphs.append(g)
            diam.append(diameter)
        self.split_of = torch.repeat_interleave(torch.arange(3), torch.tensor(self.sizes))
        self._set_targets(torch.tensor(diam, dtype=torch.float32))

    def _set_targets(self, diameter: torch.Tensor) -> None:
        """Keep node targets aside (so items carry only ``feat``) and record per-graph maxima."""
        self.node_targets = {k: [g.ndata.pop(k) for g in self.graphs] for k in ("sssp", "eccentricity")}
        self.targets = {k: torch.stack([t.max() for t in v]) for k, v in self.node_targets.items()}
        self.targets["diameter"] = diameter

    def cached_labels(self) -> dict:
        return {"diameter": self.targets["diameter"], "split": self.split_of}

    def save(self):
        for k, values in self.node_targets.items():  # saved with the graphs, kept aside otherwise
            for g, t in zip(self.graphs, values):
                g.ndata[k] = t
        try:
            super().save()
        finally:
            for g in self.graphs:
                for k in self.node_targets:
                    g.ndata.pop(k)

    def restore_labels(self, labels: dict) -> None:
        self.split_of = labels["split"]
        self._set_targets(labels["diameter"])

    def item_label(self, index: int) -> torch.Tensor:
        if self.level == "graph":
            return self.targets["diameter"][index : index + 1] / self.scale
        return self.node_targets[self.task][index].unsqueeze(1) / self.scale

    def item_labels(self, indices: torch.Tensor) -> torch.Tensor:
        # vectorised item_label (elementwise division: the same numbers as item by item)
        if self.level == "graph":
            return self.targets["diameter"][indices].unsqueeze(1) / self.scale
        targets = self.node_targets[self.task]
        return torch.cat([targets[int(i)] for i in indices]).unsqueeze(1) / self.scale

    @property
    def num_features(self) -> int:
        return 2

    @property
    def num_targets(self) -> int:
        return 1
