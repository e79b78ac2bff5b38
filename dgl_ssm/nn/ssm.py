"""GNN-SSM: a message-passing layer written as a linear state-space model.

Source: Arroyo, Gravina, Gutteridge, Barbero, Gallicchio, Dong, Bronstein,
Vandergheynst (2025). "On Vanishing Gradients, Over-Smoothing, and
Over-Squashing in GNNs: Bridging Recurrent and Graph Learning",
arXiv:2502.10818, Eq. 9.
"""
from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import Sequence, Union

import torch
from torch import nn


__all__ = ["SSMConv", "StateSpaceMatrices", "make_state_transition", "make_input_matrix", "spectral_radius"]

MatrixSpec = Union[float, Sequence[float], torch.Tensor, str, None]


def _generator(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator().manual_seed(int(seed))


def _square(matrix: torch.Tensor, dim: int, name: str) -> torch.Tensor:
    matrix = torch.as_tensor(matrix, dtype=torch.get_default_dtype())
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square (d, d) matrix, got shape {tuple(matrix.shape)}")
    if matrix.shape[0] != dim:
        raise ValueError(f"{name} has shape {tuple(matrix.shape)} but the state dimension is dim={dim}")
    return matrix.clone()


def _finite(matrix: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``matrix`` if every entry is finite, else raise a ``ValueError`` naming ``name``.

    Checked before any eigen-decomposition: ``torch.linalg.eigvals`` on NaN
    entries crashes the process in MKL (segfault) and on ``inf`` never returns.
    """
    if not bool(torch.isfinite(matrix).all()):
        bad = "nan" if bool(torch.isnan(matrix).any()) else "inf"
        raise ValueError(f"{name} has non-finite entries ({bad}); give finite values (for Lambda, eigenvalues near 1)")
    return matrix


def _structure(matrix: torch.Tensor) -> tuple[str, torch.Tensor | float]:
    """Classify a square matrix as ``scalar`` (cI), ``diagonal`` or ``dense``."""
    diag = torch.diagonal(matrix)
    if not torch.equal(matrix, torch.diag_embed(diag)):
        return "dense", matrix
    if bool((diag == diag[0]).all()):
        return "scalar", float(diag[0])
    return "diagonal", diag


def _right_multiply(x: torch.Tensor, kind: str, value) -> torch.Tensor:
    """``x @ M.T`` using the structure of ``M`` (diagonal matrices cost O(Nd), not O(Nd^2))."""
    if kind == "scalar":
        return x if value == 1.0 else x * value
    if kind == "diagonal":
        return x * value
    return x @ value.T


def spectral_radius(matrix: torch.Tensor) -> float:
    """Largest eigenvalue modulus :math:`\\rho(M) = \\max_i |\\lambda_i(M)|` of a square matrix.

    Computed in float64 from all eigenvalues (:func:`torch.linalg.eigvals`), so also for a non-symmetric
    :math:`\\Lambda`, whose eigenvalues may be complex.

    Parameters
    ----------
    matrix : torch.Tensor
        Shape ``(d, d)``; an empty matrix has radius 0.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``matrix`` has non-finite entries (NaN, inf).

    Examples
    --------
    >>> import torch
    >>> spectral_radius(torch.tensor([[0., -1.], [1., 0.]]))   # a rotation: eigenvalues ±i
    1.0
    >>> spectral_radius(make_state_transition(4, 0.5))
    0.5
    """
    if matrix.numel() == 0:
        return 0.0
    return float(torch.linalg.eigvals(_finite(torch.as_tensor(matrix), "matrix").double()).abs().max())


def _short(spec) -> str:
    """A matrix specification in an error message: a number as it is, a tensor or sequence by its shape."""
    if isinstance(spec, (Real, str)):
        return repr(spec)
    return f"<{'x'.join(map(str, torch.as_tensor(spec).shape))} values>"


def make_state_transition(
    dim: int,
    spec: MatrixSpec = 1.0,
    r_min: float | None = None,
    r_max: float | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Build the state transition matrix :math:`\\Lambda \\in \\mathbb{R}^{d \\times d}`.

    Parameters
    ----------
    dim : int
        State (feature) dimension :math:`d`.
    spec : float, sequence of float, torch.Tensor or str
        * scalar :math:`\\lambda`: :math:`\\Lambda = \\lambda I`;
        * vector of :math:`d` eigenvalues: :math:`\\Lambda = \\mathrm{diag}(\\lambda)`;
        * :math:`(d, d)` tensor: used as given;
        * ``"uniform"``: diagonal, eigenvalues drawn i.i.d. from
          :math:`U[r_{min}, r_{max}]` (the edge of chaos as both approach 1).
    r_min, r_max : float, optional
        Eigenvalue range for ``"uniform"`` (default 0.9 and 1.0); refused with any other ``spec``, which would
        ignore them.
    seed : int, optional
        Seed of the ``"uniform"`` draw, so that the matrix is reproducible.

    Returns
    -------
    torch.Tensor
        :math:`(d, d)` matrix.

    Raises
    ------
    ValueError
        On a non-square matrix, a matrix or vector whose size is not ``dim``, an
        unknown string, non-finite entries (NaN, inf) or bounds, ``r_min > r_max``, or ``r_min`` / ``r_max``
        with a ``spec`` other than ``"uniform"``.

    Examples
    --------
    >>> make_state_transition(3, 0.9)                       # Λ = 0.9 I
    tensor([[0.9000, 0.0000, 0.0000],
            [0.0000, 0.9000, 0.0000],
            [0.0000, 0.0000, 0.9000]])
    >>> make_state_transition(2, [1.0, 0.5]).diagonal()     # Λ = diag(1, 0.5)
    tensor([1.0000, 0.5000])
    >>> lam = make_state_transition(64, "uniform", r_min=0.95, seed=0)
    >>> bool(0.95 <= lam.diagonal().min() and lam.diagonal().max() <= 1.0)
    True
    """
    if isinstance(spec, str) and spec != "uniform":
        raise ValueError(f"unknown state_transition {spec!r}; use a number, a vector, a matrix or 'uniform'")
    if not (isinstance(spec, str) and spec == "uniform"):
        given = [f"{name}={value}" for name, value in (("r_min", r_min), ("r_max", r_max)) if value is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} set the eigenvalue range of state_transition='uniform'; with "
                             f"state_transition={_short(spec)} they would be ignored: drop them, or use 'uniform'")
    if isinstance(spec, str):
        r_min, r_max = 0.9 if r_min is None else r_min, 1.0 if r_max is None else r_max
        if not (math.isfinite(r_min) and math.isfinite(r_max)):
            raise ValueError(f"r_min={r_min} and r_max={r_max} must be finite")
        if r_min > r_max:
            raise ValueError(f"r_min={r_min} must not exceed r_max={r_max}")
        eig = torch.rand(dim, generator=_generator(seed)) * (r_max - r_min) + r_min
        return torch.diag(eig.to(torch.get_default_dtype()))
    if isinstance(spec, Real):
        return _finite(float(spec) * torch.eye(dim), "state_transition")
    tensor = _finite(torch.as_tensor(spec, dtype=torch.get_default_dtype()), "state_transition")
    if tensor.dim() == 1:
        if tensor.numel() != dim:
            raise ValueError(f"state_transition has {tensor.numel()} eigenvalues but dim={dim}")
        return torch.diag(tensor)
    return _square(tensor, dim, "state_transition")


def make_input_matrix(dim: int, spec: MatrixSpec = "identity", seed: int | None = None) -> torch.Tensor:
    """Build the input matrix :math:`B \\in \\mathbb{R}^{d \\times d}`.

    Parameters
    ----------
    dim : int
        State dimension :math:`d`.
    spec : str, float or torch.Tensor
        * ``"identity"`` (or ``None``): :math:`B = I`;
        * scalar :math:`\\beta`: :math:`B = \\beta I`;
        * ``"random"``: a fixed random orthogonal matrix (QR of a seeded
          Gaussian), so that :math:`B` rotates but neither amplifies nor damps;
        * ``"gaussian"``: i.i.d. :math:`\\mathcal{N}(0, 1/d)` entries (seeded);
        * :math:`(d, d)` tensor: used as given.
    seed : int, optional
        Seed for the random choices.

    Returns
    -------
    torch.Tensor
        :math:`(d, d)` matrix.

    Raises
    ------
    ValueError
        On an unknown string, a matrix of the wrong shape or non-finite entries.

    Examples
    --------
    >>> make_input_matrix(2, 0.1)                           # B = 0.1 I
    tensor([[0.1000, 0.0000],
            [0.0000, 0.1000]])
    >>> b = make_input_matrix(16, "random", seed=0)         # orthogonal: all singular values 1
    >>> torch.allclose(torch.linalg.svdvals(b), torch.ones(16), atol=1e-5)
    True
    """
    if spec is None or (isinstance(spec, str) and spec == "identity"):
        return torch.eye(dim)
    if isinstance(spec, str):
        gen = _generator(seed)
        gauss = torch.randn(dim, dim, generator=gen)
        if spec == "random":
            q, r = torch.linalg.qr(gauss)
            return q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        if spec == "gaussian":
            return gauss / dim**0.5
        raise ValueError(f"unknown input_matrix {spec!r}; use 'identity', 'random', 'gaussian', a number or a matrix")
    if isinstance(spec, Real):
        return _finite(float(spec) * torch.eye(dim), "input_matrix")
    return _square(_finite(torch.as_tensor(spec), "input_matrix"), dim, "input_matrix")


class StateSpaceMatrices(nn.Module):
    r"""The fixed matrices of a GNN-SSM: state transition matrix :math:`\Lambda` and input matrix :math:`B`.

    One instance is shared by every :class:`SSMConv` of a deep model (pass it
    as ``matrices=``), so that :math:`\Lambda` and :math:`B` are one pair of
    buffers per model, as in the paper (Arroyo et al. 2025, arXiv:2502.10818,
    Eq. 9: the same :math:`\Lambda, B` at every layer). Editing them in place
    (e.g. :func:`~dgl_ssm.analysis.calibrate_edge_of_chaos` on one layer)
    changes every layer that shares them. For per-layer matrices build each
    :class:`SSMConv` without ``matrices``.

    Parameters
    ----------
    dim : int
        State dimension :math:`d`.
    state_transition, input_matrix, r_min, r_max, seed
        As in :func:`make_state_transition` and :func:`make_input_matrix`.

    Attributes
    ----------
    state_transition, input_matrix : torch.Tensor
        ``(dim, dim)`` buffers (move with ``.to()``, saved in the ``state_dict``, never trained).

    Raises
    ------
    ValueError
        See :func:`make_state_transition` and :func:`make_input_matrix`.

    Examples
    --------
    >>> from dgl.nn import GraphConv
    >>> shared = StateSpaceMatrices(4, state_transition=0.5)
    >>> a, b = SSMConv(GraphConv(4, 4), 4, matrices=shared), SSMConv(GraphConv(4, 4), 4, matrices=shared)
    >>> _ = a.state_transition.mul_(2.0)
    >>> float(b.state_transition[0, 0])
    1.0
    """

    def __init__(self, dim: int, state_transition: MatrixSpec = 1.0, input_matrix: MatrixSpec = "identity", *,
                 r_min: float | None = None, r_max: float | None = None, seed: int | None = None):
        super().__init__()
        self.dim = int(dim)
        self.register_buffer("state_transition", make_state_transition(self.dim, state_transition, r_min, r_max, seed))
        self.register_buffer("input_matrix", make_input_matrix(self.dim, input_matrix, seed))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class SSMConv(nn.Module):
    r"""Wrap any DGL graph convolution as a state-space layer (GNN-SSM).

    .. math::
        H^{(k+1)} = H^{(k)} \Lambda^\top + F_\theta(\mathcal{G}, H^{(k)}) B^\top

    where :math:`H^{(k)} \in \mathbb{R}^{N \times d}` is the node state,
    :math:`\Lambda` (state transition matrix) and :math:`B` (input matrix) are
    fixed :math:`d \times d` buffers, and :math:`F_\theta` is the wrapped
    convolution (GraphConv, GATConv, SAGEConv, GINConv, ...), followed by
    ``activation`` if given. Row-vector convention: this is the paper's
    :math:`h^{(k+1)}_v = \Lambda h^{(k)}_v + B F_\theta(\cdot)_v` for every node.

    The layer-wise Jacobian is :math:`\Lambda \otimes I_N + (B \otimes I_N) J_F`.
    With the eigenvalues of :math:`\Lambda` close to 1 and a small
    :math:`J_F` it sits at the *edge of chaos*: gradients neither vanish nor
    explode over many layers, and the node features do not collapse
    (over-smoothing). With ``state_transition=0`` and ``input_matrix="identity"``
    the layer is exactly :math:`F_\theta`.

    Source: Arroyo et al. (2025), "On Vanishing Gradients, Over-Smoothing, and
    Over-Squashing in GNNs: Bridging Recurrent and Graph Learning",
    arXiv:2502.10818, Eq. 9.

    Parameters
    ----------
    conv : torch.nn.Module
        The convolution :math:`F_\theta`, called as ``conv(graph, feat, *args,
        **kwargs)``. It must map ``(N, dim)`` to ``(N, dim)``, or to
        ``(N, heads, out)`` for attention convs (see ``head_merge``).
    dim : int
        State dimension :math:`d`.
    state_transition : float, sequence, torch.Tensor or str, optional
        :math:`\Lambda`; see :func:`make_state_transition`. Default ``1.0``
        (:math:`\Lambda = I`). A spectral radius above 1 warns (unstable).
    input_matrix : str, float or torch.Tensor, optional
        :math:`B`; see :func:`make_input_matrix`. Default ``"identity"``.
    r_min, r_max : float, optional
        Eigenvalue range when ``state_transition="uniform"`` (default 0.9 and 1.0; refused otherwise).
    seed : int, optional
        Seed for random :math:`\Lambda` or :math:`B`.
    matrices : StateSpaceMatrices, optional
        Shared :math:`\Lambda` and :math:`B` (e.g. one pair for all layers of
        a model); then ``state_transition``, ``input_matrix``, ``r_min``,
        ``r_max`` and ``seed`` must not be given (not even at their default
        values: they would be ignored).
    activation : callable, optional
        Non-linearity :math:`\sigma` applied to the conv output before
        :math:`B`. Default ``None`` (the conv's own activation, if any).
    head_merge : str, optional
        How an ``(N, heads, out)`` output is merged: ``"mean"`` over heads
        (needs ``out == dim``) or ``"flatten"`` to ``(N, heads * out)``
        (needs ``heads * out == dim``). Default ``"mean"``.

    Attributes
    ----------
    matrices : StateSpaceMatrices
        Holds the buffers (own, or shared with other layers).
    state_transition : torch.Tensor
        :math:`\Lambda`, a ``(dim, dim)`` buffer (moves with ``.to()``, saved in
        the ``state_dict`` as ``matrices.state_transition``, never trained).
    input_matrix : torch.Tensor
        :math:`B`, a ``(dim, dim)`` buffer.

    Raises
    ------
    ValueError
        If :math:`\Lambda` or :math:`B` is not ``(dim, dim)``, if ``matrices``
        has another dimension or comes with matrix specifications, or (in
        ``forward``) if the input or the conv output does not have ``dim``
        features.
    dgl.DGLError
        Raised by the wrapped conv on zero in-degree nodes (add self-loops).

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> from dgl_ssm.nn import SSMConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> layer = SSMConv(GraphConv(8, 8, activation=torch.tanh), dim=8, state_transition=0.9)
    >>> layer(g, torch.randn(3, 8)).shape
    torch.Size([3, 8])
    >>> layer.state_transition.diagonal()[:2]
    tensor([0.9000, 0.9000])
    """

    def __init__(
        self,
        conv: nn.Module,
        dim: int,
        state_transition: MatrixSpec | None = None,
        input_matrix: MatrixSpec | None = None,
        *,
        r_min: float | None = None,
        r_max: float | None = None,
        seed: int | None = None,
        matrices: StateSpaceMatrices | None = None,
        activation=None,
        head_merge: str = "mean",
    ):
        super().__init__()
        if head_merge not in ("mean", "flatten"):
            raise ValueError(f"head_merge must be 'mean' or 'flatten', got {head_merge!r}")
        self.conv = conv
        self.dim = int(dim)
        self.activation = activation
        self.head_merge = head_merge
        values = dict(state_transition=state_transition, input_matrix=input_matrix, r_min=r_min, r_max=r_max, seed=seed)
        given = {k: v for k, v in values.items() if v is not None}
        if matrices is None:  # the defaults are StateSpaceMatrices' own
            matrices = StateSpaceMatrices(self.dim, **given)
        else:  # any of them given would be ignored: the shared matrices are built already
            if given:
                raise ValueError(f"SSMConv: give either matrices= or matrix specifications, not both (got {', '.join(given)})")
            if matrices.dim != self.dim:
                raise ValueError(f"SSMConv: matrices has dim={matrices.dim} but the state dimension is dim={self.dim}")
        self.matrices = matrices
        self._warn_if_unstable()
        self.reset_parameters()

    @property
    def state_transition(self) -> torch.Tensor:
        """:math:`\\Lambda`, ``(dim, dim)`` (a buffer of :attr:`matrices`)."""
        return self.matrices.state_transition

    @property
    def input_matrix(self) -> torch.Tensor:
        """:math:`B`, ``(dim, dim)`` (a buffer of :attr:`matrices`)."""
        return self.matrices.input_matrix

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("state_transition", "input_matrix"):  # checkpoints written before the matrices were shared
            if prefix + name in state_dict and prefix + "matrices." + name not in state_dict:
                state_dict[prefix + "matrices." + name] = state_dict.pop(prefix + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _warn_if_unstable(self) -> None:
        rho = spectral_radius(self.state_transition)
        if rho > 1.0 + 1e-6:
            warnings.warn(
                f"SSMConv: spectral radius of the state transition matrix is {rho:.4f} > 1; "
                "the linear recurrence is unstable and states will explode with depth. "
                "Keep the eigenvalues of Lambda within the unit circle (edge of chaos: close to 1).",
                RuntimeWarning,
                stacklevel=3,
            )

    def reset_parameters(self) -> None:
        """Reinitialize the wrapped conv (or, when it has no ``reset_parameters``, such as DGL's
        ``GINConv``, each of its submodules); :math:`\\Lambda` and :math:`B` are fixed."""
        stack = [self.conv]
        while stack:
            module = stack.pop(0)
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                stack[:0] = list(module.children())

    def _merge_heads(self, out: torch.Tensor) -> torch.Tensor:
        if out.dim() == 3:
            out = out.mean(dim=1) if self.head_merge == "mean" else out.flatten(1)
        if out.dim() != 2 or out.shape[-1] != self.dim:
            raise ValueError(
                f"SSMConv: the wrapped {type(self.conv).__name__} returned shape {tuple(out.shape)}, "
                f"but the state dimension is dim={self.dim}; its output must be (N, {self.dim}) "
                f"(or (N, heads, out) merged by head_merge={self.head_merge!r})"
            )
        return out

    def forward(self, graph, feat: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """Compute one state-space step.

        Parameters
        ----------
        graph : dgl.DGLGraph
            The graph (a batched graph works as one block-diagonal graph).
        feat : torch.Tensor
            Node states :math:`H^{(k)}` of shape ``(N, dim)``.
        *args, **kwargs
            Passed through to the wrapped conv (e.g. ``edge_weight``).

        Returns
        -------
        torch.Tensor
            :math:`H^{(k+1)}` of shape ``(N, dim)``.
        """
        if feat.dim() != 2 or feat.shape[-1] != self.dim:
            raise ValueError(f"SSMConv: expected node states of shape (N, {self.dim}), got {tuple(feat.shape)}")
        update = self._merge_heads(self.conv(graph, feat, *args, **kwargs))
        if self.activation is not None:
            update = self.activation(update)
        state = _right_multiply(feat, *self._cached_structure("state_transition"))
        return state + _right_multiply(update, *self._cached_structure("input_matrix"))

    def _cached_structure(self, name: str):
        """Structure of a buffer, recomputed only when the buffer changes (in place or replaced)."""
        matrix = getattr(self.matrices, name)
        key = (matrix.data_ptr(), matrix._version, matrix.device, matrix.dtype)
        cache = self.__dict__.setdefault("_structure_cache", {})
        if name not in cache or cache[name][0] != key:
            cache[name] = (key, _structure(_finite(matrix, name)))
        return cache[name][1]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, spectral_radius(Lambda)={spectral_radius(self.state_transition):.3f}"
