"""Matrix-free spectra of a layer Jacobian, and edge-of-chaos calibration of GNN-SSM layers.

When :math:`N d` is too large for the dense Jacobian of
:mod:`dgl_ssm.analysis.jacobian` (full Cora at :math:`d = 64` has
:math:`N d \approx 173\,000`), the Jacobian :math:`J` is only applied to
vectors: :math:`v \mapsto Jv` (a Jacobian-vector product) and
:math:`w \mapsto J^\top w` (a vector-Jacobian product), both with reverse-mode
autograd on one recorded forward pass. ARPACK (through
:func:`scipy.sparse.linalg.svds` and :func:`scipy.sparse.linalg.eigs` on a
:class:`scipy.sparse.linalg.LinearOperator`) then finds the extreme singular
values and the spectral radius. Vectors use the row-major vec of
:mod:`dgl_ssm.analysis.jacobian`.

``torch.func.jvp``/``vjp`` cannot trace DGL's message-passing kernels (no
functorch support in DGL 2.1), so :math:`Jv` is computed with the
double-backward trick: :math:`g(u) = J^\top u` is linear in :math:`u`, and
:math:`Jv = \partial \langle g(u), v\rangle / \partial u`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.sparse.linalg import LinearOperator, eigs, svds
from torch import nn

__all__ = [
    "jacobian_operator",
    "estimate_singular_values",
    "estimate_spectral_radius",
    "calibrate_edge_of_chaos",
    "Calibration",
    "ConvergenceWarning",
]


class ConvergenceWarning(UserWarning):
    """An iterative estimate stopped before it reached its tolerance; the warning says what the value bounds.

    Emitted by :func:`estimate_singular_values` when the a-posteriori error
    bound of :math:`\sigma_{\min}` exceeds its tolerance times :math:`\sigma_{\max}`
    (the value is then an upper bound on :math:`\sigma_{\min}`, no more). The
    name follows scikit-learn's, whose users catch it the same way.

    Examples
    --------
    >>> import warnings
    >>> from dgl_ssm.analysis import ConvergenceWarning
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("sigma_min is an upper bound", ConvergenceWarning)
    >>> caught[0].category.__name__
    'ConvergenceWarning'
    """


class _Linearization:
    """One recorded forward pass of ``layer`` at ``feat``, with ``Jv`` and ``J^T w`` on it."""

    def __init__(self, layer, graph, feat: torch.Tensor):
        if feat.dim() != 2:
            raise ValueError(f"feat must be (N, d_in), got shape {tuple(feat.shape)}")
        self.x = feat.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = layer(graph, self.x)
            self.out = out.reshape(out.shape[0], -1)
            self.u = torch.zeros_like(self.out, requires_grad=True)
            (self.jtu,) = torch.autograd.grad(self.out, self.x, self.u, create_graph=True, allow_unused=True)
        self.shape = (self.out.numel(), self.x.numel())

    def _to_torch(self, v: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(v).reshape(like.shape), dtype=like.dtype, device=like.device)

    @staticmethod
    def _to_numpy(t) -> np.ndarray:
        return t.detach().reshape(-1).double().cpu().numpy()

    def matvec(self, v: np.ndarray) -> np.ndarray:
        if self.jtu is None or not self.jtu.requires_grad:  # output independent of the input
            return np.zeros(self.shape[0])
        (jv,) = torch.autograd.grad(self.jtu, self.u, self._to_torch(v, self.x), retain_graph=True, allow_unused=True)
        return np.zeros(self.shape[0]) if jv is None else self._to_numpy(jv)

    def rmatvec(self, w: np.ndarray) -> np.ndarray:
        (jtw,) = torch.autograd.grad(self.out, self.x, self._to_torch(w, self.out), retain_graph=True, allow_unused=True)
        return np.zeros(self.shape[1]) if jtw is None else self._to_numpy(jtw)


def jacobian_operator(layer, graph, feat: torch.Tensor) -> LinearOperator:
    r"""The layer Jacobian at ``feat`` as a matrix-free :class:`scipy.sparse.linalg.LinearOperator`.

    ``op @ v`` is :math:`Jv` and ``op.H @ w`` is :math:`J^\top w` (float64
    NumPy vectors, row-major vec order); each costs one backward pass of the
    layer on ``feat``'s device. The forward pass is recorded once, so the
    operator holds the layer's activations until it is dropped.

    Parameters
    ----------
    layer : callable
        ``layer(graph, h) -> (N, d_out)`` (or ``(N, *)``, flattened).
    graph : dgl.DGLGraph
        The graph.
    feat : torch.Tensor
        Point of linearization, shape ``(N, d_in)``.

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Of shape ``(N * d_out, N * d_in)``, dtype float64.

    Raises
    ------
    ValueError
        If ``feat`` is not 2-D.

    Examples
    --------
    >>> import dgl, numpy as np, torch
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> op = jacobian_operator(GraphConv(2, 4), g, torch.randn(3, 2))
    >>> op.shape, (op @ np.ones(6)).shape
    ((12, 6), (12,))
    """
    lin = _Linearization(layer, graph, feat)
    return LinearOperator(lin.shape, matvec=lin.matvec, rmatvec=lin.rmatvec, dtype=np.float64)


def _start_vector(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def estimate_singular_values(
    layer, graph, feat: torch.Tensor, smallest: bool = True, tol: float = 1e-6, maxiter=None, seed: int = 0,
    full_output: bool = False,
) -> tuple:
    r"""Largest (and smallest) singular value of the layer Jacobian, matrix-free.

    :func:`scipy.sparse.linalg.svds` on :func:`jacobian_operator`: ARPACK for
    the largest singular value (a few dozen products), LOBPCG for the
    smallest, an eigenvalue at the bottom of the Gramian :math:`G = J^\top J`
    (or :math:`JJ^\top`, the smaller), where ARPACK stalls.

    LOBPCG's own stopping test asks for a residual of ``tol**2``, which a
    float32 layer cannot give, so it warns even when its value is right. It is
    checked here instead, a posteriori: with :math:`v` the returned unit
    vector and :math:`r = \lVert Gv - \sigma^2 v\rVert`, some eigenvalue of
    :math:`G` lies within :math:`r` of :math:`\sigma^2` (Bai et al., eds.,
    *Templates for the Solution of Algebraic Eigenvalue Problems*, SIAM 2000,
    Hermitian problems, "Error Bounds for Computed Eigenvalues"), and
    :math:`\sigma = \lVert Jv\rVert \ge \sigma_{\min}` always. The estimate
    counts as converged when a singular value is provably within
    :math:`\varepsilon\,\sigma_{\max}` of it, that is when
    :math:`\sigma - \sqrt{\max(\sigma^2 - r, 0)} \le \varepsilon\,\sigma_{\max}`
    with :math:`\varepsilon` = ``max(tol, 1e-4)``; otherwise a
    :class:`ConvergenceWarning` says it is an upper bound only (LOBPCG's own
    warnings are replaced by it). Many singular values clustered at 0 (a GCN
    on a graph whose :math:`\hat A` is singular) slow LOBPCG down most.

    Parameters
    ----------
    layer, graph, feat
        As in :func:`jacobian_operator`.
    smallest : bool
        Also estimate :math:`\sigma_{\min}` (otherwise returned as ``nan``).
    tol : float
        Relative tolerance of ARPACK for :math:`\sigma_{\max}`. LOBPCG and the
        error bound of :math:`\sigma_{\min}` use :math:`\varepsilon` =
        ``max(tol, 1e-4)``, since float32 layers give no more.
    maxiter : int, optional
        Iteration limit (ARPACK's default for the largest, 500 LOBPCG
        iterations for the smallest).
    seed : int
        Seed of the starting vector (results are reproducible).
    full_output : bool
        Also return whether :math:`\sigma_{\min}` converged, instead of
        warning when it did not (for callers that record it).

    Returns
    -------
    tuple
        ``(sigma_max, sigma_min)``, or ``(sigma_max, sigma_min, converged)``
        with ``full_output`` (``converged`` is True when ``smallest`` is False).

    Raises
    ------
    ValueError
        If ``feat`` is not 2-D or the operator has fewer than 3 rows or columns.
    scipy.sparse.linalg.ArpackNoConvergence
        When ARPACK does not converge within ``maxiter``.

    Warns
    -----
    ConvergenceWarning
        Unless ``full_output``, when the error bound of :math:`\sigma_{\min}` exceeds
        :math:`\varepsilon\,\sigma_{\max}`: the value is then only an upper
        bound on it.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.nn import SSMConv
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> layer = SSMConv(GraphConv(2, 2), 2, state_transition=0.5, input_matrix=0.0)
    >>> [round(s, 6) for s in estimate_singular_values(layer, g, torch.randn(3, 2))]
    [0.5, 0.5]
    """
    op = jacobian_operator(layer, graph, feat)
    if min(op.shape) < 3:
        raise ValueError(f"the Jacobian is {op.shape}; use jacobian_singular_values for such small layers")
    v0 = _start_vector(min(op.shape), seed)
    top = float(svds(op, k=1, which="LM", tol=tol, maxiter=maxiter, v0=v0, return_singular_vectors=False)[0])
    if not smallest:
        return (top, float("nan"), True) if full_output else (top, float("nan"))
    iterations, eps = maxiter or 500, max(tol, 1e-4)
    with warnings.catch_warnings():  # LOBPCG's float64 residual test, replaced by the bound below
        warnings.filterwarnings("ignore", category=UserWarning, module=r"scipy\.sparse\.linalg")
        u, s, vh = svds(op, k=1, which="SM", solver="lobpcg", tol=eps, maxiter=iterations, v0=v0)
    bottom = float(s[0])
    if op.shape[0] >= op.shape[1]:  # G = J^T J, its eigenvector the right singular vector
        vec = vh[0]
        residual = float(np.linalg.norm(op.rmatvec(op.matvec(vec)) - bottom ** 2 * vec))
    else:  # G = J J^T
        vec = u[:, 0]
        residual = float(np.linalg.norm(op.matvec(op.rmatvec(vec)) - bottom ** 2 * vec))
    error = bottom - float(np.sqrt(max(bottom ** 2 - residual, 0.0)))
    converged = error <= eps * top
    if full_output:
        return top, bottom, converged
    if not converged:
        warnings.warn(f"sigma_min = {bottom:.3g} is an upper bound only: its error bound {error:.2g} exceeds "
                      f"{eps:g} * sigma_max = {eps * top:.2g} after {iterations} LOBPCG iterations (Gramian residual "
                      f"{residual:.2g}); raise maxiter or tol, or use jacobian_singular_values on a smaller graph",
                      ConvergenceWarning, stacklevel=2)
    return top, bottom


def estimate_spectral_radius(layer, graph, feat: torch.Tensor, tol: float = 1e-6, maxiter=None, seed: int = 0) -> float:
    r"""Spectral radius :math:`\rho(J) = \max_i |\lambda_i(J)|` of a square layer Jacobian, matrix-free.

    ARPACK (:func:`scipy.sparse.linalg.eigs`, largest modulus) on
    :func:`jacobian_operator`, using only Jacobian-vector products.
    :math:`\rho(J) \approx 1` is the edge of chaos of the iterated layer
    (Arroyo et al. 2025, arXiv:2502.10818, Sec. 4).

    Parameters
    ----------
    layer, graph, feat, tol, maxiter, seed
        As in :func:`estimate_singular_values`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the Jacobian is not square or has fewer than 3 rows.
    scipy.sparse.linalg.ArpackNoConvergence
        When ARPACK does not converge within ``maxiter``.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.nn import SSMConv
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> layer = SSMConv(GraphConv(2, 2), 2, state_transition=0.9, input_matrix=0.0)
    >>> round(estimate_spectral_radius(layer, g, torch.randn(3, 2)), 6)
    0.9
    """
    op = jacobian_operator(layer, graph, feat)
    if op.shape[0] != op.shape[1] or op.shape[0] < 3:
        raise ValueError(f"the spectral radius needs a square Jacobian with at least 3 rows, got {op.shape}")
    values = eigs(op, k=1, which="LM", tol=tol, maxiter=maxiter, v0=_start_vector(op.shape[0], seed),
                  return_eigenvectors=False)
    return float(np.abs(values).max())


@dataclass
class Calibration:
    """Result of :func:`calibrate_edge_of_chaos`: the scale found, the spectral radius it gives, and the layer.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> from dgl_ssm.nn import SSMConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> layer = SSMConv(GraphConv(4, 4, bias=False), 4, state_transition=1.0, input_matrix=0.1)
    >>> cal = calibrate_edge_of_chaos(layer, g, torch.randn(3, 4))
    >>> cal.layer is layer, bool(cal.scale > 0)               # Λ scaled in place by cal.scale
    (True, True)
    """

    scale: float
    """Factor applied to the chosen matrix (``state_transition`` or ``input_matrix``)."""
    spectral_radius: float
    """Estimated :math:`\\rho(J)` of the calibrated layer."""
    layer: nn.Module
    """The calibrated layer (the given one, changed in place, or the factory's)."""


def _scaled_buffer(layer: nn.Module, matrix: str) -> Callable[[float], nn.Module]:
    """``set(scale)``: multiply the base value of buffer ``matrix`` (of ``layer`` or a submodule) by ``scale``."""
    names = [n for n, _ in layer.named_buffers() if n == matrix or n.endswith("." + matrix)]
    if len(names) != 1:
        raise ValueError(f"{type(layer).__name__} has {len(names)} buffers named {matrix!r}; expected one (an SSMConv)")
    buffer = layer.get_buffer(names[0])
    base = buffer.detach().clone()

    def set_scale(scale: float) -> nn.Module:
        with torch.no_grad():
            buffer.copy_(base * scale)
        return layer

    return set_scale


def calibrate_edge_of_chaos(
    layer_or_factory: Union[nn.Module, Callable[[float], nn.Module]],
    graph,
    feat: torch.Tensor,
    target: float = 1.0,
    tol: float = 1e-2,
    matrix: Optional[str] = None,
    bracket: tuple = (0.0, 2.0),
    seed: int = 0,
) -> Calibration:
    r"""Scale :math:`\Lambda` (or :math:`B`) of a GNN-SSM layer so that :math:`\rho(J) = \text{target} \pm \text{tol}`.

    A GNN-SSM layer :math:`H \mapsto H\Lambda^\top + F_\theta(H)B^\top` has
    Jacobian :math:`I_N \otimes \Lambda + (I_N \otimes B)J_F`; the edge of
    chaos is :math:`\rho(J) \approx 1` (Arroyo et al. 2025, arXiv:2502.10818,
    Sec. 4). The scale :math:`s` of :math:`s\Lambda_0` (or :math:`sB_0`) is
    found by Brent's method (:func:`scipy.optimize.brentq`) on
    :math:`\rho(s) - \text{target}` within ``bracket``, with the matrix-free
    :func:`estimate_spectral_radius` at ``feat``.

    Parameters
    ----------
    layer_or_factory : torch.nn.Module or callable
        A layer holding one buffer named ``matrix`` (an
        :class:`~dgl_ssm.nn.SSMConv`, or a block containing one): its buffer is
        rescaled **in place** from its current value. Or a factory
        ``scale -> layer`` that builds the layer for a scale (any
        parametrization).
    graph : dgl.DGLGraph
        The graph.
    feat : torch.Tensor
        Point of linearization, shape ``(N, d)``.
    target : float
        Wanted spectral radius.
    tol : float
        Accepted :math:`|\rho - \text{target}|`.
    matrix : str, optional
        With a layer: ``"state_transition"`` (:math:`\Lambda`, the default) or ``"input_matrix"``
        (:math:`B`). Refused with a factory, which decides what its scale scales.
    bracket : tuple of float
        Search interval of the scale; :math:`\rho - \text{target}` must change
        sign on it.
    seed : int
        Seed of ARPACK's starting vectors.

    Returns
    -------
    Calibration
        ``scale``, ``spectral_radius`` and ``layer``.

    Raises
    ------
    ValueError
        If the layer has no (or several) buffers named ``matrix``, ``matrix`` comes with a factory, or
        :math:`\rho - \text{target}` has the same sign at both ends of
        ``bracket`` (e.g. the conv alone already has :math:`\rho > 1`: scale
        :math:`B` instead).
    RuntimeError
        If the root found misses ``target`` by more than ``tol``
        (:math:`\rho` jumps, e.g. at a ReLU kink).

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> from dgl_ssm.nn import SSMConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> layer = SSMConv(GraphConv(4, 4, bias=False), 4, state_transition=1.0, input_matrix=0.1)
    >>> cal = calibrate_edge_of_chaos(layer, g, torch.randn(3, 4))
    >>> abs(cal.spectral_radius - 1.0) <= 1e-2
    True
    """
    if isinstance(layer_or_factory, nn.Module):
        build = _scaled_buffer(layer_or_factory, "state_transition" if matrix is None else matrix)
    elif matrix is not None:  # a factory's scale means what the factory makes it mean
        raise ValueError(f"matrix={matrix!r} names the buffer of a layer to rescale; with a factory the factory decides "
                         "what its scale scales: leave matrix out")
    else:
        build = layer_or_factory

    def gap(scale: float) -> float:
        return estimate_spectral_radius(build(scale), graph, feat, seed=seed) - target

    low, high = float(bracket[0]), float(bracket[1])
    gap_low, gap_high = gap(low), gap(high)
    if np.sign(gap_low) == np.sign(gap_high):
        raise ValueError(
            f"spectral radius - target is {gap_low:+.4f} at scale {low} and {gap_high:+.4f} at scale {high}: "
            "no sign change in bracket; widen it or scale the other matrix"
        )
    scale = brentq(gap, low, high, xtol=tol / 10)
    layer = build(scale)
    rho = estimate_spectral_radius(layer, graph, feat, seed=seed)
    if abs(rho - target) > tol:
        raise RuntimeError(f"calibration reached scale {scale:.6f} with spectral radius {rho:.6f}, not {target} +- {tol}")
    return Calibration(scale=float(scale), spectral_radius=rho, layer=layer)
