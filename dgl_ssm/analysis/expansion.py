r"""Spectral gap: how well a graph expands, the spectral side of over-squashing's topology.

The spectral gap is the second-smallest eigenvalue :math:`\lambda_1` of the
normalised Laplacian :math:`\mathcal L = I - D^{-1/2} A D^{-1/2}` of the
undirected simple graph (:math:`0 = \lambda_0 \le \lambda_1 \le \dots \le 2`).
Cheeger's inequality, :math:`\phi_G^2 / 2 \le \lambda_1 \le 2 \phi_G`, ties it
to the graph's conductance :math:`\phi_G`, its narrowest cut relative to the
edge volume the cut separates (Spielman, "Spectral Graph Theory" lecture notes,
2012, Lecture 6, "Conductance, the Normalized Laplacian, and Cheeger's
Inequality"; only its abstract was readable offline, so the constants are the
inequality's usual statement, not checked against the notes); a small gap means
a bottleneck that messages must squeeze through. Rewiring
methods against over-squashing raise it (Banerjee et al. 2022,
arXiv:2208.03471, measure their rewirings by it, as their repository
kedar2/Oversquashing does in ``plots.py``); k-hop rewiring
(:class:`~dgl_ssm.transforms.KHopRewire`) does too, in the molecules measured
by ``diagnostic=lrgb_resistance``.

Computed densely in float64 per graph (``numpy.linalg.eigvalsh``, :math:`O(n^3)`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ._adjacency import simple_adjacency

__all__ = ["spectral_gap"]

#: the largest graph (nodes) whose dense normalised Laplacian is decomposed by default (512 MiB in float64)
DEFAULT_MAX_NODES = 8192


def _normalized_laplacian(adj: sp.csr_matrix) -> np.ndarray:
    """:math:`I - D^{-1/2} A D^{-1/2}` of a symmetric 0/1 adjacency (dense; an isolated node's row is 0)."""
    n = adj.shape[0]
    deg = np.asarray(adj.sum(axis=1)).ravel()
    scale = np.divide(1.0, np.sqrt(deg), out=np.zeros(n), where=deg > 0)
    lap = -(sp.diags(scale) @ adj @ sp.diags(scale)).toarray()
    lap[np.diag_indices(n)] = (deg > 0).astype(float)
    return lap


def spectral_gap(graph, per_graph: bool = False, max_nodes: int = DEFAULT_MAX_NODES) -> torch.Tensor:
    r"""The spectral gap :math:`\lambda_1` of the normalised Laplacian (module docstring), per graph.

    0 for a disconnected graph (one zero eigenvalue per component), and
    ``nan`` for a graph of fewer than two nodes (no second eigenvalue).

    Parameters
    ----------
    graph : dgl.DGLGraph
        A homogeneous graph or a batch (taken as undirected and simple: every
        edge in either direction, once; self-loops dropped).
    per_graph : bool
        One gap per graph of the batch; otherwise the gap of the whole input
        as one graph (0 for a batch of two or more graphs: it is disconnected).
    max_nodes : int
        The largest graph decomposed (default 8192).

    Returns
    -------
    torch.Tensor
        float64 on the CPU, 0-dim, or shape ``(batch_size,)``.

    Raises
    ------
    dgl.DGLError
        If the graph is heterogeneous.
    ValueError
        If a graph has more than ``max_nodes`` nodes.

    Examples
    --------
    >>> import dgl, math
    >>> cycle = dgl.graph(([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]))
    >>> round(float(spectral_gap(cycle)), 6) == round(1 - math.cos(2 * math.pi / 6), 6)   # 1 - cos(2π/n)
    True
    >>> spectral_gap(dgl.batch([cycle, cycle]), per_graph=True).tolist() == [spectral_gap(cycle).item()] * 2
    True
    """
    adj = simple_adjacency(graph, "the spectral gap")
    sizes = graph.batch_num_nodes().cpu().numpy() if per_graph else np.array([graph.num_nodes()])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    gaps = []
    for i, n in enumerate(sizes):
        if n > max_nodes:
            raise ValueError(f"a graph has {n} nodes, more than max_nodes={max_nodes} for a dense eigendecomposition "
                             f"({8 * n * n / 2**20:.0f} MiB); pass max_nodes={n} if memory allows, or measure a subgraph")
        if n < 2:
            gaps.append(float("nan"))
            continue
        block = adj[offsets[i] : offsets[i + 1]][:, offsets[i] : offsets[i + 1]]  # edges never cross graphs
        gaps.append(max(float(np.linalg.eigvalsh(_normalized_laplacian(block))[1]), 0.0))  # -1e-16 when disconnected
    out = torch.tensor(gaps, dtype=torch.float64)
    return out if per_graph else out[0]
