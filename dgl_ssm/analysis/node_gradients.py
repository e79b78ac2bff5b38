r"""Per-node weight gradients of deep GCNs, and how alike they are (gradient over-smoothing and expansion).

A graph convolution :math:`Y = \hat A X W + b` (``dgl.nn.GraphConv``) has the
weight gradient

.. math::

   \frac{\partial\mathcal L}{\partial W} = (\hat A X)^\top \Delta
   = \sum_{i=1}^{N} m_i\, \delta_i^\top, \qquad
   M = \hat A X \in \mathbb R^{N\times d_{in}},\;
   \Delta = \frac{\partial\mathcal L}{\partial Y} \in \mathbb R^{N\times d_{out}},

a sum of one rank-one *per-node gradient* :math:`g_i = m_i\delta_i^\top` per
output node. When the :math:`g_i` all point the same way, every node asks the
weight for the same change: the gradient of a layer carries one direction
however many nodes are labelled. That is *gradient over-smoothing* (Park &
Kim 2024, "Taming Gradient Oversmoothing and Expansion in Graph Neural
Networks", arXiv:2410.04824, abstract: "the presence of gradient
oversmoothing preventing optimization during training"); growing
:math:`\lVert\partial\mathcal L/\partial W_\ell\rVert` with dissimilar
:math:`g_i` is their *gradient expansion* ("gradient explosion in diverse
directions") of residual GNNs. The paper's text (its equations) is not in this
project's offline sources, so :func:`node_gradient_similarity` is this
project's measure of the abstract's statement, not a quoted equation: the mean
pairwise cosine similarity of the :math:`g_i`.
"""
from __future__ import annotations

from typing import Callable

import torch
from dgl import DGLError
from dgl.nn import GraphConv

__all__ = ["node_gradient_similarity", "layer_node_gradients"]


def node_gradient_similarity(inputs: torch.Tensor, errors: torch.Tensor) -> tuple:
    r"""Mean pairwise cosine similarity of the per-node gradients :math:`g_i = m_i\delta_i^\top`.

    .. math::

       s = \frac{1}{n(n-1)} \sum_{i \ne j}
       \frac{\langle g_i, g_j\rangle_F}{\lVert g_i\rVert_F \lVert g_j\rVert_F}
       = \frac{\lVert \hat M^\top \hat\Delta\rVert_F^2 - n}{n(n-1)},

    over the :math:`n` nodes with :math:`g_i \ne 0`, where :math:`\hat M` and
    :math:`\hat\Delta` are :math:`M` and :math:`\Delta` with unit rows
    (:math:`\langle g_i, g_j\rangle_F = \langle m_i, m_j\rangle\langle\delta_i,\delta_j\rangle`);
    exact in :math:`O(N d_{in} d_{out})`, without forming the :math:`g_i`.
    :math:`s = 1`: every node's gradient has one direction (gradient
    over-smoothing); :math:`s \approx 0`: directions as diverse as random ones.

    Parameters
    ----------
    inputs : torch.Tensor
        :math:`M`, the input of the weight at each node, shape ``(N, d_in)``
        (for ``GraphConv``, :math:`\hat A X`; see :func:`layer_node_gradients`).
    errors : torch.Tensor
        :math:`\Delta = \partial\mathcal L/\partial Y`, shape ``(N, d_out)``.

    Returns
    -------
    tuple
        ``(similarity, n)``: a float in :math:`[-1, 1]` (NaN when fewer than two
        nodes have a non-zero gradient) and the number :math:`n` of those nodes.

    Raises
    ------
    ValueError
        If ``inputs`` and ``errors`` are not 2-D with one row per node each.

    Examples
    --------
    >>> import torch
    >>> m = torch.tensor([[1., 0.], [2., 0.], [0., 0.]])      # node 2 contributes nothing
    >>> node_gradient_similarity(m, torch.tensor([[1.], [3.], [5.]]))
    (1.0, 2)
    >>> node_gradient_similarity(torch.eye(2), torch.ones(2, 1))  # orthogonal outer products
    (0.0, 2)
    """
    if inputs.dim() != 2 or errors.dim() != 2 or inputs.shape[0] != errors.shape[0]:
        raise ValueError(f"inputs (N, d_in) and errors (N, d_out) must have one row per node each, got "
                         f"{tuple(inputs.shape)} and {tuple(errors.shape)}")
    m, e = inputs.detach().double(), errors.detach().double()
    m_norm, e_norm = m.norm(dim=1), e.norm(dim=1)
    keep = (m_norm > 0) & (e_norm > 0)
    n = int(keep.sum())
    if n < 2:
        return float("nan"), n
    unit_sum = (m[keep] / m_norm[keep, None]).T @ (e[keep] / e_norm[keep, None])  # sum of the unit g_i
    return float((unit_sum.pow(2).sum() - n) / (n * (n - 1))), n


def _graph_conv(layer, index: int) -> GraphConv:
    conv = getattr(layer, "conv", None)
    if not isinstance(conv, GraphConv):
        raise DGLError(f"layer_node_gradients: layer {index} ({type(layer).__name__}) has no GraphConv at .conv "
                       f"(found {type(conv).__name__}); per-node gradients are defined here for GCN convolutions "
                       "only: build the model with conv='gcn'")
    return conv


def layer_node_gradients(model, graph, feat: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> tuple:
    r"""The factors :math:`(M_\ell, \Delta_\ell)` of every layer's GCN weight gradient, from one forward and backward pass.

    Hooks on each ``model.layers[l].conv`` (a ``dgl.nn.GraphConv``) keep its
    input graph, its input :math:`X_\ell` and its output :math:`Y_\ell`; then
    :math:`\Delta_\ell = \partial\mathcal L/\partial Y_\ell` by one
    :func:`torch.autograd.grad`, and :math:`M_\ell = \hat A X_\ell` by a
    weightless ``GraphConv`` with the conv's own normalisation (DGL's
    aggregation, not ours). :math:`\sum_i m_i\delta_i^\top = M^\top\Delta` is
    the gradient with respect to the weight the conv applies (for a
    parametrised weight, e.g. spectral normalisation, the effective one).

    Parameters
    ----------
    model : dgl_ssm.models.DeepGNN
        A model whose blocks hold a ``GraphConv`` at ``.conv`` (presets ``gcn``,
        ``res-gcn``, ``lip-res-gcn``, ``gcn-ssm``); the caller chooses train or
        eval mode.
    graph : dgl.DGLGraph
        The graph.
    feat : torch.Tensor
        Input node features, shape ``(N, d_in)``.
    loss_fn : callable
        ``loss_fn(output) -> scalar`` on ``model(graph, feat)``.

    Returns
    -------
    tuple
        ``(loss, factors)``: the loss (detached 0-dim tensor) and one
        ``(M, Delta)`` pair per layer, shapes ``(N, d)`` each, detached.

    Raises
    ------
    dgl.DGLError
        If a layer has no ``GraphConv`` at ``.conv``.
    ValueError
        If ``loss_fn`` does not return a scalar.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 1, 2], [1, 0, 2, 1])))
    >>> model = build_model("gcn", 3, 4, 2, num_layers=3)
    >>> loss, factors = layer_node_gradients(model, g, torch.randn(3, 3), lambda y: y.pow(2).sum())
    >>> len(factors), factors[0][0].shape
    (3, torch.Size([3, 4]))
    """
    convs = [_graph_conv(layer, i) for i, layer in enumerate(model.layers)]
    seen = [None] * len(convs)

    def keep(i):
        def hook(_module, args, output):
            seen[i] = (args[0], args[1], output)
        return hook

    handles = [conv.register_forward_hook(keep(i)) for i, conv in enumerate(convs)]
    try:
        with torch.enable_grad():
            loss = loss_fn(model(graph, feat))
            if loss.dim() != 0:
                raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
            outputs = [s[2] for s in seen]
            errors = torch.autograd.grad(loss, outputs, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    factors = []
    for conv, (g, x, y), delta in zip(convs, seen, errors):
        aggregate = GraphConv(x.shape[1], x.shape[1], norm=conv._norm, weight=False, bias=False,
                              allow_zero_in_degree=True).to(x.device)
        with torch.no_grad():
            m = aggregate(g, x.detach())
        factors.append((m, torch.zeros_like(y) if delta is None else delta.detach()))
    return loss.detach(), factors
