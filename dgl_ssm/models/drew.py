"""DRew-GCN: dynamically rewired message passing with delay (baseline).

Source: Gutteridge, Dong, Bronstein, Di Giovanni (2023). "DRew: Dynamically
Rewired Message Passing with Delay", ICML, Eq. 5-6 (GCN instance).
"""
from __future__ import annotations

import math
from typing import List, Optional

import torch
from dgl import DGLError
from torch import nn

from ..nn.khop import KHopConv
from .base import GNNBase
from .blocks import check_l2norm
from .registry import register_preset

__all__ = ["DRewGCN", "delay"]


def delay(k: int, nu: Optional[float] = None) -> int:
    r"""DRew's delay :math:`\tau_\nu(k) = \max(0, k - \nu)`; ``nu=None`` or ``inf`` gives 0 (no delay).

    Examples
    --------
    >>> [delay(k, 1) for k in (1, 2, 3)], delay(3, None)
    ([0, 1, 2], 0)
    """
    if nu is None or math.isinf(nu):
        return 0
    return int(max(0, k - nu))


class DRewGCN(GNNBase):
    r"""DRew-GCN: layer :math:`\ell` aggregates over the rings :math:`1..\ell+1`, ring :math:`k` with delay :math:`\tau(k)`.

    .. math::
        x^{(\ell+1)} = x^{(\ell)} + \sigma\Big(\sum_{k=1}^{\min(\ell+1, k_{max})}
        \hat{A}_k\, x^{(\ell - \tau_\nu(k))} W_{k,\ell}\Big),
        \qquad \tau_\nu(k) = \max(0, k - \nu)

    with :math:`\hat{A}_k` the normalised adjacency of the ring
    :math:`\{(u, v) : d(u, v) = k\}` (ring 1 with self-loops: GCN), one
    :class:`~dgl_ssm.nn.KHopConv` per layer (``rings="cumulative"``), and the
    delayed index clamped at 0 (:math:`x^{(\max(0, \ell - \tau))}`).
    :math:`\nu = \infty` (``nu=None``) is DRew without delay: every ring reads
    the current state; :math:`\nu = 1` delays ring :math:`k` by
    :math:`k - 1` layers (information from :math:`k` hops away arrives as if
    it had travelled one hop per layer). All layer states are kept for the
    delay. Layers ``0 .. L-1`` are 0-based as in :func:`~dgl_ssm.nn.khop.ring_schedule`.

    The graph must be rewired by :class:`~dgl_ssm.transforms.KHopRewire`
    with ``max_hop >= min(num_layers, k_max)`` (rings it lacks are empty).

    **DRew's own code differs from this equation** (github.com/BenGutteridge/DRew,
    ``lrgb/graphgps/stage/drew_gnn.py``, each ring a GraphGym ``GeneralLayer``
    around PyG's ``GCNConv``; its Peptides-func configurations set
    ``gnn.batchnorm`` and ``gnn.l2norm``): every ring gets a self-loop
    (``GCNConv`` adds one to each ring's edges; here only ring 1 has it), each
    ring's term passes batch norm, ReLU and L2 normalisation before the sum
    (here one :math:`\sigma` after it), each layer's state is L2-normalised,
    and the rings are not capped (``k_max`` = 10⁶). DRew's published Peptides
    numbers are that model's. With ``self_loops="every"``, ``norm="batch"``,
    ``l2norm=True`` and ``bias=False`` this class builds it (the preset
    ``drew-gcn-lrgb``; ``max_hop`` at least the number of layers lifts the cap):

    .. math::
        x^{(\ell+1)} = \mathrm{L2}\Big(x^{(\ell)} + \sigma\Big(\sum_{k}
        \mathrm{L2}\big(\sigma(\mathrm{BN}_{k,\ell}(\tilde{A}_k\, x^{(\ell - \tau_\nu(k))} W_{k,\ell}))\big)\Big)\Big),
        \qquad \tilde{A}_k = \tilde D_k^{-1/2} (A_k + I) \tilde D_k^{-1/2}

    with :math:`\mathrm{L2}` dividing each node's state by its L2 norm.

    Parameters
    ----------
    in_feats, hidden, out_feats : int
        Input size (ignored when ``encoder`` is given), width, output size.
    num_layers : int
        Number of DRew layers :math:`L \ge 1`.
    nu : float, optional
        Delay rate :math:`\nu \ge 1`; ``None`` or ``float('inf')`` for no delay.
    max_hop : int, optional
        :math:`k_{max}` (DRew caps the ring count); ``None`` for no cap.
    activation : str or callable
        :math:`\sigma` (``"relu"``, ``"tanh"``, ``"gelu"``, ``"identity"`` or a function).
    dropout : float
        Dropout on the encoder output, on each update and before the decoder.
    readout : str, optional
        ``None`` (node outputs) or ``"mean"``, ``"sum"``, ``"max"`` pooling.
    encoder : torch.nn.Module, optional
        Replaces the default ``Linear(in_feats, hidden)``.
    bias : bool
        Bias in each layer (one for all its rings, added to each ring's term when they are transformed apart).
    self_loops : str
        ``"first"`` (ring 1 only: GCN's :math:`A + I`) or ``"every"`` ring gets :math:`I` (DRew's code).
    norm : str, optional
        ``"batch"``: a :class:`torch.nn.BatchNorm1d` on each ring's term of each layer (GraphGym's
        ``gnn.batchnorm``), then :math:`\sigma` on each term before the sum; ``None`` (default): none.
    l2norm : bool
        Divide each ring's term (after its :math:`\sigma`) and each layer's state by their L2 norm (GraphGym's
        ``gnn.l2norm``, set in DRew's configurations). Default ``False``.

    Raises
    ------
    ValueError
        On ``num_layers < 1``, ``nu < 1``, an unknown ``self_loops`` or ``norm``, an ``l2norm`` that is not a bool,
        or an unknown activation or readout.
    dgl.DGLError
        (forward) If the graph has no ``edata['hop']``.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> from dgl_ssm.transforms import KHopRewire
    >>> g = KHopRewire(max_hop=4)(dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4])))
    >>> model = build_model("drew-gcn-delay", 3, 16, 2, num_layers=4)
    >>> model.layers[3].rings, model(g, torch.randn(5, 3)).shape
    ([1, 2, 3, 4], torch.Size([5, 2]))
    >>> ref = build_model("drew-gcn-lrgb", 3, 16, 2, num_layers=4, max_hop=4)   # DRew's code's layer
    >>> [round(float(n), 4) for n in ref.hidden_states(g, torch.randn(5, 3))[-1].norm(dim=1)]
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(
        self, in_feats: int, hidden: int, out_feats: int, num_layers: int,
        nu: Optional[float] = None,
        max_hop: Optional[int] = None,
        activation="relu",
        dropout: float = 0.0,
        readout: Optional[str] = None,
        encoder: Optional[nn.Module] = None,
        bias: bool = True,
        self_loops: str = "first",
        norm: Optional[str] = None,
        l2norm: bool = False,
    ):
        if nu is not None and not nu >= 1:
            raise ValueError(f"nu must be >= 1, None or inf, got {nu}")
        if norm not in (None, "batch"):
            raise ValueError(f"norm must be 'batch' or None, got {norm!r}")
        check_l2norm(l2norm)
        super().__init__(
            in_feats, hidden, out_feats, num_layers,
            lambda i: KHopConv(hidden, hidden, max_hop=max_hop, rings="cumulative", layer=i, bias=bias,
                               self_loops=self_loops),
            activation=activation, dropout=dropout, readout=readout, encoder=encoder,
        )
        self.nu, self.norm, self.ring_l2norm = nu, norm, l2norm
        #: per layer, one batch norm per ring (``norm="batch"``), else ``None``
        self.ring_norms = None if norm is None else nn.ModuleList(
            nn.ModuleList(nn.BatchNorm1d(hidden) for _ in conv.rings) for conv in self.layers)

    def reset_parameters(self) -> None:
        """Reinitialize the encoder, every layer, the ring batch norms and the decoder."""
        super().reset_parameters()
        for norm in () if self.ring_norms is None else (n for layer in self.ring_norms for n in layer):
            norm.reset_parameters()

    def update(self, graph, states: List[torch.Tensor], layer: int) -> torch.Tensor:
        r"""The update :math:`\sigma(\sum_k \hat{A}_k x^{(\ell - \tau(k))} W_{k,\ell})` of layer ``layer``.

        ``states[j]`` is :math:`x^{(j)}`; it must hold ``layer + 1`` states or more.
        """
        conv = self.layers[layer]
        inputs = [states[max(0, layer - delay(k, self.nu))] for k in conv.rings]
        if self.ring_norms is None and not self.ring_l2norm:
            return self.act(conv(graph, inputs))
        total = 0  # each ring's term transformed apart, as DRew's code does
        for i, term in enumerate(conv.ring_terms(graph, inputs)):
            term = term if conv.bias is None else term + conv.bias
            if self.ring_norms is not None:
                term = self.ring_norms[layer][i](term)
            term = self.act(term)
            total = total + (nn.functional.normalize(term, p=2.0, dim=-1) if self.ring_l2norm else term)
        return self.act(total)

    def propagate(self, graph, h: torch.Tensor, return_all: bool = False):
        """Run the ``num_layers`` DRew layers from :math:`x^{(0)} = h` (every state is kept for the delay)."""
        if "hop" not in graph.edata:
            raise DGLError(
                "DRewGCN needs the rewired graph: edge field 'hop' is missing. "
                "Apply dgl_ssm.transforms.KHopRewire(max_hop)(graph) (or rewire_dataset) first."
            )
        states = [h]
        for layer in range(self.num_layers):
            state = states[-1] + self.dropout(self.update(graph, states, layer))
            states.append(nn.functional.normalize(state, p=2.0, dim=-1) if self.ring_l2norm else state)
        return states if return_all else states[-1]

    def extra_repr(self) -> str:
        return f"nu={self.nu}" + (f", norm={self.norm!r}" if self.norm else "") + (", l2norm=True" if self.ring_l2norm else "")


register_preset("drew-gcn", family="drew", factory=DRewGCN, max_hop_option="max_hop", nu=None)
register_preset("drew-gcn-delay", family="drew", factory=DRewGCN, max_hop_option="max_hop", nu=1)
#: DRew-GCN as DRew's code builds it for LRGB (github.com/BenGutteridge/DRew, lrgb/graphgps/stage/drew_gnn.py and
#: configs/paper_configs/FUNC_ABLATION/NoPE/pept-func_DRew-GCN_nu=01_bs=0128_d=055_L=17.yaml): nu = 1, PyG's GCNConv
#: on every ring (a self-loop in each), batch norm without bias, ReLU and L2 on each ring's term, L2-normalised states
register_preset("drew-gcn-lrgb", family="drew", factory=DRewGCN, max_hop_option="max_hop", nu=1, self_loops="every",
                norm="batch", l2norm=True, bias=False)
