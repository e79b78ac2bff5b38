"""Gradient flow through depth: per-layer weight gradients and backpropagated errors.

For a deep GNN :math:`H_\ell = \mathrm{Block}_\ell(\mathcal{G}, H_{\ell-1})`
and a loss :math:`\mathcal{L}`, the backpropagated error of layer
:math:`\ell` is :math:`B_\ell = \partial \mathcal{L} / \partial H_\ell
\in \mathbb{R}^{N \times d}`. Vanishing :math:`\lVert B_\ell \rVert` or
weight gradients :math:`\lVert \partial \mathcal{L} / \partial W_\ell \rVert`
towards the input is the vanishing-gradient problem; a vanishing Dirichlet
energy or :math:`\mu(B_\ell)` means the errors themselves over-smooth
(backward over-smoothing, Keriven 2025, arXiv:2505.16736; gradient
over-smoothing, Park & Kim 2024, arXiv:2410.04824).
"""
from __future__ import annotations

from typing import Callable

import pandas as pd
import torch

from .energy import signal_stats

__all__ = ["backward_errors", "gradient_flow"]


def _unique_params(module) -> list:
    return list({id(p): p for p in module.parameters() if p.requires_grad}.values())


def backward_errors(model, graph, feat: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor],
                    return_states: bool = False) -> tuple:
    r"""Backpropagated errors :math:`B_0, \dots, B_L` and per-layer weight-gradient norms of a deep GNN.

    Runs ``model.hidden_states`` (so gradient checkpointing is honoured),
    ``model.readout`` and ``loss_fn`` once, then one
    :func:`torch.autograd.grad` for all states and parameters; the
    parameters' ``.grad`` are left untouched.

    Parameters
    ----------
    model : dgl_ssm.models.DeepGNN
        A model with ``hidden_states``, ``readout`` and ``layers``.
    graph : dgl.DGLGraph
        The graph (or batch).
    feat : torch.Tensor
        Input node features, shape ``(N, d_in)``.
    loss_fn : callable
        ``loss_fn(output) -> scalar`` on the model output
        (``model.readout(graph, H_L)``).

    Returns
    -------
    tuple
        ``(loss, errors, grad_norms)``: the loss (detached 0-dim tensor); a
        list of :math:`L + 1` tensors :math:`B_\ell`, each ``(N, d)`` (zeros
        where the loss does not depend on the state); a list of :math:`L`
        floats :math:`\lVert \partial\mathcal{L}/\partial W_\ell \rVert_2`
        over all trainable parameters of block :math:`\ell = 1, \dots, L`
        (``model.layers[l - 1]``; with shared weights, the total gradient of
        the shared parameters). With ``return_states``, a fourth item: the list of states.

    Raises
    ------
    ValueError
        If ``loss_fn`` does not return a scalar.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> model = build_model("gcn-ssm", 3, 4, 2, num_layers=3)
    >>> loss, errors, norms = backward_errors(model, g, torch.randn(3, 3), lambda y: y.pow(2).sum())
    >>> len(errors), errors[0].shape, len(norms)
    (4, torch.Size([3, 4]), 3)
    """
    with torch.enable_grad():
        if feat.is_floating_point() and not feat.requires_grad:  # H_0 is the input itself without an encoder
            feat = feat.detach().requires_grad_(True)  # (Kipf & Welling's GCN): its error is still defined
        states = model.hidden_states(graph, feat)
        loss = loss_fn(model.readout(graph, states[-1]))
        if loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        groups = [_unique_params(layer) for layer in model.layers]
        params = [p for group in groups for p in group]
        grads = torch.autograd.grad(loss, [*states, *params], allow_unused=True)
    errors = [torch.zeros_like(s) if g is None else g for s, g in zip(states, grads[: len(states)])]
    param_grads = iter(grads[len(states):])
    norms = []
    for group in groups:
        squares = [next(param_grads) for _ in group]
        norms.append(float(sum(g.detach().pow(2).sum() for g in squares if g is not None) ** 0.5) if group else 0.0)
    if return_states:
        return loss.detach(), errors, norms, [s.detach() for s in states]
    return loss.detach(), errors, norms


def gradient_flow(
    model, graph, feat: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor], per_graph: bool = False
) -> pd.DataFrame:
    r"""Per-layer gradient diagnostics as a table.

    For every layer :math:`\ell = 0, \dots, L` (0 is the encoder output
    :math:`H_0`): the weight-gradient norm of block :math:`\ell` (``NaN`` for
    :math:`\ell = 0`), and :math:`\lVert B_\ell \rVert_F`, the Dirichlet energy
    :math:`E(B_\ell)` and :math:`\mu(B_\ell)` of the backpropagated error
    (see :func:`backward_errors` and :mod:`dgl_ssm.analysis.energy`).

    Parameters
    ----------
    model, graph, feat, loss_fn
        As in :func:`backward_errors`.
    per_graph : bool
        Error statistics per graph of a batch (a ``graph`` column; the
        weight-gradient norm is for the whole batch and repeated).

    Returns
    -------
    pandas.DataFrame
        Columns ``layer``, [``graph``,] ``grad_norm``, ``error_dirichlet_energy``,
        ``error_feature_norm``, ``error_mean_deviation``.

    Raises
    ------
    ValueError
        If ``loss_fn`` does not return a scalar.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> model = build_model("gcn", 3, 4, 2, num_layers=3)
    >>> table = gradient_flow(model, g, torch.randn(3, 3), lambda y: y.pow(2).sum())
    >>> list(table["layer"])
    [0, 1, 2, 3]
    """
    _, errors, norms = backward_errors(model, graph, feat, loss_fn)
    rows = []
    for layer, error in enumerate(errors):
        stats = {k: v.cpu().reshape(-1).tolist() for k, v in signal_stats(graph, error, per_graph, "error_").items()}
        grad_norm = norms[layer - 1] if layer > 0 else float("nan")
        for i in range(graph.batch_size if per_graph else 1):
            row = {"layer": layer, **({"graph": i} if per_graph else {}), "grad_norm": grad_norm}
            rows.append({**row, **{k: v[i] for k, v in stats.items()}})
    return pd.DataFrame(rows)
