"""Layer blocks: plain, residual and state-space (SSM) message passing."""
from __future__ import annotations

from torch import nn

from ..nn.ssm import SSMConv
from .base import reset_module
from .registry import register_block


NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


class PlainBlock(nn.Module):
    r"""Plain message passing :math:`H \mapsto \sigma(\mathrm{Norm}(F_\theta(\mathcal{G}, H)))`.

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

    Raises
    ------
    ValueError
        On an unknown ``norm``.
    """

    def __init__(self, conv: nn.Module, activation=None, norm=None, dim=None):
        super().__init__()
        self.conv, self.activation = conv, activation
        if norm is not None and norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)} (or none)")
        self.norm = NORMS[norm](dim) if norm is not None else None

    def reset_parameters(self) -> None:
        """Reinitialize the conv (and the normalisation's affine parameters and statistics)."""
        reset_module(self.conv)
        if self.norm is not None:
            self.norm.reset_parameters()

    def forward(self, graph, feat):
        out = self.conv(graph, feat)
        if self.norm is not None:
            out = self.norm(out)
        return self.activation(out) if self.activation is not None else out


class ResidualBlock(PlainBlock):
    r"""Residual message passing :math:`H \mapsto H + \alpha\,\sigma(F_\theta(\mathcal{G}, H))` (He et al. 2016)."""

    def __init__(self, conv: nn.Module, activation=None, alpha: float = 1.0, norm=None, dim=None):
        super().__init__(conv, activation, norm, dim)
        self.alpha = float(alpha)

    def forward(self, graph, feat):
        return feat + self.alpha * super().forward(graph, feat)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


@register_block("plain")
def plain(conv, dim, activation, *, norm=None, **_):
    return PlainBlock(conv, activation, norm=norm, dim=dim)


@register_block("residual")
def residual(conv, dim, activation, *, alpha: float = 1.0, norm=None, **_):
    return ResidualBlock(conv, activation, alpha=alpha, norm=norm, dim=dim)


@register_block("ssm")
def ssm(conv, dim, activation, *, state_transition=1.0, input_matrix="identity", r_min=0.9, r_max=1.0, seed=None,
        matrices=None, **_):
    """GNN-SSM block (:class:`~dgl_ssm.nn.SSMConv`); :class:`~dgl_ssm.models.DeepGNN` passes one shared ``matrices``."""
    if matrices is not None:
        return SSMConv(conv, dim, matrices=matrices, activation=activation)
    return SSMConv(
        conv, dim, state_transition, input_matrix, r_min=r_min, r_max=r_max, seed=seed, activation=activation
    )


ssm.state_space = True  # builders make one StateSpaceMatrices per model for blocks with this flag
