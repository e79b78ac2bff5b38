"""Deep-model builder, block types and named model presets.

Presets (``build_model(name, ...)``):

======================  ==========================================================
``gcn``, ``gat``,       plain message passing :math:`\\sigma(F(H))`
``gin``, ``sage``
``res-gcn``, ...        residual :math:`H + \\sigma(F(H))`
``gcn-ssm``, ...        GNN-SSM :math:`H\\Lambda^\\top + \\sigma(F(H))B^\\top`
``mlp``                 the ``gcn`` model without message passing (conv ``linear``), a control
``ds-gcn``              the ``gcn`` model with a symmetric stochastic :math:`P = I - L/(d_{max}+1)`
``lip-res-gcn``,        baselines, see :mod:`dgl_ssm.models.baselines`
``gcnii``
======================  ==========================================================
"""
from . import blocks, convs  # noqa: F401  (registers the standard convs and blocks)
from . import drew, khop  # noqa: F401,E402  (registers the k-hop conv, kGCN(-SSM) and DRew presets)
from .base import GNNBase
from .blocks import PlainBlock, ResidualBlock
from .deep_gnn import DeepGNN, available_models, build_model
from .registry import BLOCKS, CONVS, PRESETS, Preset, lookup, register_block, register_conv, register_preset

from . import baselines  # noqa: E402,F401  (registers the published baselines: lip-res-gcn, gcnii, lrgb-gcn, ...)


def needs_hop_edges(name: str) -> bool:
    """Whether model preset ``name`` reads ``edata['hop']``, i.e. needs a graph rewired by
    :class:`~dgl_ssm.transforms.KHopRewire` (k-hop convs, DRew).

    Parameters
    ----------
    name : str
        A preset name (:func:`available_models`).

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        On an unknown preset name.

    Examples
    --------
    >>> needs_hop_edges("kgcn-ssm"), needs_hop_edges("gcn-ssm")
    (True, False)
    """
    return lookup(PRESETS, "model", name).needs_hop_edges


__all__ = [
    "needs_hop_edges",
    "GNNBase",
    "DeepGNN",
    "Preset",
    "build_model",
    "available_models",
    "PlainBlock",
    "ResidualBlock",
    "register_conv",
    "register_block",
    "register_preset",
    "CONVS",
    "BLOCKS",
    "PRESETS",
]
