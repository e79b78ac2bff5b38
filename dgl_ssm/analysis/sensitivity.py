"""Node-to-node sensitivity of a deep GNN (over-squashing): :math:`\lVert \partial h_v^{(L)} / \partial x_u \rVert`."""
from __future__ import annotations

from typing import Sequence

import dgl
import pandas as pd
import torch

__all__ = ["sensitivity", "sensitivity_by_distance", "hop_distances"]


def _final_states(model, graph, feat: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "hidden_states"):
        return model.hidden_states(graph, feat)[-1]
    return model(graph, feat)


def sensitivity(model, graph, feat: torch.Tensor, target_nodes: Sequence[int]) -> torch.Tensor:
    r"""Sensitivity of each target node's final state to each node's input features.

    .. math::
        S_{v u} = \left\lVert \frac{\partial h_v^{(L)}}{\partial x_u} \right\rVert_F

    the Frobenius norm of the :math:`d_{out} \times d_{in}` Jacobian block
    (Topping et al. 2022, "Understanding over-squashing and bottlenecks on
    graphs via curvature", ICLR, Lemma 1; Di Giovanni et al. 2023, "On
    Over-Squashing in Message Passing Neural Networks", ICML, Eq. 2). Small
    :math:`S_{vu}` for distant :math:`u` is over-squashing. Computed exactly
    with reverse-mode autograd: one backward pass per target node and output
    feature on one recorded forward pass, accumulating squares over the input
    features (in float64, so that the squares of small float32 gradients do not
    underflow to 0), so memory stays :math:`O(N d_{in})` beyond the forward pass.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~dgl_ssm.models.DeepGNN` (its last hidden state
        :math:`H^{(L)}`, before the decoder, is used) or any
        ``model(graph, feat) -> (N, *)``.
    graph : dgl.DGLGraph
        The graph (a batch: sources in other graphs get 0).
    feat : torch.Tensor
        Input node features :math:`X`, shape ``(N, d_in)``.
    target_nodes : sequence of int
        The nodes :math:`v`.

    Returns
    -------
    torch.Tensor
        Shape ``(len(target_nodes), N)``: row ``i`` is :math:`S_{v_i, \cdot}`;
        float, on ``feat``'s device.

    Raises
    ------
    ValueError
        If a target node is out of range, or the model is in training mode with active dropout (its Jacobian would
        be one random draw: call ``model.eval()`` first).

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2, 1, 2, 3], [1, 2, 3, 0, 1, 2])))   # path 0-1-2-3
    >>> model = build_model("gcn", 3, 4, 2, num_layers=2)
    >>> s = sensitivity(model, g, torch.randn(4, 3), [0])
    >>> s.shape, bool(s[0, 3] == 0)      # node 3 is 3 hops from node 0: beyond 2 layers
    (torch.Size([1, 4]), True)
    """
    targets = torch.as_tensor(list(target_nodes), dtype=torch.long)
    n = graph.num_nodes()
    if targets.numel() and (targets.min() < 0 or targets.max() >= n):
        raise ValueError(f"target nodes must be in [0, {n}), got {targets.tolist()}")
    dropping = [m.p for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.training and m.p > 0]
    if dropping:
        raise ValueError(f"sensitivity: the model is in training mode with dropout (p={dropping[0]}): its Jacobian would "
                         "be one random draw of the dropout masks; call model.eval() first")
    x = feat.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = _final_states(model, graph, x)
        out = out.reshape(out.shape[0], -1)
    # squares summed in float64: a float32 gradient entry below about 1e-23 squares to 0 (far nodes of a deep model)
    result = torch.zeros(len(targets), n, dtype=torch.float64, device=x.device)
    for i, v in enumerate(targets.tolist()):
        for j in range(out.shape[1]):
            (grad,) = torch.autograd.grad(out[v, j], x, retain_graph=True, allow_unused=True)
            if grad is not None:
                result[i] += grad.reshape(n, -1).double().pow(2).sum(-1)
    return result.sqrt().to(x.dtype)


def hop_distances(graph, target_nodes: Sequence[int]) -> torch.Tensor:
    r"""Shortest-path hop distances :math:`d(u, v)` from every node :math:`u` to each target :math:`v`.

    Distances follow the edge direction :math:`u \to v`, the direction in
    which messages travel (for symmetric graphs it does not matter), with
    :func:`dgl.shortest_dist` on the reversed graph (CPU).

    Parameters
    ----------
    graph : dgl.DGLGraph
        The graph (single or batched; nodes in other graphs are unreachable).
    target_nodes : sequence of int
        The nodes :math:`v`.

    Returns
    -------
    torch.Tensor
        int64, shape ``(len(target_nodes), N)``; ``-1`` where :math:`v` is
        unreachable from :math:`u`.

    Examples
    --------
    >>> import dgl
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))   # path 0-1-2
    >>> hop_distances(g, [0]).tolist()
    [[0, 1, 2]]
    """
    reverse = dgl.reverse(graph.cpu(), copy_ndata=False, copy_edata=False)
    rows = [dgl.shortest_dist(reverse, root=int(v)) for v in target_nodes]
    if not rows:
        return torch.zeros(0, graph.num_nodes(), dtype=torch.long)
    return torch.stack(rows).long()


def sensitivity_by_distance(sens: torch.Tensor, graph, target_nodes: Sequence[int]) -> pd.DataFrame:
    r"""Average :func:`sensitivity` over all (target, source) pairs at the same hop distance.

    The decay of the mean sensitivity with :math:`d(u, v)` measures
    over-squashing (Di Giovanni et al. 2023, ICML, Sec. 4).

    Parameters
    ----------
    sens : torch.Tensor
        ``(len(target_nodes), N)`` from :func:`sensitivity`.
    graph : dgl.DGLGraph
        The same graph.
    target_nodes : sequence of int
        The same targets.

    Returns
    -------
    pandas.DataFrame
        Columns ``distance`` (``-1`` for unreachable pairs), ``mean``, ``max``
        and ``pairs`` (the count), sorted by distance.

    Raises
    ------
    ValueError
        If ``sens`` does not have shape ``(len(target_nodes), N)``.

    Examples
    --------
    >>> import dgl, torch
    >>> g = dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1]))
    >>> sensitivity_by_distance(torch.tensor([[1.0, 0.5, 0.0]]), g, [0])["mean"].tolist()
    [1.0, 0.5, 0.0]
    """
    dist = hop_distances(graph, target_nodes)
    if tuple(sens.shape) != tuple(dist.shape):
        raise ValueError(f"sens has shape {tuple(sens.shape)}, expected {tuple(dist.shape)} (targets, nodes)")
    frame = pd.DataFrame({"distance": dist.reshape(-1).numpy(), "value": sens.detach().reshape(-1).double().cpu().numpy()})
    table = frame.groupby("distance")["value"].agg(["mean", "max", "count"]).reset_index()
    return table.rename(columns={"count": "pairs"})
