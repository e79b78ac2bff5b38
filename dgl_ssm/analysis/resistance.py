r"""Effective resistance: the graph-topology side of over-squashing.

Treat every edge of the undirected simple graph as a unit resistor. The
effective resistance between nodes :math:`u` and :math:`v` is

.. math::
    R(u, v) = (e_u - e_v)^\top L^{+} (e_u - e_v) = L^+_{uu} + L^+_{vv} - 2 L^+_{uv},

with :math:`L = D - A` the graph Laplacian and :math:`L^+` its Moore-Penrose
pseudo-inverse; the commute time of a random walk between them is
:math:`2|\mathcal E|\, R(u, v)`. Di Giovanni et al. (2023), "On Over-Squashing
in Message Passing Neural Networks: The Impact of Width, Depth, and Topology",
ICML, Theorem 5.5, relate over-squashing between :math:`u` and :math:`v` to
this commute time, and measure a graph by its total effective resistance
:math:`\sum_{u,v} R(u, v)` (Ellens et al. 2011); the theorem's number and the
definition were read in the authors' repository (lrnzgiusti/on-oversquashing,
README.md, "The impact of topology"), not in the paper. Here the total is the
Kirchhoff index, over unordered pairs:

.. math::
    R_{tot}(G) = \sum_{u < v} R(u, v) = n\, \mathrm{tr}(L^+) = n \sum_{i:\,\lambda_i > 0} \frac{1}{\lambda_i}.

Adding edges never raises any :math:`R(u, v)` (Rayleigh's monotonicity law), so
rewiring (:class:`~dgl_ssm.transforms.KHopRewire`: every ring up to ``max_hop``
joined to the graph) lowers it: compare a graph with its rewiring.

Both functions work per connected component, densely in float64 (a component
of :math:`c` nodes costs :math:`O(c^3)` time and :math:`8c^2` bytes): molecules
and citation graphs, not graphs of millions of nodes.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components, laplacian

from ._adjacency import simple_adjacency

__all__ = ["resistance_distances", "total_effective_resistance"]

#: the largest connected component (nodes) whose dense pseudo-inverse is computed by default (512 MiB in float64)
DEFAULT_MAX_NODES = 8192


def _pinv_of_component(adj: sp.csr_matrix, nodes: np.ndarray, max_nodes: int) -> np.ndarray:
    """:math:`L^+` of the connected component ``nodes`` (dense float64): :math:`(L + J/c)^{-1} - J/c`."""
    c = len(nodes)
    if c > max_nodes:
        raise ValueError(f"a connected component has {c} nodes, more than max_nodes={max_nodes} for a dense "
                         f"pseudo-inverse ({8 * c * c / 2**20:.0f} MiB); pass max_nodes={c} if memory allows, "
                         "or measure a subgraph")
    lap = laplacian(adj[nodes][:, nodes]).toarray()
    return np.linalg.inv(lap + 1.0 / c) - 1.0 / c  # L + J/c is positive definite for a connected component


def resistance_distances(graph, target_nodes: Sequence[int], max_nodes: int = DEFAULT_MAX_NODES) -> torch.Tensor:
    r"""Effective resistances :math:`R(u, v)` from each target :math:`v` to every node :math:`u`.

    The graph is taken as undirected and simple (every edge a unit resistor,
    in either direction, once; self-loops dropped), like ``hop_distances``
    for symmetric graphs, and with the same shape, so the two can be compared
    pair by pair. Source: the module docstring (Di Giovanni et al. 2023, ICML,
    Theorem 5.5).

    Parameters
    ----------
    graph : dgl.DGLGraph
        A homogeneous graph, single or batched (nodes of other graphs, and of
        other connected components, are at infinite resistance).
    target_nodes : sequence of int
        The nodes :math:`v`, each in ``[0, N)``.
    max_nodes : int
        The largest connected component of a target whose dense pseudo-inverse
        is computed (default 8192: 512 MiB).

    Returns
    -------
    torch.Tensor
        float64, shape ``(len(target_nodes), N)``, on the CPU: 0 at the target,
        ``inf`` outside its connected component.

    Raises
    ------
    dgl.DGLError
        If the graph is heterogeneous.
    ValueError
        If a target is not a node of the graph, or its component has more than
        ``max_nodes`` nodes.

    Examples
    --------
    >>> import dgl
    >>> path = dgl.graph(([0, 1], [1, 2]))                # 0 - 1 - 2: two resistors in series
    >>> resistance_distances(path, [0]).tolist()
    [[0.0, 1.0, 2.0]]
    >>> triangle = dgl.graph(([0, 1, 2], [1, 2, 0]))     # 1 ohm parallel to 2 ohm: 2/3
    >>> round(float(resistance_distances(triangle, [0])[0, 1]), 4)
    0.6667
    """
    n = graph.num_nodes()
    targets = [int(v) for v in target_nodes]
    bad = [v for v in targets if not 0 <= v < n]
    if bad:
        raise ValueError(f"target node {bad[0]} is not a node of this graph (0..{n - 1}); pass node ids in range")
    adj = simple_adjacency(graph, "effective resistance")
    _, labels = connected_components(adj, directed=False)
    out = torch.full((len(targets), n), float("inf"), dtype=torch.float64)
    pinvs = {}
    for i, v in enumerate(targets):
        comp = int(labels[v])
        if comp not in pinvs:
            nodes = np.flatnonzero(labels == comp)
            pinvs[comp] = (nodes, _pinv_of_component(adj, nodes, max_nodes))
        nodes, pinv = pinvs[comp]
        j = int(np.searchsorted(nodes, v))
        diag = np.diagonal(pinv)
        row = np.maximum(diag[j] + diag - 2.0 * pinv[j], 0.0)  # rounding can leave -1e-16
        row[j] = 0.0
        out[i, torch.from_numpy(nodes)] = torch.from_numpy(row)
    return out


def total_effective_resistance(graph, per_graph: bool = False, max_nodes: int = DEFAULT_MAX_NODES) -> torch.Tensor:
    r"""Total effective resistance (Kirchhoff index) :math:`R_{tot} = \sum_{u<v} R(u, v) = n\,\mathrm{tr}(L^+)`.

    A lower total means shorter commute times between the graph's nodes, the
    topology's share of over-squashing (Di Giovanni et al. 2023, ICML,
    Theorem 5.5; module docstring). It is ``inf`` for a disconnected graph,
    and 0 for a single node.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A homogeneous graph or a batch (taken as undirected and simple).
    per_graph : bool
        Return one total per graph of the batch; otherwise their sum.
    max_nodes : int
        The largest graph whose dense pseudo-inverse is computed (default 8192).

    Returns
    -------
    torch.Tensor
        float64, 0-dim, or shape ``(batch_size,)``.

    Raises
    ------
    dgl.DGLError
        If the graph is heterogeneous.
    ValueError
        If a connected graph of the batch has more than ``max_nodes`` nodes.

    Examples
    --------
    >>> import dgl
    >>> path, cycle = dgl.graph(([0, 1, 2], [1, 2, 3])), dgl.graph(([0, 1, 2, 3], [1, 2, 3, 0]))
    >>> total_effective_resistance(dgl.batch([path, cycle]), per_graph=True).tolist()   # (n^3-n)/6, (n^3-n)/12
    [10.0, 5.0]
    """
    adj = simple_adjacency(graph, "effective resistance")
    _, labels = connected_components(adj, directed=False)
    sizes = graph.batch_num_nodes().cpu().numpy()
    totals = []
    start = 0
    for size in sizes:
        comps = np.unique(labels[start : start + size])
        if size <= 1:
            totals.append(0.0)
        elif len(comps) > 1:
            totals.append(float("inf"))
        else:
            nodes = np.arange(start, start + size)
            totals.append(float(size * np.trace(_pinv_of_component(adj, nodes, max_nodes))))
        start += size
    out = torch.tensor(totals, dtype=torch.float64)
    return out if per_graph else out.sum()
