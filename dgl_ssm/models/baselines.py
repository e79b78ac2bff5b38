"""Deep-GNN baselines: a Lipschitz-normalized residual GNN and GCNII.

Presets registered here (``build_model(name, ...)``):

==================  ===========================================================
``kipf-gcn``        GCN as defined for node classification (Kipf & Welling
                    2017): L graph convolutions, features → hidden → ... → classes
``velickovic-gat``  GAT as defined for node classification (Veličković et al.
                    2018): L attention layers, 8 heads × 8 concatenated, 1 output head
``dgl-sage``        GraphSAGE for node classification as DGL's full-graph example
                    builds it (``SAGEConv``, aggregator ``gcn``; Hamilton et al. 2017
                    give no Planetoid protocol)
``platonov-gcn``    GCN as Platonov et al. (2023) build it for heterophilous graphs:
                    residual blocks (LayerNorm, propagation, feed-forward part)
``lip-res-gcn``     :math:`H + \\alpha\\,\\sigma(\\hat{A} H W)`, :math:`\\|W\\|_2 = c`,
                    :math:`\\alpha = 1/L` (our implementation of the principle of
                    Park & Kim 2024, arXiv:2410.04824)
``gcnii``           GCNII (Chen et al. 2020, ICML), as the authors' code builds it;
                    ``variant=True``: GCNII* (their Eq. 6, ``--variant``)
==================  ===========================================================

The presets ``gcn``, ``gat``, ... of :mod:`dgl_ssm.models` are *LRGB-style*
models (linear encoder → L convolutions of one width → linear decoder), the
GCN of graph-level benchmarks; ``kipf-gcn`` and ``velickovic-gat`` are the
node-classification architectures of their papers, the baselines of the
Planetoid depth studies. In every model "depth" is the number of
message-passing layers.
"""
from __future__ import annotations

from typing import Optional

import torch
import math

from dgl.nn import GATConv, GCN2Conv, GraphConv
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ..nn._precision import in_float32
from .base import GNNBase
from .blocks import ResidualBlock
from .convs import ResetSAGEConv
from .deep_gnn import DeepGNN
from .registry import register_block, register_preset

__all__ = ["LipschitzResidualBlock", "lipschitz_residual_gnn", "GCNII", "lipschitz_bound", "KipfGCN", "VelickovicGAT",
           "DGLExampleSAGE", "PlatonovGCN"]


class _Scale(nn.Module):
    """Parametrization :math:`W \\mapsto cW` (chained after ``spectral_norm``: :math:`\\|cW/\\sigma(W)\\|_2 = c`)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = float(scale)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.scale


class LipschitzResidualBlock(ResidualBlock):
    r"""Residual block with spectrally normalized weights, :math:`H \mapsto H + \alpha\,\sigma(F_\theta(\mathcal{G}, H))`.

    Every 2-D ``weight`` parameter of the conv is re-parametrized as
    :math:`c\,W / \sigma_{\max}(W)` with torch's
    :func:`~torch.nn.utils.parametrizations.spectral_norm` (power iteration,
    one step per training forward) followed by a scaling by ``lipschitz``
    :math:`= c`, so :math:`\|W\|_2 = c`. For a GCN conv
    :math:`F(H) = \hat{A} H W + b` on an undirected graph with self-loops,
    :math:`\|\hat{A}\|_2 = 1` and :math:`\sigma` is 1-Lipschitz (ReLU, tanh), so
    one block is :math:`(1 + \alpha c)`-Lipschitz in :math:`H` (Frobenius
    norm) and :math:`L` blocks with :math:`\alpha = 1/L` are at most
    :math:`(1 + c/L)^L \le e^c`-Lipschitz at any depth: the forward signal and
    the backward gradient can neither explode nor (through the identity path)
    vanish.

    This is *our* implementation of the principle of Park & Kim (2024),
    "Taming Gradient Oversmoothing and Expansion in Graph Neural Networks",
    arXiv:2410.04824 (bound the Lipschitz constant of every residual layer so
    that the product over depth stays bounded); it is not their exact
    formulation.

    Parameters
    ----------
    conv : torch.nn.Module
        :math:`F_\theta`; every 2-D parameter named ``weight`` in it (and its
        submodules) is normalized.
    activation : callable, optional
        :math:`\sigma` (should be 1-Lipschitz for the bound to hold).
    alpha : float
        Residual scale :math:`\alpha` (``1 / num_layers`` in ``lip-res-gcn``).
    lipschitz : float
        :math:`c`, the spectral norm of every normalized weight (> 0).

    Raises
    ------
    ValueError
        If ``lipschitz <= 0`` or the conv has no 2-D ``weight`` parameter.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl.nn import GraphConv
    >>> _ = torch.manual_seed(0)
    >>> block = LipschitzResidualBlock(GraphConv(8, 8), torch.relu, alpha=0.5, lipschitz=2.0)
    >>> sigma = float(torch.linalg.matrix_norm(block.conv.weight, 2))  # 2 up to the power iteration's estimate
    >>> abs(sigma - 2.0) < 0.05
    True
    >>> block.lipschitz_bound
    2.0
    """

    def __init__(self, conv: nn.Module, activation=None, alpha: float = 1.0, lipschitz: float = 1.0):
        super().__init__(conv, activation, alpha=alpha)
        if lipschitz <= 0:
            raise ValueError(f"lipschitz must be > 0, got {lipschitz}")
        self.lipschitz = float(lipschitz)
        targets = [
            module
            for module in conv.modules()
            if isinstance(getattr(module, "weight", None), nn.Parameter) and module.weight.dim() == 2
        ]
        if not targets:
            raise ValueError(f"{type(conv).__name__} has no 2-D 'weight' parameter to normalize")
        for module in targets:
            spectral_norm(module, "weight")
            parametrize.register_parametrization(module, "weight", _Scale(self.lipschitz))
        self._targets = targets

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Redraw the unnormalized weights (Glorot uniform, zero bias) and restart the power iteration."""
        for module in self._targets:
            nn.init.xavier_uniform_(module.parametrizations.weight.original)
            if isinstance(getattr(module, "bias", None), nn.Parameter):
                nn.init.zeros_(module.bias)
            norm = module.parametrizations.weight[0]
            matrix = module.parametrizations.weight.original.flatten(1)
            norm._u.copy_(nn.functional.normalize(torch.randn_like(norm._u), dim=0, eps=norm.eps))
            norm._v.copy_(nn.functional.normalize(torch.randn_like(norm._v), dim=0, eps=norm.eps))
            norm._power_method(matrix, 15)

    @property
    def lipschitz_bound(self) -> float:
        r""":math:`1 + \alpha c`, the Lipschitz constant of the block for a GCN conv (see the class notes)."""
        return 1.0 + self.alpha * self.lipschitz

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lipschitz={self.lipschitz}"


@register_block("lipschitz-residual")
def lipschitz_residual(conv, dim, activation, *, alpha: float = 1.0, lipschitz: float = 1.0, **_):
    return LipschitzResidualBlock(conv, activation, alpha=alpha, lipschitz=lipschitz)


def lipschitz_residual_gnn(
    in_feats: int,
    hidden: int,
    out_feats: int,
    num_layers: int,
    conv: str = "gcn",
    *,
    lipschitz: Optional[float] = None,
    alpha: Optional[float] = None,
    block_options: Optional[dict] = None,
    **kwargs,
) -> DeepGNN:
    r"""A :class:`~dgl_ssm.models.DeepGNN` of :class:`LipschitzResidualBlock` layers with :math:`\alpha = 1/L` by default.

    Parameters
    ----------
    in_feats, hidden, out_feats, num_layers : int
        As in :class:`~dgl_ssm.models.DeepGNN`.
    conv : str
        Registered conv (the Lipschitz bound is proven for ``"gcn"``).
    lipschitz : float, optional
        :math:`c = \|W_\ell\|_2`; default 1.
    alpha : float, optional
        Residual scale; default :math:`1/L`, so the stack is at most
        :math:`(1 + c/L)^L \le e^c`-Lipschitz.
    block_options : dict, optional
        The block's options; ``alpha`` and ``lipschitz`` may be given here or as arguments, not both.

    Raises
    ------
    ValueError
        On ``alpha`` or ``lipschitz`` given both ways, or a value the block refuses (``lipschitz <= 0``).
    **kwargs
        Passed to :class:`~dgl_ssm.models.DeepGNN` (``activation``, ``dropout``, ``readout``, ...).

    Examples
    --------
    >>> from dgl_ssm.models import build_model
    >>> model = build_model("lip-res-gcn", 5, 16, 3, num_layers=32)
    >>> model.layers[0].alpha, round(lipschitz_bound(model), 4)
    (0.03125, 2.677)
    """
    block_options = dict(block_options or {})
    both = [name for name, value in (("alpha", alpha), ("lipschitz", lipschitz)) if value is not None and name in block_options]
    if both:
        raise ValueError(f"lip-res-gcn: {', '.join(both)} given both as an argument and in block_options; give each once")
    options = {"alpha": 1.0 / num_layers if alpha is None else alpha, "lipschitz": 1.0 if lipschitz is None else lipschitz,
               **block_options}
    return DeepGNN(in_feats, hidden, out_feats, num_layers, conv=conv, block="lipschitz-residual", block_options=options, **kwargs)


lipschitz_residual_gnn.block = "lipschitz-residual"  # its block_options (Preset.accepted_options)


def lipschitz_bound(model: nn.Module) -> float:
    r"""Product :math:`\prod_\ell (1 + \alpha_\ell c_\ell)` over the :class:`LipschitzResidualBlock` layers of ``model``.

    An upper bound on the Lipschitz constant of ``model.propagate`` (from
    :math:`H^{(0)}` to :math:`H^{(L)}`) for GCN convs on undirected graphs.

    Raises
    ------
    ValueError
        If ``model.layers`` holds a layer that is not a :class:`LipschitzResidualBlock`.
    """
    bound = 1.0
    for layer in model.layers:
        if not isinstance(layer, LipschitzResidualBlock):
            raise ValueError(f"lipschitz_bound needs LipschitzResidualBlock layers, got {type(layer).__name__}")
        bound *= layer.lipschitz_bound
    return bound


class _Scaled(nn.Module):
    """A parametrization ``W = W_raw / scale``: the raw weight is the one trained, initialised and weight-decayed."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return raw / self.scale


class _GCNIIConv(GCN2Conv):
    """DGL's ``GCN2Conv`` initialised and parametrised as the authors' code (chennnM/GCNII, ``model.py``).

    DGL draws the weight from :math:`\\mathcal{N}(0, 1)` and adds a bias; the
    authors draw :math:`U(-1/\\sqrt{d}, 1/\\sqrt{d})` and have no bias. With
    :math:`\\mathcal{N}(0, 1)` weights a 64-layer GCNII on Cora started from a
    much larger :math:`\\beta_\\ell W` term and trained to 80 % instead of 85 %.

    ``variant=True`` is GCNII* (the authors' ``--variant``): separate weights for
    the propagated and the initial features. DGL (``project_initial_features=False``,
    the paper's Eq. 6) multiplies :math:`(1-\\alpha)\\hat{A}H` by :math:`W_1` and
    :math:`\\alpha H^{(0)}` by :math:`W_2`; the authors' code multiplies
    :math:`\\hat{A}H` and :math:`H^{(0)}` unscaled. The trained weights are
    therefore the authors' (:math:`W_1 = W_1^{\\text{raw}}/(1-\\alpha)`,
    :math:`W_2 = W_2^{\\text{raw}}/\\alpha`, a ``torch.nn.utils.parametrize``
    parametrization), so that initialisation and weight decay act as in their code.
    """

    def __init__(self, dim: int, layer: int, alpha: float, lambda_: float, variant: bool = False):
        if variant and not 0.0 < alpha < 1.0:
            raise ValueError(f"GCNII* (variant=True) needs 0 < alpha < 1 (it scales its two weights by 1/(1-alpha) "
                             f"and 1/alpha), got alpha={alpha}; use the plain GCNII for alpha 0 or 1")
        super().__init__(dim, layer=layer, alpha=alpha, lambda_=lambda_, bias=False,
                         project_initial_features=not variant)
        if variant:
            parametrize.register_parametrization(self, "weight1", _Scaled(1.0 - alpha))
            parametrize.register_parametrization(self, "weight2", _Scaled(alpha))
            self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self._in_feats)  # the weights are square (d, d); the authors' bound is 1/sqrt(d)
        for name in ("weight1", "weight2"):
            if getattr(self, "parametrizations", None) is not None and name in self.parametrizations:
                nn.init.uniform_(self.parametrizations[name].original, -bound, bound)
            elif name == "weight1" or not self._project_initial_features:
                nn.init.uniform_(getattr(self, name), -bound, bound)


class GCNII(GNNBase):
    r"""GCNII: deep GCN with initial residual and identity mapping (Chen et al. 2020).

    .. math::
        H^{(0)} = \sigma(\mathrm{Enc}(X)), \qquad
        H^{(\ell+1)} = \sigma\Big(\big((1-\alpha)\hat{A} H^{(\ell)} + \alpha H^{(0)}\big)
        \big((1-\beta_\ell) I + \beta_\ell W^{(\ell)}\big)\Big), \qquad
        \beta_\ell = \log(\lambda / \ell + 1)

    With ``variant=True`` it is GCNII* (Eq. 6; the authors' ``--variant``), with separate weights for the two terms:

    .. math::
        H^{(\ell+1)} = \sigma\Big(\beta_\ell\big(\hat{A} H^{(\ell)} W_1^{(\ell)} + H^{(0)} W_2^{(\ell)}\big)
        + (1-\beta_\ell)\big((1-\alpha)\hat{A} H^{(\ell)} + \alpha H^{(0)}\big)\Big)

    as the authors' ``model.py`` computes it (the paper's Eq. 6 scales the two
    inputs of :math:`W_1, W_2` by :math:`1-\alpha` and :math:`\alpha`: the same
    family of functions, another parametrisation).

    Source: Chen, Wei, Huang, Ding, Li (2020), "Simple and Deep Graph
    Convolutional Networks", ICML, Eq. 5 and 6. Each layer is DGL's
    :class:`dgl.nn.GCN2Conv` (layer index :math:`\ell = 1, \dots, L`). As in
    the authors' code, dropout is applied to the input, before every layer
    and before the decoder.

    A :class:`~dgl_ssm.models.base.GNNBase` (``forward``, ``hidden_states``,
    ``encode``, ``propagate``, ``readout``, ``layers``, ``reset_parameters``)
    that overrides ``encode`` and ``step``; registered as the preset ``"gcnii"``.

    Parameters
    ----------
    in_feats, hidden, out_feats, num_layers : int
        Sizes and depth :math:`L` (>= 1).
    alpha : float
        Initial-residual weight :math:`\alpha` (paper: 0.1).
    lambda_ : float
        :math:`\lambda` of the identity-mapping strength :math:`\beta_\ell` (paper: 0.5 on Cora).
    variant : bool
        ``True``: GCNII* (two weights per layer, ``2 d^2`` parameters instead of ``d^2``).
    activation : str or callable
        :math:`\sigma` (``"relu"`` in the paper).
    dropout : float
        Dropout probability.
    checkpoint : bool or int
        Gradient checkpointing (as in :class:`~dgl_ssm.models.base.GNNBase`).
    readout : str, optional
        ``None`` (node level) or ``"mean"``/``"sum"``/``"max"`` pooling.
    encoder : torch.nn.Module, optional
        Replaces ``Linear(in_feats, hidden)``.
    **_ :
        Builder options that do not apply to GCNII (``conv_options``,
        ``block_options``, ``share_weights``) are rejected.

    Raises
    ------
    ValueError
        If ``num_layers < 1``, on an unknown activation or readout, or if ``variant`` and not ``0 < alpha < 1``.
    TypeError
        On an option GCNII does not have.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> model = build_model("gcnii", 5, 16, 3, num_layers=8)
    >>> model(g, torch.randn(3, 5)).shape, len(model.hidden_states(g, torch.randn(3, 5)))
    (torch.Size([3, 3]), 9)
    """

    def __init__(
        self, in_feats: int, hidden: int, out_feats: int, num_layers: int,
        *,
        alpha: float = 0.1,
        lambda_: float = 0.5,
        variant: bool = False,
        activation="relu",
        dropout: float = 0.0,
        checkpoint: bool = False,
        readout: Optional[str] = None,
        encoder: Optional[nn.Module] = None,
    ):
        super().__init__(
            in_feats, hidden, out_feats, num_layers,
            lambda i: _GCNIIConv(hidden, layer=i + 1, alpha=alpha, lambda_=lambda_, variant=variant),
            activation=activation, dropout=dropout, checkpoint=checkpoint, readout=readout, encoder=encoder,
        )

    def encode(self, graph, feat: torch.Tensor) -> torch.Tensor:
        r""":math:`H^{(0)} = \sigma(\mathrm{Enc}(\mathrm{dropout}(X)))`, shape ``(N, hidden)``."""
        return self.act(self.encoder(self.dropout(feat)))

    def step(self, graph, h: torch.Tensor, index: int, h0: torch.Tensor) -> torch.Tensor:
        r""":math:`\sigma(\mathrm{GCN2Conv}_\ell(\mathrm{dropout}(H^{(\ell)}), H^{(0)}))`."""
        return self.act(self.layers[index](graph, self.dropout(h), h0))


class KipfGCN(GNNBase):
    r"""GCN for node classification as Kipf & Welling (2017) define it: L graph convolutions, no encoder or decoder.

    .. math::
        H^{(\ell+1)} = \sigma\big(\hat{A}\,\mathrm{dropout}(H^{(\ell)})\,W^{(\ell)}\big), \qquad
        H^{(0)} = X, \qquad Y = \hat{A}\,\mathrm{dropout}(H^{(L-1)})\,W^{(L-1)}

    with :math:`W^{(0)} \in \mathbb{R}^{F \times d}`, :math:`W^{(\ell)} \in
    \mathbb{R}^{d \times d}` and :math:`W^{(L-1)} \in \mathbb{R}^{d \times C}`
    (Glorot-initialised weights, zero biases: DGL's ``GraphConv``), ReLU
    between layers and dropout on the input of every layer. Source: Kipf &
    Welling (2017), "Semi-Supervised Classification with Graph Convolutional
    Networks", ICLR, Eq. 9 (2 layers, hidden 16, dropout 0.5). The graph needs
    self-loops (:math:`\hat{A} = D^{-1/2}(A + I)D^{-1/2}`).

    Parameters
    ----------
    in_feats, hidden, out_feats : int
        Features :math:`F`, width :math:`d`, classes :math:`C`.
    num_layers : int
        Number of graph convolutions :math:`L \ge 1` (1: :math:`F \to C` directly).
    activation : str or callable
        :math:`\sigma` (``"relu"`` in the paper).
    dropout : float
        Dropout on the input of every layer.

    Raises
    ------
    ValueError
        If ``num_layers < 1`` or on an unknown activation.

    Examples
    --------
    >>> from dgl_ssm.models import build_model
    >>> model = build_model("kipf-gcn", 1433, 16, 7, num_layers=2)
    >>> [tuple(p.shape) for p in model.parameters()]
    [(1433, 16), (16,), (16, 7), (7,)]
    """

    def __init__(self, in_feats: int, hidden: int, out_feats: int, num_layers: int, *, activation="relu",
                 dropout: float = 0.5):
        sizes = [in_feats] + [hidden] * (num_layers - 1) + [out_feats]
        super().__init__(in_feats, hidden, out_feats, num_layers, lambda i: self.make_conv(sizes[i], sizes[i + 1]),
                         activation=activation, dropout=dropout, encoder=nn.Identity(), decoder=nn.Identity())

    @staticmethod
    def make_conv(width_in: int, width_out: int) -> nn.Module:
        r"""Layer :math:`\ell`: DGL's ``GraphConv`` (symmetric normalisation, bias)."""
        return GraphConv(width_in, width_out)

    def encode(self, graph, feat: torch.Tensor) -> torch.Tensor:
        """:math:`H^{(0)} = X` (no encoder)."""
        return feat

    def step(self, graph, h: torch.Tensor, index: int, h0: torch.Tensor) -> torch.Tensor:
        out = self.layers[index](graph, self.dropout(h))
        return self.act(out) if index < self.num_layers - 1 else out

    def readout(self, graph, h: torch.Tensor) -> torch.Tensor:
        """The last layer's output ``(N, C)`` (no decoder)."""
        return h


class VelickovicGAT(GNNBase):
    r"""GAT for node classification as Veličković et al. (2018) define it.

    :math:`L - 1` hidden attention layers of ``heads`` heads of width
    ``hidden`` (concatenated, ELU), then one output attention layer with
    ``out_heads`` heads averaged to the classes. Dropout ``dropout`` on every
    layer's input and on the normalised attention coefficients. Source:
    Veličković, Cucurull, Casanova, Romero, Liò, Bengio (2018), "Graph
    Attention Networks", ICLR, Sec. 3.3 (Cora, CiteSeer: 8 heads × 8
    features, 1 output head, dropout 0.6, L2 5e-4, lr 0.005); layers are DGL's
    :class:`dgl.nn.GATConv`.

    Parameters
    ----------
    in_feats, hidden, out_feats, num_layers : int
        Features, per-head width, classes, attention layers :math:`L \ge 1`.
    heads, out_heads : int
        Heads of the hidden layers (concatenated) and of the output layer (averaged).
    activation : str or callable
        Between layers (``"elu"`` in the paper).
    dropout : float
        Dropout on the features entering each layer and on the attention coefficients.
    negative_slope : float
        LeakyReLU slope of the attention scores (0.2).

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> model = build_model("velickovic-gat", 5, 8, 3, num_layers=2)
    >>> model(g, torch.randn(3, 5)).shape, model.layers[0].fc.weight.shape
    (torch.Size([3, 3]), torch.Size([64, 5]))
    """

    def __init__(self, in_feats: int, hidden: int, out_feats: int, num_layers: int, *, heads: int = 8,
                 out_heads: int = 1, activation="elu", dropout: float = 0.6, negative_slope: float = 0.2):
        def make_layer(i: int) -> nn.Module:
            width_in = in_feats if i == 0 else hidden * heads
            last = i == num_layers - 1
            return GATConv(width_in, out_feats if last else hidden, out_heads if last else heads, feat_drop=dropout,
                           attn_drop=dropout, negative_slope=negative_slope)

        super().__init__(in_feats, hidden, out_feats, num_layers, make_layer, activation=activation, dropout=0.0,
                         encoder=nn.Identity(), decoder=nn.Identity())

    def encode(self, graph, feat: torch.Tensor) -> torch.Tensor:
        return feat

    def step(self, graph, h: torch.Tensor, index: int, h0: torch.Tensor) -> torch.Tensor:
        # (N, heads, width); GATConv applies the feature and attention dropout; in float32 under autocast (MeanHeads)
        out = in_float32(self.layers[index], graph, h)
        if index < self.num_layers - 1:
            return self.act(out.flatten(1))
        return out.mean(1)

    def readout(self, graph, h: torch.Tensor) -> torch.Tensor:
        return h


class DGLExampleSAGE(KipfGCN):
    r"""GraphSAGE for node classification as DGL's full-graph example builds it: :class:`KipfGCN` with ``SAGEConv``.

    .. math::
        H^{(\ell+1)} = \sigma\Big(\tfrac{1}{d_i + 1}\big(\textstyle\sum_{j \in \mathcal{N}(i)} h_j + h_i\big)
        W^{(\ell)} + b^{(\ell)}\Big)

    (DGL's :class:`dgl.nn.SAGEConv` with ``aggregator_type="gcn"``), dropout on the input of every layer, ReLU
    between layers, features → hidden → ... → classes. Hamilton, Ying, Leskovec (2017), "Inductive Representation
    Learning on Large Graphs", NeurIPS, give no protocol for the Planetoid graphs; this is the model and protocol
    of DGL's ``examples/pytorch/graphsage/train_full.py`` (2 layers, hidden 16, dropout 0.5, Adam lr 0.01, L2 5e-4,
    200 epochs; its README: Cora ~83.3 %, CiteSeer ~71.1 %). The graph needs no self-loops (the ``gcn``
    aggregator includes the node itself); with them, a node counts itself twice, as in DGL's example, which adds
    them.

    Examples
    --------
    >>> from dgl_ssm.models import build_model
    >>> model = build_model("dgl-sage", 1433, 16, 7, num_layers=2)
    >>> [tuple(p.shape) for p in model.parameters()]
    [(16,), (16, 1433), (7,), (7, 16)]
    """

    @staticmethod
    def make_conv(width_in: int, width_out: int) -> nn.Module:
        r"""Layer :math:`\ell`: ``SAGEConv(width_in, width_out, "gcn")``, resetting its bias too (``ResetSAGEConv``)."""
        return ResetSAGEConv(width_in, width_out, "gcn")


class _PlatonovGCNLayer(nn.Module):
    r"""One residual block of :class:`PlatonovGCN`: :math:`H + \mathrm{FFN}(\hat{A}\,\mathrm{LN}(H))`.

    ``norm`` (LayerNorm), ``propagate`` (DGL's ``GraphConv`` without weight or bias:
    :math:`D^{-1/2}(A + I)D^{-1/2}` on a symmetric graph with self-loops), ``ffn``
    (Linear → dropout → activation → Linear → dropout, width ``dim`` throughout).
    """

    def __init__(self, dim: int, activation, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.propagate = GraphConv(dim, dim, weight=False, bias=False)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout), _Activation(activation),
                                 nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, graph, h: torch.Tensor) -> torch.Tensor:
        return h + self.ffn(self.propagate(graph, self.norm(h)))


class _Activation(nn.Module):
    """A named activation as a module (for ``nn.Sequential``)."""

    def __init__(self, activation):
        super().__init__()
        from .activations import resolve_activation

        self.fn = resolve_activation(activation)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fn(h) if self.fn is not None else h


class PlatonovGCN(GNNBase):
    r"""GCN for heterophilous node classification as Platonov et al. (2023) build it: residual blocks with LayerNorm.

    .. math::
        H^{(0)} = \sigma\big(\mathrm{dropout}(X W_{\mathrm{in}} + b_{\mathrm{in}})\big), \qquad
        H^{(\ell+1)} = H^{(\ell)} + \mathrm{FFN}_\ell\big(\hat{A}\,\mathrm{LN}_\ell(H^{(\ell)})\big), \qquad
        Y = \mathrm{LN}(H^{(L)})\,W_{\mathrm{out}} + b_{\mathrm{out}}

    with :math:`\mathrm{FFN}(Z) = \mathrm{dropout}\big(\sigma(\mathrm{dropout}(Z W_1 + b_1)) W_2 + b_2\big)`
    (all widths :math:`d`), :math:`\sigma` = GELU and :math:`\hat{A} = D^{-1/2}(A + I)D^{-1/2}` (the graph needs
    self-loops). Source: Platonov, Kuznedelev, Diskin, Babenko, Prokhorenkova (2023), "A critical look at the
    evaluation of GNNs under heterophily: Are we really making progress?", ICLR, and their code
    (github.com/yandex-research/heterophilous-graphs at a431395: ``model.py``, ``modules.py``; hidden 512,
    dropout 0.2, AdamW lr 3e-5, 1,000 full-batch steps, 1–5 blocks chosen on validation). The GCN row of their
    tables for the filtered Chameleon and Squirrel is this model, not :class:`KipfGCN`.

    Parameters
    ----------
    in_feats, hidden, out_feats : int
        Features :math:`F`, width :math:`d`, classes :math:`C`.
    num_layers : int
        Residual blocks :math:`L \ge 1` (one propagation each).
    activation : str or callable
        :math:`\sigma` (``"gelu"`` in their code).
    dropout : float
        After the input layer and twice in every feed-forward part (none before the output layer).

    Raises
    ------
    ValueError
        If ``num_layers < 1`` or on an unknown activation.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2, 1, 2, 0], [1, 2, 0, 0, 1, 2])))
    >>> model = build_model("platonov-gcn", 5, 8, 3, num_layers=2)
    >>> model(g, torch.randn(3, 5)).shape, [tuple(p.shape) for p in model.layers[0].parameters()]
    (torch.Size([3, 3]), [(8,), (8,), (8, 8), (8,), (8, 8), (8,)])
    """

    def __init__(self, in_feats: int, hidden: int, out_feats: int, num_layers: int, *, activation="gelu",
                 dropout: float = 0.2):
        super().__init__(in_feats, hidden, out_feats, num_layers,
                         lambda i: _PlatonovGCNLayer(hidden, activation, dropout), activation=activation,
                         dropout=dropout, decoder=nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, out_feats)))

    def encode(self, graph, feat: torch.Tensor) -> torch.Tensor:
        """:math:`H^{(0)} = \\sigma(\\mathrm{dropout}(X W_{\\mathrm{in}} + b_{\\mathrm{in}}))`, ``(N, hidden)``."""
        return self.act(self.dropout(self.encoder(feat)))

    def readout(self, graph, h: torch.Tensor) -> torch.Tensor:
        """:math:`\\mathrm{LN}(H^{(L)}) W_{\\mathrm{out}} + b_{\\mathrm{out}}`, ``(N, out_feats)`` (no dropout)."""
        return self.decoder(h)


register_preset("kipf-gcn", family="baseline", factory=KipfGCN)
register_preset("dgl-sage", family="baseline", factory=DGLExampleSAGE)
register_preset("velickovic-gat", family="baseline", factory=VelickovicGAT)
register_preset("platonov-gcn", family="baseline", factory=PlatonovGCN)
register_preset("lip-res-gcn", family="baseline", factory=lipschitz_residual_gnn, conv="gcn")
register_preset("gcnii", family="baseline", factory=GCNII)
lipschitz_residual_gnn.forwards_to = DeepGNN  # its other keyword arguments are DeepGNN's

#: LRGB's GCN baseline (Dwivedi et al. 2022; vijaydwivedi75/lrgb configs/GCN/peptides-func-GCN.yaml, model.type gnn,
#: stage_type stack: GraphGym's GNN): every layer is GraphGym's GeneralLayer, GCNConv without bias, BatchNorm1d,
#: ReLU, then each node state divided by its L2 norm (has_l2norm = gnn.l2norm, True by GraphGym's default; LRGB's
#: PyG has LayerConfig, whose new_layer_config passes it to every layer); the stage normalises once more (a no-op),
#: then mean pooling and one Linear layer. Revision 1: revision 0 normalised after the last layer only.
register_preset("lrgb-gcn", family="baseline", factory=DeepGNN, conv="gcn", block="plain", conv_options={"bias": False},
                block_options={"norm": "batch", "l2norm": True}, l2norm=True, revision=1)
