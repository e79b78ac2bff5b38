"""Deep GNN builder: encoder -> L message-passing blocks -> readout."""
from __future__ import annotations

import copy
import inspect
import numbers
from typing import Optional, Union

from torch import nn

from ..nn.ssm import StateSpaceMatrices
from .activations import resolve_activation
from .base import POOLINGS, GNNBase
from .registry import BLOCKS, CONVS, PRESETS, check_options, lookup, register_preset

__all__ = ["DeepGNN", "build_model", "available_models", "POOLINGS"]


class DeepGNN(GNNBase):
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
    :math:`\Lambda` and :math:`B` are one pair of buffers
    (:class:`~dgl_ssm.nn.StateSpaceMatrices`, ``self.ssm_matrices``) shared by
    every layer: calibrating one layer's :math:`\Lambda` in place changes all.
    The scaffolding is :class:`~dgl_ssm.models.base.GNNBase`'s.

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
        ``{"heads": 4}``, ``{"state_transition": 0.5}``, ``{"norm": "batch"}``).
    l2norm : bool
        L2-normalise every node state after the last block (GraphGym's ``gnn.l2norm``).

    Raises
    ------
    ValueError
        On an unknown conv, block, activation or readout, an option that the
        conv or block does not take (e.g. a misspelled ``state_transition``, or
        SSM options for a non-SSM block), ``num_layers < 1``, or ``share_weights`` with a conv that depends on its
        layer (the k-hop conv, whose layer :math:`\ell` reads rings :math:`K(\ell)`: every layer would read layer 0's).

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
        self, in_feats: int, hidden: int, out_feats: int, num_layers: int,
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
        l2norm: bool = False,
    ):
        if isinstance(hidden, bool) or not isinstance(hidden, numbers.Integral) or hidden < 1:
            raise ValueError(f"hidden must be a positive int, got {hidden!r}")  # before Λ and B are built at it
        conv_factory = lookup(CONVS, "conv", conv)
        block_factory = lookup(BLOCKS, "block", block)
        conv_options, block_options = dict(conv_options or {}), dict(block_options or {})
        check_options(conv_factory, conv_options, "conv", conv, passed=("layer", "num_layers"))
        check_options(block_factory, block_options, "block", block, passed=("matrices",))
        if share_weights and num_layers > 1 and "layer" in inspect.signature(conv_factory).parameters:
            raise ValueError(f"share_weights=True shares the conv built for layer 0, but conv {conv!r} depends on its "
                             "layer (its rings K(ℓ)): every layer would read layer 0's; use share_weights=False")
        act = resolve_activation(activation)
        matrices = None
        if getattr(block_factory, "state_space", False):  # one Lambda and one B for the whole model
            matrices = StateSpaceMatrices(
                hidden, block_options.pop("state_transition", 1.0), block_options.pop("input_matrix", "identity"),
                r_min=block_options.pop("r_min", None), r_max=block_options.pop("r_max", None),
                seed=block_options.pop("seed", 0),
            )
            block_options["matrices"] = matrices
        shared = []  # share_weights: one conv (built as layer 0) for every layer

        def make_layer(i: int) -> nn.Module:
            # conv factories get the 0-based layer index (k-hop convs pick their rings from it)
            if share_weights and shared:
                f = shared[0]
            else:
                f = conv_factory(hidden, layer=0 if share_weights else i, num_layers=num_layers, **conv_options)
                shared.append(f)
            return block_factory(f, hidden, act, **block_options)

        super().__init__(in_feats, hidden, out_feats, num_layers, make_layer, activation=activation, dropout=dropout,
                         checkpoint=checkpoint, readout=readout, encoder=encoder, l2norm=l2norm)
        self.share_weights = share_weights

    @property
    def ssm_matrices(self) -> Optional[StateSpaceMatrices]:
        """The :class:`~dgl_ssm.nn.StateSpaceMatrices` shared by every SSM layer (``None`` for other blocks)."""
        return getattr(self.layers[0], "matrices", None)


def available_models() -> list:
    """Names accepted by :func:`build_model`, sorted.

    Returns
    -------
    list of str

    Examples
    --------
    >>> {"gcn", "gcn-ssm", "kgcn-ssm", "gcnii", "drew-gcn"} <= set(available_models())
    True
    """
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
    preset = lookup(PRESETS, "model", name)
    kwargs = copy.deepcopy(dict(preset.kwargs))
    for key in ("conv_options", "block_options"):
        if key in overrides:
            kwargs[key] = {**kwargs.get(key, {}), **overrides.pop(key)}
    kwargs.update(overrides)
    return preset.factory(in_feats, hidden, out_feats, num_layers, **kwargs)


for _conv in ("gcn", "gat", "gin", "sage"):  # the standard presets: plain, residual and GNN-SSM blocks of each conv
    register_preset(_conv, family="plain", factory=DeepGNN, conv=_conv, block="plain")
    register_preset(f"res-{_conv}", family="residual", factory=DeepGNN, conv=_conv, block="residual")
    register_preset(f"{_conv}-ssm", family="ssm", factory=DeepGNN, conv=_conv, block="ssm")
# the control without message passing: the plain GCN model with each GraphConv replaced by a linear layer
register_preset("mlp", family="plain", factory=DeepGNN, conv="linear", block="plain")
# the gcn model with a symmetric stochastic propagation P = I - L/(d_max + 1) instead of D^-1/2 (A + I) D^-1/2
register_preset("ds-gcn", family="plain", factory=DeepGNN, conv="doubly_stochastic", block="plain")
