"""The one base class of the deep models: encoder -> L layers -> (pooling) -> decoder.

Modelled on PyG's ``BasicGNN``: the scaffolding (encoder, dropout, layer
stack, gradient checkpointing, pooling, decoder, ``reset_parameters``,
``hidden_states``) lives here once; :class:`~dgl_ssm.models.DeepGNN`,
:class:`~dgl_ssm.models.baselines.GCNII` and :class:`~dgl_ssm.models.drew.DRewGCN`
give their layers and override only the step that differs.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Optional, Union

import torch
from dgl.nn import AvgPooling, MaxPooling, SumPooling
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from .activations import resolve_activation  # noqa: F401  (re-exported)
from .registry import lookup

__all__ = ["GNNBase", "POOLINGS", "resolve_activation", "reset_module"]

POOLINGS = {"mean": AvgPooling, "sum": SumPooling, "max": MaxPooling}


def reset_module(module: nn.Module) -> None:
    """Call ``module.reset_parameters()``, or recurse into its children when it has none (e.g. ``nn.Sequential``)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
    else:
        for child in module.children():
            reset_module(child)


class GNNBase(nn.Module):
    r"""Encoder, ``num_layers`` message-passing layers of width ``hidden``, optional pooling, decoder.

    .. math::
        H^{(0)} = \mathrm{encode}(X), \qquad
        H^{(\ell+1)} = \mathrm{step}_\ell(\mathcal{G}, H^{(\ell)}, H^{(0)}), \qquad
        Y = \mathrm{Dec}(\mathrm{dropout}(\mathrm{Pool}(H^{(L)})))

    Subclasses pass ``make_layer(i) -> nn.Module`` (0-based ``i``; called in
    order, after the encoder is built and before the decoder, so random draws
    happen encoder → layers → decoder) and override :meth:`step` (and
    :meth:`encode` or :meth:`propagate` when they differ).

    Parameters
    ----------
    in_feats : int
        Input feature size (ignored when ``encoder`` is given).
    hidden : int
        Width :math:`d` of every layer.
    out_feats : int
        Output size (classes, targets).
    num_layers : int
        Number of layers :math:`L \ge 1`.
    make_layer : callable
        ``make_layer(i) -> nn.Module``, the layer ``i`` of ``self.layers``.
    activation : str or callable, optional
        :math:`\sigma` as used by the subclass (stored as ``self.activation``).
    dropout : float
        Dropout probability (``self.dropout``; where it applies is the subclass's choice).
    checkpoint : bool or int
        Gradient checkpointing (:func:`torch.utils.checkpoint.checkpoint`):
        ``True`` recomputes segments of :math:`\lceil\sqrt{L}\rceil` layers in the
        backward pass (activation memory :math:`O(\sqrt{L})` layers), an int ``k``
        segments of ``k`` layers. Outputs and gradients are unchanged.
    readout : str, optional
        ``None`` for node-level outputs ``(N, out_feats)``; ``"mean"``, ``"sum"``
        or ``"max"`` pooling for graph-level outputs ``(B, out_feats)``.
    encoder : torch.nn.Module, optional
        Replaces ``Linear(in_feats, hidden)`` (e.g. ogb's AtomEncoder for molecules).
    decoder : torch.nn.Module, optional
        Replaces ``Linear(hidden, out_feats)`` (``nn.Identity()`` for models whose
        last layer maps to the classes, such as Kipf & Welling's GCN).
    l2norm : bool
        Divide every node state by its L2 norm after the last layer, before pooling and the decoder (GraphGym's
        ``gnn.l2norm``, on in LRGB's baselines).

    Raises
    ------
    ValueError
        On ``num_layers < 1``, a size that is not a positive int, a bad ``checkpoint``, or an unknown activation or
        readout.

    Examples
    --------
    A residual GCN whose every layer also reads the encoder's states, as GCNII's initial residual does
    (``step`` receives :math:`H^{(0)}`):

    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> class InitialResidualGCN(GNNBase):
    ...     def __init__(self, in_feats, hidden, out_feats, num_layers, alpha=0.1):
    ...         super().__init__(in_feats, hidden, out_feats, num_layers,
    ...                          lambda i: GraphConv(hidden, hidden), activation="relu")
    ...         self.alpha = alpha
    ...     def step(self, graph, h, index, h0):
    ...         return self.act((1 - self.alpha) * self.layers[index](graph, h) + self.alpha * h0)
    >>> g = dgl.add_self_loop(dgl.rand_graph(10, 30))
    >>> model = InitialResidualGCN(5, 16, 3, num_layers=8)
    >>> model(g, torch.randn(10, 5)).shape                  # (N, out_feats)
    torch.Size([10, 3])
    >>> len(model.hidden_states(g, torch.randn(10, 5)))     # H^(0), ..., H^(8)
    9
    """

    def __init__(
        self, in_feats: int, hidden: int, out_feats: int, num_layers: int,
        make_layer: Callable[[int], nn.Module],
        *,
        activation=None,
        dropout: float = 0.0,
        checkpoint: Union[bool, int] = False,
        readout: Optional[str] = None,
        encoder: Optional[nn.Module] = None,
        decoder: Optional[nn.Module] = None,
        l2norm: bool = False,
    ):
        super().__init__()
        self.l2norm = bool(l2norm)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        for name, size in (("in_feats", in_feats), ("hidden", hidden), ("out_feats", out_feats)):
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"{name} must be a positive int, got {size!r}")
        if not isinstance(checkpoint, bool) and int(checkpoint) < 1:
            raise ValueError(f"checkpoint must be a bool or a segment length >= 1, got {checkpoint!r}")
        pool = None if readout is None else lookup(POOLINGS, "readout", readout)
        self.in_feats, self.hidden, self.out_feats = in_feats, hidden, out_feats
        self.num_layers, self.checkpoint = num_layers, checkpoint
        self.activation = resolve_activation(activation)
        self.encoder = encoder if encoder is not None else nn.Linear(in_feats, hidden)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(make_layer(i) for i in range(num_layers))
        self.pool = None if pool is None else pool()
        self.decoder = decoder if decoder is not None else nn.Linear(hidden, out_feats)

    def reset_parameters(self) -> None:
        """Reinitialize the encoder, every layer and the decoder (in construction order); fixed buffers stay."""
        for module in (self.encoder, *self.layers, self.decoder):
            reset_module(module)

    def act(self, h: torch.Tensor) -> torch.Tensor:
        """:math:`\\sigma(h)` (identity when ``activation`` is ``None``)."""
        return self.activation(h) if self.activation is not None else h

    def encode(self, graph, feat: torch.Tensor) -> torch.Tensor:
        """Node states :math:`H^{(0)} = \\mathrm{dropout}(\\mathrm{Enc}(X))` of shape ``(N, hidden)``."""
        return self.dropout(self.encoder(feat))

    def step(self, graph, h: torch.Tensor, index: int, h0: torch.Tensor) -> torch.Tensor:
        """Layer ``index``: :math:`H^{(\\ell+1)}` from :math:`H^{(\\ell)}` (``h``) and :math:`H^{(0)}` (``h0``)."""
        return self.layers[index](graph, h)

    def checkpoint_segment(self) -> int:
        """Layers per checkpointed segment (``0`` when checkpointing is off)."""
        if self.checkpoint is False or self.checkpoint is None:
            return 0
        if self.checkpoint is True:
            return max(1, math.ceil(math.sqrt(self.num_layers)))
        return int(self.checkpoint)

    def _steps(self, graph, h: torch.Tensor, start: int, stop: int, h0: torch.Tensor) -> torch.Tensor:
        for index in range(start, stop):
            h = self.step(graph, h, index, h0)
        return h

    def propagate(self, graph, h: torch.Tensor, return_all: bool = False):
        """Run the ``num_layers`` layers from :math:`H^{(0)} = h`; optionally return every state :math:`[H^{(0)}, \\dots, H^{(L)}]`."""
        h0 = h
        segment = self.checkpoint_segment() if torch.is_grad_enabled() else 0
        if return_all:  # every state is kept anyway: checkpoint layer by layer at most
            states = [h]
            for index in range(self.num_layers):
                if segment:
                    h = _checkpoint(self.step, graph, h, index, h0, use_reentrant=False)
                else:
                    h = self.step(graph, h, index, h0)
                states.append(h)
            return states
        if not segment:
            return self._steps(graph, h, 0, self.num_layers, h0)
        for start in range(0, self.num_layers, segment):
            stop = min(start + segment, self.num_layers)
            h = _checkpoint(self._steps, graph, h, start, stop, h0, use_reentrant=False)
        return h

    def readout(self, graph, h: torch.Tensor) -> torch.Tensor:
        """Decoder (after pooling for graph-level models): ``(N or B, out_feats)``."""
        if self.l2norm:
            h = nn.functional.normalize(h, p=2.0, dim=-1)
        if self.pool is not None:
            h = self.pool(graph, h)
        return self.decoder(self.dropout(h))

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        """Return ``(N, out_feats)`` node outputs, or ``(batch_size, out_feats)`` with a readout."""
        return self.readout(graph, self.propagate(graph, self.encode(graph, feat)))

    def hidden_states(self, graph, feat: torch.Tensor) -> list:
        """Node states after the encoder and after every layer (``num_layers + 1`` tensors of shape ``(N, hidden)``)."""
        return self.propagate(graph, self.encode(graph, feat), return_all=True)
