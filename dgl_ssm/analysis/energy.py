"""Node-feature smoothness: Dirichlet energy, feature norm and the distance to the mean row.

All measurements take a (possibly batched) ``dgl.DGLGraph`` and node features
``feat`` of shape ``(N, ...)`` (trailing dimensions are flattened, so an
``(N, heads, d)`` attention output counts as ``(N, heads * d)``). With
``per_graph=True`` they return one value per graph of the batch, shape
``(batch_size,)``; otherwise a 0-dim tensor for the whole batch. Results are
tensors on ``feat``'s device and stay differentiable (usable as regularizers).
"""
from __future__ import annotations

import torch

__all__ = ["dirichlet_energy", "feature_norm", "mean_deviation", "signal_stats", "node_graph_ids"]


def node_graph_ids(graph) -> torch.Tensor:
    """Index of the graph of the batch that each node belongs to, shape ``(N,)`` (int64, on the graph's device).

    Examples
    --------
    >>> import dgl
    >>> g = dgl.batch([dgl.graph(([0], [1])), dgl.graph(([0, 1], [1, 2]))])
    >>> node_graph_ids(g).tolist()
    [0, 0, 1, 1, 1]
    """
    counts = graph.batch_num_nodes().to(graph.device)
    return torch.repeat_interleave(torch.arange(len(counts), device=graph.device), counts)


def _segment_sum(values: torch.Tensor, ids: torch.Tensor, size: int) -> torch.Tensor:
    return torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(0, ids, values)


def _reduce(graph, values: torch.Tensor, ids: torch.Tensor, per_graph: bool) -> torch.Tensor:
    """Sum ``values`` over everything (0-dim) or per graph of the batch (``(batch_size,)``)."""
    if not per_graph:
        return values.sum()
    return _segment_sum(values, ids, graph.batch_size)


def _flat(graph, feat: torch.Tensor) -> torch.Tensor:
    if feat.dim() < 1 or feat.shape[0] != graph.num_nodes():
        raise ValueError(f"feat must have one row per node ({graph.num_nodes()}), got shape {tuple(feat.shape)}")
    return feat.reshape(feat.shape[0], -1)


def dirichlet_energy(graph, feat: torch.Tensor, normalized: bool = False, per_graph: bool = False) -> torch.Tensor:
    r"""Dirichlet energy of node features: how far they are from constant on connected nodes.

    Unnormalized (default), as in Rusch, Bronstein & Mishra (2023), "A Survey on
    Oversmoothing in Graph Neural Networks", arXiv:2303.10993, and Arroyo et
    al. (2025), arXiv:2502.10818, Eq. 11:

    .. math::
        E(H) = \frac{1}{N} \sum_{(u, v) \in \mathcal{E}} \lVert h_u - h_v \rVert_2^2

    summed over the DGL edges: an undirected edge stored in both directions
    counts twice (so :math:`E = \tfrac{2}{N}\operatorname{tr}(H^\top L H)` with
    :math:`L = D - A`), and self-loops add 0.

    Normalized (``normalized=True``; Cai & Wang 2020, arXiv:2006.13318):

    .. math::
        \tilde E(H) = \operatorname{tr}\!\left(H^\top \big(I - D^{-1/2} A D^{-1/2}\big) H\right)
        = \sum_v \lVert h_v \rVert^2 - \sum_{(u, v) \in \mathcal{E}}
          \frac{\langle h_u, h_v \rangle}{\sqrt{d_u d_v}}

    *not* divided by :math:`N`. :math:`A_{vu}` is the number of edges
    :math:`u \to v` and :math:`d_v` the **in-degree** of :math:`v`, counting
    self-loops (for the symmetric graphs message passing uses, in- and
    out-degrees agree and this is the symmetric normalized Laplacian; for
    GCN's :math:`\hat A` add self-loops first). A node of degree 0 gets a zero
    row and column, i.e. the operator is :math:`D^{-1/2}(D - A)D^{-1/2}`
    (networkx's ``normalized_laplacian_matrix`` convention), so isolated
    nodes contribute 0 instead of :math:`\lVert h_v \rVert^2`.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph or a batch of graphs (``dgl.batch``).
    feat : torch.Tensor
        Node features :math:`H`, shape ``(N, d)`` or ``(N, *)`` (flattened).
    normalized : bool
        Use the degree-normalized energy above.
    per_graph : bool
        Return one value per graph of the batch, each graph with its own
        :math:`N` (and :math:`\mathcal{E}`); otherwise the energy of the whole
        batch as one graph (total edge sum over the total :math:`N`).

    Returns
    -------
    torch.Tensor
        0-dim, or shape ``(batch_size,)`` with ``per_graph=True``; the dtype
        and device of ``feat``. A graph with 0 nodes has energy 0.

    Raises
    ------
    ValueError
        If ``feat`` does not have one row per node.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [1, 0]))          # one undirected edge
    >>> dirichlet_energy(g, torch.tensor([[0.], [2.]]))   # (4 + 4) / 2
    tensor(4.)
    >>> b = dgl.batch([g, g])
    >>> dirichlet_energy(b, torch.tensor([[0.], [2.], [1.], [1.]]), per_graph=True)
    tensor([4., 0.])
    """
    h = _flat(graph, feat)
    src, dst = graph.edges()
    edge_ids = torch.repeat_interleave(
        torch.arange(graph.batch_size, device=h.device), graph.batch_num_edges().to(h.device)
    )
    node_ids = node_graph_ids(graph).to(h.device)
    if not normalized:
        diff = (h[src] - h[dst]).pow(2).sum(-1)
        total = _reduce(graph, diff, edge_ids, per_graph)
        if not per_graph:
            return total / max(graph.num_nodes(), 1)
        return total / graph.batch_num_nodes().to(h.device).clamp(min=1).to(h.dtype)
    deg = graph.in_degrees().to(h.device, h.dtype)
    inv_sqrt = torch.where(deg > 0, deg.clamp(min=1).rsqrt(), torch.zeros_like(deg))
    node_term = h.pow(2).sum(-1) * (deg > 0).to(h.dtype)
    edge_term = (h[src] * h[dst]).sum(-1) * inv_sqrt[src] * inv_sqrt[dst]
    return _reduce(graph, node_term, node_ids, per_graph) - _reduce(
        graph, edge_term, edge_ids, per_graph
    )


def feature_norm(graph, feat: torch.Tensor, per_graph: bool = False) -> torch.Tensor:
    r"""Frobenius norm :math:`\lVert H \rVert_F` of the node features (per graph of a batch).

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph or a batch of graphs.
    feat : torch.Tensor
        Node features, shape ``(N, *)``.
    per_graph : bool
        Return :math:`\lVert H_g \rVert_F` for each graph :math:`g` of the batch.

    Returns
    -------
    torch.Tensor
        0-dim, or shape ``(batch_size,)``.

    Raises
    ------
    ValueError
        If ``feat`` does not have one row per node.

    Examples
    --------
    >>> import dgl, torch
    >>> feature_norm(dgl.graph(([0], [1])), torch.tensor([[3.], [4.]]))
    tensor(5.)
    """
    h = _flat(graph, feat)
    squares = h.pow(2).sum(-1)
    return _reduce(graph, squares, node_graph_ids(graph).to(h.device), per_graph).sqrt()


def mean_deviation(graph, feat: torch.Tensor, per_graph: bool = False) -> torch.Tensor:
    r"""Over-smoothing measure :math:`\mu(H) = \lVert H - \mathbf{1}\gamma^\top \rVert_F`, :math:`\gamma` the mean row.

    The distance of the features from the space of node-constant features;
    it is 0 exactly when all nodes of a graph carry the same vector. Source:
    attributed to Park & Kim (2024), "Taming Gradient Oversmoothing and
    Expansion in Graph Neural Networks", arXiv:2410.04824, when this function
    was written; not checked (issue 46): only the paper's abstract is in this
    project's offline sources. For GCN's :math:`\hat A` the smoothed signal is
    :math:`D^{1/2}\mathbf 1`, not a constant, so :math:`\mu` does not vanish
    under over-smoothing on a graph with unequal degrees: use
    :func:`~dgl_ssm.analysis.orthogonal_ratio` there.

    For a batch, :math:`\gamma` is the mean row of **each graph** (the
    features are centered graph by graph); the total is
    :math:`\sqrt{\sum_g \mu(H_g)^2}`.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph or a batch of graphs.
    feat : torch.Tensor
        Node features, shape ``(N, *)``.
    per_graph : bool
        Return :math:`\mu(H_g)` for each graph of the batch.

    Returns
    -------
    torch.Tensor
        0-dim, or shape ``(batch_size,)``.

    Raises
    ------
    ValueError
        If ``feat`` does not have one row per node.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1], [1, 2]))
    >>> mean_deviation(g, torch.tensor([[1.], [1.], [1.]]))
    tensor(0.)
    >>> mean_deviation(g, torch.tensor([[0.], [1.], [2.]]))**2   # 1 + 0 + 1
    tensor(2.0000)
    """
    h = _flat(graph, feat)
    ids = node_graph_ids(graph).to(h.device)
    sums = torch.zeros(graph.batch_size, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, ids, h)
    counts = graph.batch_num_nodes().to(h.device).clamp(min=1).to(h.dtype)
    centered = h - (sums / counts[:, None])[ids]
    return _reduce(graph, centered.pow(2).sum(-1), ids, per_graph).sqrt()


def signal_stats(graph, feat: torch.Tensor, per_graph: bool = False, prefix: str = "") -> dict:
    r"""The three smoothness measures of ``feat`` at once, computed without gradient.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph or a batch of graphs.
    feat : torch.Tensor
        Node features (or backpropagated errors :math:`\partial L/\partial H`), shape ``(N, *)``.
    per_graph : bool
        One value per graph of the batch.
    prefix : str
        Prepended to the keys (e.g. ``"error_"``).

    Returns
    -------
    dict of str to torch.Tensor
        ``dirichlet_energy`` (:func:`dirichlet_energy`, unnormalized),
        ``feature_norm`` (:func:`feature_norm`) and ``mean_deviation``
        (:func:`mean_deviation`), each detached, 0-dim or ``(batch_size,)``.

    Examples
    --------
    >>> import dgl, torch
    >>> sorted(signal_stats(dgl.graph(([0], [1])), torch.ones(2, 3), prefix="error_"))
    ['error_dirichlet_energy', 'error_feature_norm', 'error_mean_deviation']
    """
    with torch.no_grad():
        h = feat.detach()
        return {
            f"{prefix}dirichlet_energy": dirichlet_energy(graph, h, per_graph=per_graph),
            f"{prefix}feature_norm": feature_norm(graph, h, per_graph=per_graph),
            f"{prefix}mean_deviation": mean_deviation(graph, h, per_graph=per_graph),
        }
