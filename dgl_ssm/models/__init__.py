"""Deep-model builder, block types and named model presets.

Presets (``build_model(name, ...)``):

======================  ==========================================================
``gcn``, ``gat``,       plain message passing :math:`\\sigma(F(H))`
``gin``, ``sage``
``res-gcn``, ...        residual :math:`H + \\sigma(F(H))`
``gcn-ssm``, ...        GNN-SSM :math:`H\\Lambda^\\top + \\sigma(F(H))B^\\top`
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

for _conv in ("gcn", "gat", "gin", "sage"):
    register_preset(_conv, family="plain", conv=_conv, block="plain")
    register_preset(f"res-{_conv}", family="residual", conv=_conv, block="residual")
    register_preset(f"{_conv}-ssm", family="ssm", conv=_conv, block="ssm")

from . import baselines  # noqa: E402,F401  (registers lip-res-gcn and gcnii)

#: LRGB's GCN baseline (Dwivedi et al. 2022; vijaydwivedi75/lrgb configs/GCN/peptides-func-GCN.yaml, GraphGym):
#: every layer GCNConv without bias, BatchNorm1d, ReLU; node states L2-normalised after the last layer (GraphGym's
#: default gnn.l2norm), then mean pooling and one Linear layer
register_preset("lrgb-gcn", family="baseline", conv="gcn", block="plain", conv_options={"bias": False},
                block_options={"norm": "batch"}, l2norm=True)


def needs_hop_edges(name: str) -> bool:
    """Whether model preset ``name`` reads ``edata['hop']``, i.e. needs a graph rewired by
    :class:`~dgl_ssm.transforms.KHopRewire` (k-hop convs, DRew).

    Raises
    ------
    ValueError
        On an unknown preset name.
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
