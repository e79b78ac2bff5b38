r"""Train only the last layer of a deep GNN, every other weight frozen: the spurious stationary points of Keriven (2025).

Keriven (2025), "Backward Oversmoothing: why is it hard to train deep Graph
Neural Networks?", arXiv:2505.16736 (abstract): "as soon as the last layer is
trained, the whole GNN is at a stationary point", so that gradients are near
zero while the loss stays high; an MLP of the same depth is the counter-example.
:func:`train_last_layer` brings a model to that point: with the encoder and
every block frozen, the loss is convex in the decoder's weights (a linear layer
under cross-entropy or squared error), so L-BFGS reaches its stationary point.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["train_last_layer"]


def train_last_layer(model, graph, feat: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor],
                     max_iter: int = 1000, tolerance: float = 1e-8) -> dict:
    r"""Fit ``model.decoder`` alone to a stationary point of ``loss_fn``, the rest of the model frozen, in eval mode.

    The final node states :math:`H_L` are computed once (no dropout); then
    :class:`torch.optim.LBFGS` (strong Wolfe line search) minimises
    ``loss_fn(model.readout(graph, H_L))`` over the decoder's parameters until
    their gradient's largest entry is below ``tolerance`` or ``max_iter``
    iterations have run (in float32 the gradient stalls near :math:`10^{-5}`: use
    a float64 model to reach a stationary point). Nothing but the decoder changes; ``.grad`` of the
    other parameters is left untouched.

    Parameters
    ----------
    model : dgl_ssm.models.GNNBase
        A model with ``hidden_states``, ``readout`` and a ``decoder`` module.
    graph : dgl.DGLGraph
        The graph (or batch).
    feat : torch.Tensor
        Input node features, shape ``(N, d_in)``.
    loss_fn : callable
        ``loss_fn(output) -> scalar`` (e.g. the cross-entropy on the training nodes).
    max_iter : int
        L-BFGS iterations at most (>= 1).
    tolerance : float
        Stop when the decoder gradient's max-norm is below this (> 0).

    Returns
    -------
    dict
        ``loss_before``, ``loss_after`` (floats), ``decoder_grad_max`` (max-norm of
        the decoder gradient at the end), ``iterations`` (int).

    Raises
    ------
    ValueError
        If the model has no ``decoder`` with parameters, or on ``max_iter < 1`` or ``tolerance <= 0``.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.rand_graph(30, 90))
    >>> x, y = torch.randn(30, 4, dtype=torch.float64), torch.randint(0, 3, (30,))
    >>> model = build_model("gcn", 4, 8, 3, num_layers=6).double()   # float32 stops near 1e-5
    >>> out = train_last_layer(model, g, x, lambda o: torch.nn.functional.cross_entropy(o, y))
    >>> out["loss_after"] <= out["loss_before"], out["decoder_grad_max"] < 1e-6
    (True, True)
    """
    decoder = getattr(model, "decoder", None)
    params = [p for p in decoder.parameters()] if isinstance(decoder, torch.nn.Module) else []
    if not params:
        raise ValueError(f"{type(model).__name__} has no decoder with parameters to train; train_last_layer needs "
                         "a model whose last layer is `model.decoder` (the models of dgl_ssm.models)")
    if max_iter < 1 or not tolerance > 0:
        raise ValueError(f"max_iter must be >= 1 and tolerance > 0, got {max_iter} and {tolerance}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            final = model.hidden_states(graph, feat)[-1]
            loss_before = float(loss_fn(model.readout(graph, final)))
        optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=tolerance,
                                      tolerance_change=0.0, history_size=50, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(model.readout(graph, final))
            loss.backward()
            return loss

        optimizer.step(closure)
        for p in params:
            p.grad = None
        with torch.enable_grad():
            loss = loss_fn(model.readout(graph, final))
            grads = torch.autograd.grad(loss, params)
        state = optimizer.state[optimizer._params[0]]
        return {"loss_before": loss_before, "loss_after": float(loss),
                "decoder_grad_max": max(float(g.abs().max()) for g in grads), "iterations": int(state.get("n_iter", 0))}
    finally:
        model.train(was_training)
