"""The k-hop conv in the model registry: kGCN, residual kGCN and kGCN-SSM (kGNN-SSM).

kGNN-SSM (Arroyo et al. 2025, arXiv:2502.10818, Sec. 6) is GNN-SSM
(:class:`~dgl_ssm.nn.SSMConv`) whose :math:`F_\\theta` is a k-hop conv
(:class:`~dgl_ssm.nn.KHopConv`) on the rewired graph:
:math:`H^{(\\ell+1)} = H^{(\\ell)}\\Lambda^\\top + \\sigma\\big(\\sum_{k \\in K(\\ell)}
\\hat{A}_k H^{(\\ell)} W_k\\big) B^\\top`. The graph passed to the model must come
from :class:`~dgl_ssm.transforms.KHopRewire` (``edata['hop']``).
"""
from __future__ import annotations

from ..nn.khop import KHopConv
from .deep_gnn import DeepGNN
from .registry import register_conv, register_preset


@register_conv("khop")
def khop(dim: int, *, layer: int = 0, max_hop=None, rings: str = "cumulative", bias: bool = True, **_) -> KHopConv:
    """k-hop GCN over shortest-path rings :math:`K(\\ell)` (``conv_options``: ``max_hop``, ``rings``, ``bias``).

    With the default ``max_hop=None`` layer :math:`\\ell` (0-based) reads rings
    :math:`1..\\ell+1` (cumulative); rings the rewired graph lacks are empty, so
    pass the rewiring's ``max_hop`` to avoid unused weights.
    """
    return KHopConv(dim, dim, max_hop=max_hop, rings=rings, layer=layer, bias=bias)


for _name, _family in (("kgcn", "plain"), ("res-kgcn", "residual"), ("kgcn-ssm", "ssm")):
    register_preset(_name, family=_family, factory=DeepGNN, conv="khop", block=_family,
                    max_hop_option="conv_options.max_hop")
