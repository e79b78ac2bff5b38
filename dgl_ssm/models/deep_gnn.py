"""Deep GNN builder: encoder -> L message-passing blocks -> readout."""
from __future__ import annotations

import copy
import math
from typing import Optional, Union

import torch
from dgl.nn import AvgPooling, MaxPooling, SumPooling
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from ..nn.ssm import make_input_matrix, make_state_transition
from ..runtime import warn_if_slow
from .convs import ACTIVATIONS
from .registry import BLOCKS, CONVS, PRESETS, check_options, lookup

__all__ = ["DeepGNN", "build_model", "available_models"]

POOLINGS = {"mean": AvgPooling, "sum": SumPooling, "max": MaxPooling}


def _activation(name_or_fn):
    if name_or_fn is None or callable(name_or_fn):
        return name_or_fn
    return lookup(ACTIVATIONS, "activation", name_or_fn)


class DeepGNN(nn.Module):
    r"""Encoder, ``num_layers`` message-passing blocks of width ``hidden``, readout.

    .. math::
        H^{(0)} = \mathrm{Enc}(X), \qquad
        H^{(\ell+1)} = \mathrm{Block}_\ell(\mathcal{G}, H^{(\ell)}), \qquad
        Y = \mathrm{Dec}(\mathrm{Pool}(H^{(L)}))

    The block type is a choice: ``"plain"`` :math:`\sigma(F(H))`,
    ``"residual"`` :math:`H + \sigma(F(H))`, ``"ssm"``
    :math:`H\Lambda^\top + \sigma(F(H))B^\top` (:class:`~dgl_ssm.nn.SSMConv`,
    Arroyo et al. 2025, arXiv:2502.10818, Eq. 9), and whatever else is
    registered in :mod:`dgl_ssm.models.registry`. In the SSM model
    :math:`\Lambda` and :math:`B` are built once and shared by all layers.

    Parameters
    ----------
    in_feats : int
        Input feature size (ignored when ``encoder`` is given).
    hidden : int
        Width :math:`d` of every message-passing layer.
    out_feats : int
        Output size (classes, targets).
    num_layers : int
        Number of message-passing blocks :math:`L` (>= 1).
    conv : str
        Registered conv: ``"gcn"``, ``"gat"``, ``"sage"``, ``"gin"``, ...
    block : str
        Registered block: ``"plain"``, ``"residual"``, ``"ssm"``, ...
    activation : str or callable
        :math:`\sigma`: ``"relu"``, ``"tanh"``, ``"gelu"``, ``"identity"``.
    dropout : float
        Dropout on the encoder output and before the decoder.
    share_weights : bool
        One conv shared by all layers (a recurrent GNN) instead of one per layer.
    checkpoint : bool or int
        Gradient checkpointing (:func:`torch.utils.checkpoint.checkpoint`):
        keep only the input of each segment of consecutive blocks and recompute
        the segment in the backward pass, trading one extra forward for memory.
        ``True`` uses segments of :math:`\lceil\sqrt{L}\rceil` blocks, so peak
        activation memory is :math:`O(\sqrt{L})` blocks instead of :math:`O(L)`
        (measured on a 256-layer GCN-SSM on Cora: ``benchmarks/bench_depth_memory.py``);
        an int ``k`` uses segments of ``k`` blocks (``1``: every block on its own,
        which still stores one state per layer). Outputs and gradients are the
        same as without checkpointing.
    readout : str, optional
        ``None`` for node-level outputs ``(N, out_feats)``; ``"mean"``,
        ``"sum"`` or ``"max"`` pooling for graph-level outputs ``(B, out_feats)``.
    encoder : torch.nn.Module, optional
        Replaces the default ``Linear(in_feats, hidden)`` (e.g. ogb's AtomEncoder).
    conv_options, block_options : dict
        Extra keyword arguments of the conv and block factories (e.g.
        ``{"heads": 4}``, ``{"state_transition": 0.5}``).

    Raises
    ------
    ValueError
        On an unknown conv, block, activation or readout, an option that the
        conv or block does not take (e.g. a misspelled ``state_transition``, or
        SSM options for a non-SSM block), or ``num_layers < 1``.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import DeepGNN
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> model = DeepGNN(5, 16, 3, num_layers=32, conv="gcn", block="ssm",
    ...                 block_options={"state_transition": 1.0})
    >>> model(g, torch.randn(3, 5)).shape
    torch.Size([3, 3])
    """

    def __init__(
        self,
        in_feats: int,
        hidden: int,
        out_feats: int,
        num_layers: int,
        conv: str = "gcn",
        block: str = "ssm",
        activation="relu",
        dropout: float = 0.0,
        share_weights: bool = False,
        checkpoint: Union[bool, int] = False,
        readout: Optional[str] = None,
        encoder: Optional[nn.Module] = None,
        conv_options: Optional[dict] = None,
        block_options: Optional[dict] = None,
    ):
        super().__init__()
        warn_if_slow()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        conv_factory = lookup(CONVS, "conv", conv)
        block_factory = lookup(BLOCKS, "block", block)
        if not isinstance(checkpoint, bool) and int(checkpoint) < 1:
            raise ValueError(f"checkpoint must be a bool or a segment length >= 1, got {checkpoint!r}")
        self.hidden, self.num_layers, self.checkpoint = hidden, num_layers, checkpoint
        self.encoder = encoder if encoder is not None else nn.Linear(in_feats, hidden)
        self.dropout = nn.Dropout(dropout)
        act = _activation(activation)
        conv_options = dict(conv_options or {})
        check_options(conv_factory, conv_options, "conv", conv, passed=("layer", "num_layers"))
        check_options(block_factory, dict(block_options or {}), "block", block)
        block_options = self._shared_ssm_matrices(block, hidden, dict(block_options or {}))
        # conv factories get the 0-based layer index (k-hop convs pick their rings from it); a shared conv is layer 0
        shared = conv_factory(hidden, layer=0, num_layers=num_layers, **conv_options) if share_weights else None
        self.layers = nn.ModuleList(
            block_factory(
                shared if share_weights else conv_factory(hidden, layer=i, num_layers=num_layers, **conv_options),
                hidden, act, **block_options,
            )
            for i in range(num_layers)
        )
        self.pool = None if readout is None else lookup(POOLINGS, "readout", readout)()
        self.decoder = nn.Linear(hidden, out_feats)

    @staticmethod
    def _shared_ssm_matrices(block: str, dim: int, options: dict) -> dict:
        """Build Lambda and B once, so that every SSM layer uses the same matrices."""
        if block != "ssm":
            return options
        seed = options.get("seed", 0)
        options["state_transition"] = make_state_transition(
            dim, options.get("state_transition", 1.0), options.get("r_min", 0.9), options.get("r_max", 1.0), seed
        )
        options["input_matrix"] = make_input_matrix(dim, options.get("input_matrix", "identity"), seed)
        return options

    def encode(self, graph, feat: torch.Tensor) -> torch.Tensor:
        """Node states :math:`H^{(0)}` of shape ``(N, hidden)``."""
        return self.dropout(self.encoder(feat))

    def checkpoint_segment(self) -> int:
        """Blocks per checkpointed segment (``0`` when checkpointing is off)."""
        if self.checkpoint is False or self.checkpoint is None:
            return 0
        if self.checkpoint is True:
            return max(1, math.ceil(math.sqrt(self.num_layers)))
        return int(self.checkpoint)

    def _run_blocks(self, graph, h: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        for layer in self.layers[start:stop]:
            h = layer(graph, h)
        return h

    def propagate(self, graph, h: torch.Tensor, return_all: bool = False):
        """Run the ``num_layers`` blocks; optionally return every state :math:`[H^{(0)}, \\dots, H^{(L)}]`."""
        segment = self.checkpoint_segment() if torch.is_grad_enabled() else 0
        if return_all:  # every state is kept anyway: checkpoint block by block at most
            states = [h]
            for layer in self.layers:
                h = _checkpoint(layer, graph, h, use_reentrant=False) if segment else layer(graph, h)
                states.append(h)
            return states
        if not segment:
            return self._run_blocks(graph, h, 0, self.num_layers)
        for start in range(0, self.num_layers, segment):
            stop = min(start + segment, self.num_layers)
            h = _checkpoint(self._run_blocks, graph, h, start, stop, use_reentrant=False)
        return h

    def readout(self, graph, h: torch.Tensor) -> torch.Tensor:
        """Decoder (after pooling for graph-level models)."""
        if self.pool is not None:
            h = self.pool(graph, h)
        return self.decoder(self.dropout(h))

    def forward(self, graph, feat: torch.Tensor) -> torch.Tensor:
        """Return ``(N, out_feats)`` node outputs, or ``(batch_size, out_feats)`` with a readout."""
        return self.readout(graph, self.propagate(graph, self.encode(graph, feat)))

    def hidden_states(self, graph, feat: torch.Tensor) -> list:
        """Node states after the encoder and after every block (``num_layers + 1`` tensors)."""
        return self.propagate(graph, self.encode(graph, feat), return_all=True)


def available_models() -> list:
    """Names accepted by :func:`build_model`."""
    return sorted(PRESETS)


def build_model(name: str, in_feats: int, hidden: int, out_feats: int, num_layers: int, **overrides) -> nn.Module:
    """Build a registered model preset by name (``"gcn"``, ``"res-gcn"``, ``"gcn-ssm"``, ...).

    Parameters
    ----------
    name : str
        A preset name (see :func:`available_models`).
    in_feats, hidden, out_feats, num_layers : int
        Sizes, as in :class:`DeepGNN`.
    **overrides
        Keyword arguments that replace or extend the preset's (e.g.
        ``block_options={"state_transition": 0.5}``, ``readout="mean"``).
        ``conv_options`` and ``block_options`` are merged key by key.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        On an unknown name.

    Examples
    --------
    >>> from dgl_ssm.models import build_model
    >>> model = build_model("gcn-ssm", 1433, 64, 7, num_layers=8, block_options={"state_transition": 0.5})
    >>> float(model.layers[0].state_transition[0, 0])
    0.5
    """
    preset = copy.deepcopy(lookup(PRESETS, "model", name))
    factory = preset.pop("factory", DeepGNN)
    for key in ("conv_options", "block_options"):
        if key in overrides:
            preset[key] = {**preset.get(key, {}), **overrides.pop(key)}
    preset.update(overrides)
    return factory(in_feats, hidden, out_feats, num_layers, **preset)
