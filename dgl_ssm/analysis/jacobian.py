"""Dense layer Jacobians and their spectra, for graphs small enough to hold them.

A layer maps node states :math:`H \in \mathbb{R}^{N \times d_{in}}` to
:math:`F(H) \in \mathbb{R}^{N \times d_{out}}`. Its Jacobian is the
:math:`(N d_{out}) \times (N d_{in})` matrix of
:math:`\operatorname{vec}(F(H))` with respect to :math:`\operatorname{vec}(H)`,
where :math:`\operatorname{vec}` is the **row-major** vectorization of an
``(N, d)`` tensor, ``H.reshape(-1)``: entry ``n * d + j`` is :math:`H_{nj}`
(node-major). In this order the Jacobian of :math:`H \mapsto \hat A H W` is
:math:`\hat A \otimes W^\top`, and that of a GNN-SSM layer
:math:`H\Lambda^\top + F(H)B^\top` is
:math:`I_N \otimes \Lambda + (I_N \otimes B) J_F`.

For larger graphs use the matrix-free estimates of
:mod:`dgl_ssm.analysis.spectral`.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = [
    "DEFAULT_MAX_SIZE",
    "layer_jacobian",
    "jacobian_singular_values",
    "jacobian_eigenvalues",
    "edge_of_chaos_distance",
]

DEFAULT_MAX_SIZE = 8192
"""Default limit on :math:`N d_{in}` and :math:`N d_{out}` for a dense Jacobian (a 8192^2 float64 matrix is 512 MiB)."""


def _as_function(layer, graph) -> Callable[[torch.Tensor], torch.Tensor]:
    def f(h: torch.Tensor) -> torch.Tensor:
        out = layer(graph, h)
        return out.reshape(out.shape[0], -1)

    return f


def _check_size(rows: int, cols: int, max_size: int) -> None:
    if max(rows, cols) > max_size:
        raise ValueError(
            f"the dense layer Jacobian would be {rows} x {cols} (N*d_out x N*d_in), above max_size={max_size}; "
            "use a smaller graph or feature size, raise max_size, or use the matrix-free estimates "
            "dgl_ssm.analysis.estimate_singular_values / estimate_spectral_radius"
        )


def layer_jacobian(layer, graph, feat: torch.Tensor, max_size: int = DEFAULT_MAX_SIZE) -> torch.Tensor:
    r"""Dense Jacobian of one layer's output with respect to its input node states.

    .. math::
        J_{(n d_{out} + i),\,(m d_{in} + j)} = \frac{\partial F(H)_{n i}}{\partial H_{m j}}

    (row-major vec, see the module docstring), evaluated at ``feat``. Tries
    :func:`torch.func.jacrev` first; DGL's message-passing kernels do not
    support ``torch.func`` transforms (DGL 2.1: "Cannot access data pointer of
    Tensor that doesn't have storage"), so for DGL layers it falls back to
    :func:`torch.autograd.functional.jacobian` (one reverse pass per output
    entry on a single recorded forward).

    Parameters
    ----------
    layer : callable
        Called as ``layer(graph, h)``, e.g. a block of ``DeepGNN.layers`` or
        an :class:`~dgl_ssm.nn.SSMConv`; returns ``(N, d_out)`` or ``(N, *)``
        (flattened row-major).
    graph : dgl.DGLGraph
        The graph (a batch gives the block-diagonal Jacobian of the batch).
    feat : torch.Tensor
        Point of linearization :math:`H`, shape ``(N, d_in)``.
    max_size : int
        Largest allowed :math:`N d_{in}` and :math:`N d_{out}`.

    Returns
    -------
    torch.Tensor
        Shape ``(N * d_out, N * d_in)``, dtype and device of ``feat``.

    Raises
    ------
    ValueError
        If ``feat`` is not 2-D, or the Jacobian would exceed ``max_size``.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> layer_jacobian(GraphConv(2, 3), g, torch.randn(3, 2)).shape
    torch.Size([9, 6])
    """
    if feat.dim() != 2:
        raise ValueError(f"feat must be (N, d_in), got shape {tuple(feat.shape)}")
    f = _as_function(layer, graph)
    with torch.no_grad():
        out_cols = f(feat).shape[1]
    rows, cols = feat.shape[0] * out_cols, feat.numel()
    _check_size(rows, cols, max_size)
    x = feat.detach()
    try:
        jac = torch.func.jacrev(f)(x)
    except RuntimeError:  # DGL kernels: no functorch support
        jac = torch.autograd.functional.jacobian(f, x)
    return jac.reshape(rows, cols).detach()


def _blocks(graph, jac: torch.Tensor, per_graph: bool):
    """The whole Jacobian, or its diagonal blocks graph by graph (nodes of a batch are contiguous)."""
    if not per_graph:
        return [jac]
    n = graph.num_nodes()
    d_out, d_in = jac.shape[0] // max(n, 1), jac.shape[1] // max(n, 1)
    bounds = [0, *torch.cumsum(graph.batch_num_nodes().cpu(), 0).tolist()]
    return [jac[a * d_out : b * d_out, a * d_in : b * d_in] for a, b in zip(bounds[:-1], bounds[1:])]


def _finite_jacobian(jac: torch.Tensor) -> torch.Tensor:
    """``jac`` if finite; LAPACK's SVD and eigen-solvers crash or hang on NaN and inf entries."""
    if not bool(torch.isfinite(jac).all()):
        raise ValueError(
            "the layer Jacobian has non-finite entries (NaN or inf): the layer's parameters or its input are not "
            "finite here; check them (e.g. a diverged model) before computing a spectrum"
        )
    return jac


def jacobian_singular_values(
    layer, graph, feat: torch.Tensor, per_graph: bool = False, max_size: int = DEFAULT_MAX_SIZE
):
    r"""Singular values of the dense layer Jacobian (:func:`layer_jacobian`), largest first.

    For a linear GCN layer :math:`H \mapsto \hat A H W` the squared singular
    values are the products :math:`\lambda_i(\hat A)^2\, \mu_j(W W^\top)`
    (Arroyo et al. 2025, arXiv:2502.10818, Lemma 3.1); values spread around 1
    mean the layer sits near the edge of chaos.

    Parameters
    ----------
    layer, graph, feat, max_size
        As in :func:`layer_jacobian`.
    per_graph : bool
        For a batch, the singular values of each graph's diagonal block (the
        Jacobian of a message-passing layer on a batch is block diagonal).

    Returns
    -------
    torch.Tensor or list of torch.Tensor
        1-D float64 tensor of :math:`\min(N d_{out}, N d_{in})` values,
        descending; a list of them (one per graph) with ``per_graph=True``.

    Raises
    ------
    ValueError
        As :func:`layer_jacobian`, or if the Jacobian has non-finite entries.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> jacobian_singular_values(GraphConv(2, 2), g, torch.randn(3, 2)).shape
    torch.Size([6])
    """
    jac = _finite_jacobian(layer_jacobian(layer, graph, feat, max_size).double())
    values = [torch.linalg.svdvals(block) for block in _blocks(graph, jac, per_graph)]
    return values if per_graph else values[0]


def jacobian_eigenvalues(layer, graph, feat: torch.Tensor, per_graph: bool = False, max_size: int = DEFAULT_MAX_SIZE):
    r"""Complex eigenvalues of a square layer Jacobian (:math:`d_{out} = d_{in}`), largest modulus first.

    Their moduli govern how a small perturbation of the node states grows or
    decays when the same layer is applied repeatedly; the spectral radius is
    the first modulus. For a GNN-SSM layer with a small conv contribution they
    cluster around the eigenvalues of :math:`\Lambda` (Arroyo et al. 2025,
    arXiv:2502.10818, Sec. 4).

    Parameters
    ----------
    layer, graph, feat, per_graph, max_size
        As in :func:`jacobian_singular_values`.

    Returns
    -------
    torch.Tensor or list of torch.Tensor
        1-D complex128 tensor of :math:`N d` eigenvalues (a list per graph
        with ``per_graph=True``), sorted by decreasing modulus.

    Raises
    ------
    ValueError
        If the layer changes the feature size (non-square Jacobian), if the
        Jacobian has non-finite entries, or as :func:`layer_jacobian`.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> from dgl_ssm.nn import SSMConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> layer = SSMConv(GraphConv(2, 2), 2, state_transition=0.5, input_matrix=0.0)
    >>> jacobian_eigenvalues(layer, g, torch.randn(3, 2)).real.tolist()
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    """
    jac = _finite_jacobian(layer_jacobian(layer, graph, feat, max_size).double())
    if jac.shape[0] != jac.shape[1]:
        raise ValueError(f"eigenvalues need a square Jacobian (d_out == d_in), got shape {tuple(jac.shape)}")
    values = []
    for block in _blocks(graph, jac, per_graph):
        eig = torch.linalg.eigvals(block)
        values.append(eig[torch.argsort(eig.abs(), descending=True)])
    return values if per_graph else values[0]


def edge_of_chaos_distance(singular_values: torch.Tensor) -> float:
    r"""Mean distance of the Jacobian's singular values from 1, :math:`\frac{1}{n}\sum_i |1 - \sigma_i|`.

    0 means every direction of the node state is propagated with unit gain
    (a dynamical isometry, the edge of chaos); large values mean some
    directions vanish (:math:`\sigma \ll 1`) or explode (:math:`\sigma \gg 1`)
    with depth (Arroyo et al. 2025, arXiv:2502.10818, Sec. 3).

    Parameters
    ----------
    singular_values : torch.Tensor
        1-D tensor, e.g. from :func:`jacobian_singular_values`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On an empty tensor.

    Examples
    --------
    >>> import torch
    >>> edge_of_chaos_distance(torch.tensor([0.5, 1.0, 2.0]))
    0.5
    """
    sigma = torch.as_tensor(singular_values).reshape(-1)
    if sigma.numel() == 0:
        raise ValueError("edge_of_chaos_distance needs at least one singular value")
    return float((1.0 - sigma.double()).abs().mean())
