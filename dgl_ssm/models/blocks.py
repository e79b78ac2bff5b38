"""Layer blocks: plain, residual and state-space (SSM) message passing."""
from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ..nn.ssm import SSMConv
from .base import reset_module
from .registry import register_block


NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def check_l2norm(l2norm) -> bool:
    """``l2norm`` if it is a bool; else ``ValueError`` (a string such as ``"false"`` would read as true)."""
    if not isinstance(l2norm, bool):
        raise ValueError(f"l2norm must be True or False, got {l2norm!r}")
    return l2norm


class PlainBlock(nn.Module):
    r"""Plain message passing :math:`H \mapsto \sigma(\mathrm{Norm}(F_\theta(\mathcal{G}, H)))`, optionally L2-normalised.

    Parameters
    ----------
    conv : torch.nn.Module
        ``(N, d) -> (N, d)``.
    activation : callable, optional
    norm : str, optional
        ``"batch"`` (:class:`torch.nn.BatchNorm1d` over the nodes of the batch, GraphGym's ``batchnorm: True``
        as LRGB's GCN uses it: conv, batch norm, activation) or ``"layer"``; ``None`` (default): none.
    dim : int, optional
        Width of the normalisation (required with ``norm``).
    l2norm : bool
        Divide each node's output by its L2 norm, after the activation: GraphGym's ``GeneralLayer`` with
        ``has_l2norm`` (``gnn.l2norm``, on by default, so in every layer of LRGB's baselines). Default ``False``.

    Raises
    ------
    ValueError
        On an unknown ``norm`` or an ``l2norm`` that is not a bool.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> block = PlainBlock(GraphConv(4, 4), torch.relu, norm="batch", dim=4, l2norm=True)
    >>> out = block(g, torch.randn(3, 4))                 # (N, 4): conv, batch norm, ReLU, unit rows
    >>> bool(((out.norm(dim=-1) - 1).abs() < 1e-6).logical_or(out.norm(dim=-1) == 0).all())
    True
    """

    def __init__(self, conv: nn.Module, activation=None, norm=None, dim=None, l2norm: bool = False):
        super().__init__()
        self.conv, self.activation = conv, activation
        if norm is not None and norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)} (or none)")
        self.norm = NORMS[norm](dim) if norm is not None else None
        self.l2norm = check_l2norm(l2norm)

    def reset_parameters(self) -> None:
        """Reinitialize the conv (and the normalisation's affine parameters and statistics)."""
        reset_module(self.conv)
        if self.norm is not None:
            self.norm.reset_parameters()

    def forward(self, graph, feat):
        out = self.conv(graph, feat)
        if self.norm is not None:
            out = self.norm(out)
        if self.activation is not None:
            out = self.activation(out)
        return F.normalize(out, p=2.0, dim=-1) if self.l2norm else out

    def extra_repr(self) -> str:
        return "l2norm=True" if self.l2norm else ""


class ResidualBlock(PlainBlock):
    r"""Residual message passing :math:`H \mapsto H + \alpha\,\sigma(F_\theta(\mathcal{G}, H))` (He et al. 2016).

    Parameters
    ----------
    conv : torch.nn.Module
        ``(N, d) -> (N, d)``.
    activation : callable, optional
    alpha : float
        Scale :math:`\alpha` of the update. Default 1.
    norm, dim, l2norm
        As in :class:`PlainBlock` (the normalisations apply to the update, before the sum).

    Raises
    ------
    ValueError
        On an unknown ``norm`` or an ``l2norm`` that is not a bool.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1], [1, 2])))
    >>> block = ResidualBlock(GraphConv(4, 4), torch.relu, alpha=0.5)
    >>> h = torch.randn(3, 4)
    >>> torch.allclose(block(g, h), h + 0.5 * torch.relu(block.conv(g, h)))
    True
    """

    def __init__(self, conv: nn.Module, activation=None, alpha: float = 1.0, norm=None, dim=None,
                 l2norm: bool = False):
        super().__init__(conv, activation, norm, dim, l2norm)
        self.alpha = float(alpha)

    def forward(self, graph, feat):
        return feat + self.alpha * super().forward(graph, feat)

    def extra_repr(self) -> str:
        return ", ".join(filter(None, (f"alpha={self.alpha}", super().extra_repr())))


@register_block("plain")
def plain(conv, dim, activation, *, norm=None, l2norm: bool = False, **_):
    return PlainBlock(conv, activation, norm=norm, dim=dim, l2norm=l2norm)


@register_block("residual")
def residual(conv, dim, activation, *, alpha: float = 1.0, norm=None, l2norm: bool = False, **_):
    return ResidualBlock(conv, activation, alpha=alpha, norm=norm, dim=dim, l2norm=l2norm)


@register_block("ssm")
def ssm(conv, dim, activation, *, state_transition=1.0, input_matrix="identity", r_min=None, r_max=None, seed=None,
        matrices=None, **_):
    """GNN-SSM block (:class:`~dgl_ssm.nn.SSMConv`); :class:`~dgl_ssm.models.DeepGNN` passes one shared ``matrices``."""
    if matrices is not None:
        return SSMConv(conv, dim, matrices=matrices, activation=activation)
    return SSMConv(
        conv, dim, state_transition, input_matrix, r_min=r_min, r_max=r_max, seed=seed, activation=activation
    )


ssm.state_space = True  # builders make one StateSpaceMatrices per model for blocks with this flag
