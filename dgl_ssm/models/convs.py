"""Standard DGL convolutions as registered conv factories (no activation inside)."""
from __future__ import annotations

import torch
from dgl.nn import GATConv, GINConv, GraphConv, SAGEConv
from torch import nn

from ..nn._precision import in_float32
from .registry import register_conv


class MeanHeads(nn.Module):
    """Average the heads of an attention conv: ``(N, heads, d) -> (N, d)``.

    Under autocast the conv runs in float32 (:func:`dgl_ssm.nn._precision.in_float32`: DGL 2.1's ``GATConv`` mixes
    low-precision features with float32 attention logits, which its message kernel refuses)."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()

    def forward(self, graph, feat, *args, **kwargs):
        return in_float32(self.conv, graph, feat, *args, **kwargs).mean(dim=1)


@register_conv("gcn")
def gcn(dim: int, *, bias: bool = True, norm: str = "both", **_) -> nn.Module:
    """GCN (Kipf & Welling 2017): :math:`\\hat{A} H W`, :math:`\\hat{A} = D^{-1/2} A D^{-1/2}` (add self-loops to the graph)."""
    return GraphConv(dim, dim, norm=norm, bias=bias, allow_zero_in_degree=False)


@register_conv("gat")
def gat(dim: int, *, heads: int = 4, **_) -> nn.Module:
    """GAT (Velickovic et al. 2018), ``heads`` heads of width ``dim`` averaged."""
    return MeanHeads(GATConv(dim, dim, num_heads=heads))


class ResetSAGEConv(SAGEConv):
    """DGL's ``SAGEConv`` whose ``reset_parameters`` also zeroes its biases.

    DGL 2.1-2.4 leave the bias of ``fc_self`` at its first ``nn.Linear`` draw
    and the ``gcn`` aggregator's own ``bias`` untouched in
    ``reset_parameters``, so a reset model would keep part of its trained
    state. Both start at zero here (the ``gcn`` bias is created as zeros by DGL,
    so a fresh layer is unchanged).
    """

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for bias in (getattr(getattr(self, "fc_self", None), "bias", None), getattr(self, "bias", None)):
            if isinstance(bias, nn.Parameter):
                nn.init.zeros_(bias)


@register_conv("sage")
def sage(dim: int, *, aggregator: str = "mean", **_) -> nn.Module:
    """GraphSAGE (Hamilton et al. 2017)."""
    return ResetSAGEConv(dim, dim, aggregator_type=aggregator)


@register_conv("gin")
def gin(dim: int, *, learn_eps: bool = False, **_) -> nn.Module:
    """GIN (Xu et al. 2019) with a 2-layer MLP :math:`(1+\\epsilon) h_v + \\sum_u h_u`."""
    mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
    return GINConv(mlp, aggregator_type="sum", learn_eps=learn_eps)



class NoMessagePassing(nn.Module):
    """:math:`H W + b`, the graph ignored: the control of "the same model without message passing" (an MLP).

    Initialised as DGL's ``GraphConv`` (Glorot-uniform weight, zero bias), so
    that a ``linear`` model differs from a ``gcn`` one only by :math:`\\hat{A}`.
    Keriven (2025, arXiv:2505.16736) uses such an MLP as the counter-example
    to backward over-smoothing.
    """

    def __init__(self, dim: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))  # (in, out), as GraphConv's
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, graph, feat, *_, **__) -> torch.Tensor:
        """``(N, dim) -> (N, dim)``; ``graph`` is not read."""
        out = feat @ self.weight
        return out if self.bias is None else out + self.bias


@register_conv("linear")
def linear(dim: int, *, bias: bool = True, **_) -> nn.Module:
    """No message passing, :class:`NoMessagePassing` (the ``mlp`` preset)."""
    return NoMessagePassing(dim, bias=bias)


class DoublyStochasticConv(NoMessagePassing):
    """:math:`P H W + b` with :math:`P = I - L / (d_{max} + 1)`, symmetric and stochastic (a lazy max-degree walk).

    :math:`L = D - A` is the Laplacian of the graph without its self-loops,
    :math:`d_{max}` its largest degree: :math:`P_{ij} = 1/(d_{max}+1)` on an edge,
    :math:`P_{ii} = 1 - d_i/(d_{max}+1) > 0`. Rows and columns sum to 1, so its
    dominant eigenvector is the constant vector on each connected component: the
    propagation matrix Keriven (2025, arXiv:2505.16736) assumes (symmetric,
    stochastic, dominant eigenvalue 1), where GCN's :math:`\\hat{A}` has
    :math:`D^{1/2}\\mathbf 1` instead. Self-loops of the graph are ignored (the
    diagonal is :math:`P_{ii}`); the graph must be symmetric. Weight, bias and
    their initialisation are :class:`NoMessagePassing`'s (DGL ``GraphConv``'s). Under autocast the
    aggregation runs in float32 (DGL 2.1's message kernels on the CPU).
    """

    @staticmethod
    def propagate(graph, feat: torch.Tensor) -> torch.Tensor:
        """:math:`P H`, shape ``(N, d)`` (the weights in float64, then in ``feat``'s dtype)."""
        import dgl.function as fn

        with graph.local_scope():
            src, dst = graph.edges()
            off = (src != dst).to(torch.float64)
            degree = torch.zeros(graph.num_nodes(), dtype=torch.float64, device=src.device).index_add_(0, dst, off)
            scale = 1.0 / (float(degree.max()) + 1.0) if graph.num_nodes() else 1.0
            graph.edata["_w"] = (off * scale).to(feat.dtype)[:, None]
            graph.ndata["_h"] = feat
            graph.update_all(fn.u_mul_e("_h", "_w", "_m"), fn.sum("_m", "_h"))
            return graph.ndata["_h"] + feat * (1.0 - degree * scale).to(feat.dtype)[:, None]

    def forward(self, graph, feat, *_, **__) -> torch.Tensor:
        """``(N, dim) -> (N, dim)``: :math:`(P H) W + b`, the linear part being :class:`NoMessagePassing`'s."""
        return super().forward(graph, in_float32(self.propagate, graph, feat))


@register_conv("doubly_stochastic")
def doubly_stochastic(dim: int, *, bias: bool = True, **_) -> nn.Module:
    """:class:`DoublyStochasticConv` (the ``ds-gcn`` preset)."""
    return DoublyStochasticConv(dim, bias=bias)
