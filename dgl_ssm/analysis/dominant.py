r"""Node signals against the dominant eigenspace of the normalised adjacency (over-smoothing along :math:`D^{1/2}\mathbf 1`).

With self-loops, :math:`\hat A = D^{-1/2} A D^{-1/2}` (GCN's propagation,
``GraphConv(norm="both")``) has eigenvalue 1 once per connected component,
with eigenvector :math:`D^{1/2}\mathbf 1_c` (degrees counting the self-loop),
and every other eigenvalue inside :math:`(-1, 1)`. Repeated propagation keeps
only that component: for the symmetric normalisation over-smoothing runs along
:math:`D^{1/2}\mathbf 1`, not the constant vector, so the distance from the
mean row (:func:`~dgl_ssm.analysis.mean_deviation`) does not vanish even when
the signal is fully smoothed. Keriven (2025), "Backward Oversmoothing: why is it
hard to train deep Graph Neural Networks?", arXiv:2505.16736, takes a
propagation matrix with dominant eigenvalue 1 and measures the part of the
forward features and of the backpropagated errors orthogonal to its dominant
eigenvector; :func:`orthogonal_ratio` is that measure, relative to the norm.
"""
from __future__ import annotations

import numpy as np
import torch
from dgl import DGLError
from scipy.sparse.csgraph import connected_components

__all__ = ["dominant_eigenvectors", "orthogonal_ratio", "orthogonal_part"]


def _components(graph) -> tuple:
    """Connected components of the graph taken as undirected: ``(count, (N,) labels)``."""
    adj = graph.adj_external(scipy_fmt="csr")
    return connected_components(adj, directed=True, connection="weak")


def dominant_eigenvectors(graph, propagation: str = "symmetric") -> tuple:
    r"""Orthonormal basis of :math:`\hat A`'s eigenvalue-1 eigenspace, one vector per connected component.

    Parameters
    ----------
    graph : dgl.DGLGraph
        Symmetric (every edge in both directions), with a self-loop on every
        node, as GCN's propagation takes it (a batch is fine: its graphs are
        components).
    propagation : str
        ``"symmetric"``: GCN's :math:`D^{-1/2} A D^{-1/2}`, eigenvector
        :math:`D^{1/2}\mathbf 1_c`; ``"stochastic"``: a symmetric stochastic
        propagation (e.g. :class:`~dgl_ssm.models.convs.DoublyStochasticConv`,
        Keriven 2025's assumption), eigenvector :math:`\mathbf 1_c`.

    Returns
    -------
    tuple
        ``(labels, vectors)``: ``labels`` the component of each node, int64
        tensor ``(N,)``; ``vectors`` the float64 tensor ``(N,)`` of
        :math:`\sqrt{d_i} / \sqrt{\sum_{j \in c(i)} d_j}`: restricted to a
        component, the unit eigenvector :math:`D^{1/2}\mathbf 1_c / \lVert D^{1/2}\mathbf 1_c \rVert`.

    Raises
    ------
    DGLError
        If a node has no self-loop (then :math:`\hat A` of a bipartite component
        also has eigenvalue :math:`-1`, and the basis above is incomplete): add
        them with ``dgl.add_self_loop(graph)``.
    ValueError
        On another ``propagation``.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1])))   # a path: degrees 2, 3, 2
    >>> labels, u = dominant_eigenvectors(g)
    >>> labels.tolist(), [round(float(x) ** 2 * 7, 6) for x in u]
    ([0, 0, 0], [2.0, 3.0, 2.0])
    """
    if propagation not in ("symmetric", "stochastic"):
        raise ValueError(f"propagation must be 'symmetric' or 'stochastic', got {propagation!r}")
    src, dst = graph.edges()
    loops = torch.zeros(graph.num_nodes(), dtype=torch.bool)
    loops[src[src == dst].cpu()] = True
    if not bool(loops.all()):
        raise DGLError(f"{int((~loops).sum())} of {graph.num_nodes()} nodes have no self-loop; the dominant "
                       "eigenspace of D^-1/2 A D^-1/2 is then not one vector per component. "
                       "Fix: graph = dgl.add_self_loop(dgl.remove_self_loop(graph))")
    count, labels = _components(graph)
    labels = torch.from_numpy(labels.astype(np.int64))
    degrees = graph.in_degrees().cpu().to(torch.float64)
    if propagation == "stochastic":
        degrees = torch.ones_like(degrees)
    totals = torch.zeros(count, dtype=torch.float64).index_add_(0, labels, degrees)
    return labels, degrees.sqrt() / totals[labels].sqrt()


def orthogonal_part(graph, feat: torch.Tensor, propagation: str = "symmetric") -> torch.Tensor:
    r""":math:`(I - \Pi) H`, the part of the node signal :math:`H` outside :math:`\hat A`'s dominant eigenspace.

    :math:`\Pi = \sum_c u_c u_c^\top` with :math:`u_c` the unit dominant
    eigenvectors of :func:`dominant_eigenvectors`.

    Parameters
    ----------
    graph : dgl.DGLGraph
        As in :func:`dominant_eigenvectors`.
    feat : torch.Tensor
        Node signal, shape ``(N, *)`` (trailing dimensions are flattened).
    propagation : str
        As in :func:`dominant_eigenvectors`.

    Returns
    -------
    torch.Tensor
        Shape ``(N, prod(*))``, in ``feat``'s dtype, on its device.

    Raises
    ------
    DGLError
        As :func:`dominant_eigenvectors`; or if ``feat`` does not have one row per node.

    Examples
    --------
    On a path of three nodes with self-loops, :math:`\hat A`'s dominant eigenvector is :math:`D^{1/2}\mathbf 1`
    (degrees 2, 3, 2): that signal has no orthogonal part, a constant one keeps some.

    >>> import dgl, torch
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1])))
    >>> smooth = g.in_degrees().double().sqrt()[:, None]
    >>> float(orthogonal_part(g, smooth).norm()) < 1e-12
    True
    >>> orthogonal_part(g, torch.ones(3, 2, dtype=torch.float64)).shape
    torch.Size([3, 2])
    """
    if feat.shape[0] != graph.num_nodes():
        raise DGLError(f"feat has {feat.shape[0]} rows but the graph has {graph.num_nodes()} nodes: pass one row per node")
    labels, u = dominant_eigenvectors(graph, propagation)
    h = feat.reshape(feat.shape[0], -1)
    labels, u = labels.to(h.device), u.to(device=h.device, dtype=h.dtype)
    count = int(labels.max()) + 1 if len(labels) else 0
    coeff = torch.zeros(count, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, labels, u[:, None] * h)
    return h - u[:, None] * coeff[labels]


def orthogonal_ratio(graph, feat: torch.Tensor, propagation: str = "symmetric") -> float:
    r""":math:`\lVert (I - \Pi) H \rVert_F / \lVert H \rVert_F`: how much of :math:`H` is not yet smoothed.

    1 for a signal orthogonal to every :math:`D^{1/2}\mathbf 1_c` (and, in
    expectation, close to 1 for i.i.d. noise on a large graph); 0 for a fully
    smoothed signal :math:`H = \sum_c u_c \gamma_c^\top`. Scale-free, so it
    separates "smoothed" from "vanished" (a vanishing :math:`\lVert H \rVert`
    with a ratio near 1 is not over-smoothing). Source: the backward and forward
    over-smoothing of Keriven (2025), arXiv:2505.16736, measured against
    :math:`\hat A`'s dominant eigenvector.

    Parameters
    ----------
    graph : dgl.DGLGraph
        As in :func:`dominant_eigenvectors`.
    feat : torch.Tensor
        Node signal (features, or a backpropagated error :math:`\partial\mathcal L/\partial H_\ell`), shape ``(N, *)``.
    propagation : str
        As in :func:`dominant_eigenvectors`.

    Returns
    -------
    float
        In :math:`[0, 1]`; ``nan`` when :math:`H = 0`.

    Raises
    ------
    DGLError
        As :func:`orthogonal_part`.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1])))
    >>> smooth = g.in_degrees().double().sqrt()[:, None] * torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    >>> round(orthogonal_ratio(g, smooth), 12), round(orthogonal_ratio(g, torch.tensor([[1.], [0.], [-1.]])), 12)
    (0.0, 1.0)
    """
    norm = float(torch.linalg.vector_norm(feat.detach().to(torch.float64)))
    if norm == 0.0:
        return float("nan")
    return float(torch.linalg.vector_norm(orthogonal_part(graph, feat.detach().to(torch.float64), propagation))) / norm
