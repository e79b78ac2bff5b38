"""KHopConv: GCN-style aggregation over shortest-path rings, one weight per ring.

Sources: the k-hop message passing of kGNN-SSM (Arroyo et al. 2025,
arXiv:2502.10818, Sec. 6) and of DRew (Gutteridge et al. 2023, ICML, "DRew:
Dynamically Rewired Message Passing with Delay", Eq. 5-6).
"""
from __future__ import annotations

import weakref
from typing import List, NamedTuple, Optional, Sequence, Union

import dgl  # noqa: F401  (the Examples blocks use it)
import torch
from dgl import DGLError
from torch import nn

from .._compat import graph_index
from ._csr import SpMM, check_self_loops, ring_csr

__all__ = ["KHopConv", "RingGraph", "ring_graph", "ring_aggregate", "ring_schedule", "rewired_max_hop"]

RING_MODES = ("cumulative", "single")

#: Node field of a rewired graph: the ``max_hop`` it was rewired with (``-1``: every finite distance), on every node,
#: so that it survives batching and subgraphs; written by :class:`~dgl_ssm.transforms.KHopRewire`, read by
#: :func:`rewired_max_hop` to refuse rings the graph was not given.
MAX_HOP_FIELD = "max_hop"


def ring_schedule(layer: int, max_hop: Optional[int] = None, rings: str = "cumulative") -> List[int]:
    r"""The rings :math:`K(\ell)` read by layer :math:`\ell` (0-based).

    * ``"cumulative"`` (DRew): :math:`K(\ell) = \{1, \dots, \min(\ell + 1, k_{max})\}`;
    * ``"single"``: :math:`K(\ell) = \{\min(\ell + 1, k_{max})\}`: layer 0 reads
      ring 1, layer 1 ring 2, ..., and every layer from :math:`k_{max} - 1` on
      reads ring :math:`k_{max}`.

    ``max_hop=None`` puts no cap on :math:`k_{max}`.

    Examples
    --------
    >>> ring_schedule(3, max_hop=2), ring_schedule(3), ring_schedule(3, 8, "single")
    ([1, 2], [1, 2, 3, 4], [4])
    """
    if rings not in RING_MODES:
        raise ValueError(f"rings must be one of {RING_MODES}, got {rings!r}")
    if isinstance(layer, bool) or int(layer) != layer or layer < 0:
        raise ValueError(f"layer must be a non-negative int (0-based), got {layer!r}")
    if max_hop is not None and (isinstance(max_hop, bool) or int(max_hop) != max_hop or max_hop < 1):
        raise ValueError(f"max_hop must be a positive int or None, got {max_hop!r}")
    top = int(layer) + 1 if max_hop is None else min(int(layer) + 1, int(max_hop))
    return list(range(1, top + 1)) if rings == "cumulative" else [top]


class RingGraph(NamedTuple):
    r"""The normalised ring adjacencies :math:`\hat{A}_k,\ k \in K`, of a rewired graph, side by side (see :func:`ring_graph`)."""

    adj: torch.Tensor  #: ``(N, N * r)`` sparse CSR: column ``u * r + i`` is node ``u`` in ring ``rings[i]``
    adj_t: torch.Tensor  #: ``(N * r, N)`` sparse CSR, its transpose (for the backward pass)
    rings: tuple


#: per-graph cache of :func:`ring_graph`, shared by the layers of one forward (and the recomputation of checkpointing)
_RING_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def ring_graph(graph, rings: Sequence[int], dtype: torch.dtype = torch.float32, self_loops: str = "first") -> RingGraph:
    r"""The normalised adjacencies of the rings :math:`R_k,\ k \in K`, of a rewired graph, as one sparse matrix.

    With :math:`r = |K|` rings ``rings = (k_1, ..., k_r)``, column ``u * r + i`` of
    :attr:`RingGraph.adj` is node ``u`` in ring :math:`k_{i+1}`, so that for
    per-node stacked inputs ``X`` of shape ``(N, r, d)`` (``X[u, i]`` is
    :math:`X_{k_{i+1}}[u]`), viewed as ``(N * r, d)``

    .. math::
        \sum_{k \in K} \hat{A}_k X_k = \texttt{adj} \, X,
        \qquad \hat{A}_k = D_k^{-1/2} A_k D_k^{-1/2},

    the aggregation of :class:`KHopConv`: :math:`A_k` holds the edges with
    ``edata['hop'] == k`` (self-loops of the input ignored), ring 1 adds
    :math:`I` (GCN's :math:`A + I`; every ring with ``self_loops="every"``), and :math:`D_k` counts source
    out-degrees and destination in-degrees within the ring, as DGL's ``GraphConv(norm='both')``.

    The result is cached on the graph object (weakly; rebuilt when the graph's
    structure or its ``edata['hop']`` tensor changes), so the layers of one
    forward pass build it once per ring set.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A graph rewired by :class:`~dgl_ssm.transforms.KHopRewire` (``edata['hop']``).
    rings : sequence of int
        Distinct ring indices :math:`k \ge 1` (e.g. :attr:`KHopConv.rings`).
    dtype : torch.dtype
        Dtype of the matrices.
    self_loops : str
        ``"first"``: ring 1 gets :math:`I` (GCN); ``"every"``: every ring does (PyG's ``GCNConv`` on each ring, as
        DRew's code aggregates).

    Returns
    -------
    RingGraph

    Raises
    ------
    dgl.DGLError
        If the graph has no ``edata['hop']``.

    Examples
    --------
    >>> import dgl
    >>> from dgl_ssm.transforms import KHopRewire
    >>> g = KHopRewire(max_hop=2)(dgl.graph(([0, 1], [1, 2])))   # path 0 - 1 - 2
    >>> rg = ring_graph(g, [1, 2])
    >>> rg.adj.shape, rg.adj._nnz()                    # 4 ring-1 edges + 3 self-loops, 2 ring-2 edges
    (torch.Size([3, 6]), 9)
    >>> round(rg.adj.to_dense()[1, 1 * 2].item() ** -1, 4)   # node 1 itself: ring-1 degree 3 with the self-loop
    3.0
    >>> rg.adj.to_dense()[0, 2 * 2 + 1].item()           # 0 <- 2 in ring 2, both of degree 1
    1.0
    """
    if "hop" not in graph.edata:
        raise DGLError("ring_graph needs edge field 'hop' (shortest-path distance); rewire the graph with KHopRewire first")
    hop = graph.edata["hop"]
    rings = tuple(int(k) for k in rings)
    index = graph_index(graph)
    entries = _RING_CACHE.setdefault(graph, {})
    key = (rings, dtype, self_loops)
    hit = entries.get(key)
    if hit is not None and hit[0] == index and hit[1] is hop and hit[2] == hop._version:
        return hit[3]
    src, dst = graph.edges()
    adj, adj_t = ring_csr(src, dst, hop, rings, graph.num_nodes(), dtype, self_loops)
    result = RingGraph(adj, adj_t, rings)
    entries[key] = (index, hop, hop._version, result)
    return result


def rewired_max_hop(graph) -> Optional[int]:
    r"""The rewiring radius of a graph rewired by :class:`~dgl_ssm.transforms.KHopRewire`: the smallest ``max_hop``
    among its graphs (a batch may join graphs rewired differently), from ``ndata['max_hop']``.

    ``None`` when it is not known (no such field: a graph rewired by hand, or by a version before the field) or when
    every graph was rewired with ``max_hop=None`` (every finite distance, field value ``-1``); nodes added after the
    rewiring (value 0) do not count. Cached on the graph object like :func:`ring_graph`.

    Examples
    --------
    >>> import dgl
    >>> from dgl_ssm.transforms import KHopRewire
    >>> path = dgl.graph(([0, 1, 2], [1, 2, 3]))
    >>> rewired_max_hop(KHopRewire(max_hop=2)(path)), rewired_max_hop(KHopRewire()(path)), rewired_max_hop(path)
    (2, None, None)
    >>> rewired_max_hop(dgl.batch([KHopRewire(3)(path), KHopRewire(2)(path)]))
    2
    """
    if MAX_HOP_FIELD not in graph.ndata:
        return None
    field = graph.ndata[MAX_HOP_FIELD]
    entries = _RING_CACHE.setdefault(graph, {})
    hit = entries.get("max_hop")
    if hit is not None and hit[0] is field and hit[1] == field._version:
        return hit[2]
    finite = field[field >= 1]  # -1: every distance; 0: nodes added after the rewiring (DGL fills new rows with 0)
    value = int(finite.min()) if finite.numel() else None
    entries["max_hop"] = (field, field._version, value)
    return value


def ring_aggregate(rg: RingGraph, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_{k \in K} \hat{A}_k X_k` for per-node stacked inputs ``x`` of shape ``(N, r, d)`` (``x[:, i]`` is :math:`X_{k_{i+1}}`).

    Returns ``(N, d)``; differentiable in ``x`` (twice), not in the graph.
    """
    n, r, d = x.shape
    return SpMM.apply(rg.adj, rg.adj_t, x.reshape(n * r, d))


class KHopConv(nn.Module):
    r"""Graph convolution over shortest-path rings, each ring with its own weight.

    .. math::
        F(H) = \sigma\Big(\sum_{k \in K(\ell)} \hat{A}_k H_k W_k + b\Big),
        \qquad \hat{A}_k = D_k^{-1/2} A_k D_k^{-1/2}

    where :math:`A_k` is the adjacency of the ring
    :math:`R_k = \{(u, v) : d(u, v) = k\}` (edges with ``edata['hop'] == k``
    of a graph rewired by :class:`~dgl_ssm.transforms.KHopRewire`),
    :math:`D_k` its degrees (source out-degree and destination in-degree
    within the ring, as DGL's ``GraphConv(norm='both')``), and
    :math:`H_k = H` unless per-ring inputs are passed (DRew's delay).

    **Own state.** Ring 1 includes a self-loop on every node:
    :math:`A_1 \leftarrow A_1 + I` and :math:`D_1 \leftarrow D_1 + I`, exactly
    like ``GraphConv`` on a graph with self-loops, so with
    :math:`K(\ell) = \{1\}` the layer *is* GCN on the original graph with
    self-loops. Rings :math:`k \ge 2` have no self term, unless
    ``self_loops="every"`` (:math:`A_k + I` in every ring: PyG's ``GCNConv``
    on each ring's edges, as DRew's code aggregates). Edges :math:`u \to u`
    in the input graph are ignored (so ``dgl.add_self_loop`` after rewiring
    changes nothing); nodes without neighbours in a ring get nothing from it.

    **Rings per layer** (:func:`ring_schedule`, :math:`\ell` is 0-based):
    ``"cumulative"`` (DRew) :math:`K(\ell) = \{1..\min(\ell + 1, k_{max})\}`;
    ``"single"`` :math:`K(\ell) = \{\min(\ell + 1, k_{max})\}`. Edges whose
    hop is not in :math:`K(\ell)` are ignored.

    Parameters
    ----------
    in_feats : int
        Input feature size.
    out_feats : int
        Output feature size.
    max_hop : int, optional
        :math:`k_{max}`, the largest ring used; ``None`` for no cap (layer
        :math:`\ell` then reads rings up to :math:`\ell + 1`). A layer that
        would read a ring beyond the ``max_hop`` its graph was rewired with
        is refused (rings beyond a graph's own diameter are empty, and
        allowed: rewire with ``max_hop=None`` for every distance).
    rings : str
        ``"cumulative"`` (default) or ``"single"``.
    layer : int
        The layer index :math:`\ell \ge 0` that picks :math:`K(\ell)`.
    bias : bool
        Add a learnable bias :math:`b` (one for all rings). Default ``True``.
    activation : callable, optional
        :math:`\sigma`, default ``None``.
    self_loops : str
        ``"first"`` (default: ring 1 only) or ``"every"`` ring gets :math:`I`.

    Attributes
    ----------
    rings : list of int
        :math:`K(\ell)`.
    weight : torch.nn.Parameter
        ``(len(rings), in_feats, out_feats)``; ``weight[i]`` is
        :math:`W_{k}` for ``k = rings[i]``.

    Raises
    ------
    ValueError
        On a bad ``rings``, ``layer``, ``max_hop`` or ``self_loops`` (constructor), or
        per-ring inputs of the wrong number or shape (forward).
    dgl.DGLError
        If the graph has no ``edata['hop']`` (apply ``KHopRewire`` first), or was rewired with a smaller
        ``max_hop`` than the largest ring of this layer (:func:`rewired_max_hop`): that ring would be empty and its
        weight never trained.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.nn import KHopConv
    >>> from dgl_ssm.transforms import KHopRewire
    >>> g = KHopRewire(max_hop=3)(dgl.graph(([0, 1, 2, 3], [1, 2, 3, 4])))
    >>> conv = KHopConv(4, 8, max_hop=3, layer=1)
    >>> conv.rings, conv.weight.shape
    ([1, 2], torch.Size([2, 4, 8]))
    >>> conv(g, torch.randn(5, 4)).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        in_feats: int,
        out_feats: int,
        max_hop: Optional[int] = None,
        rings: str = "cumulative",
        layer: int = 0,
        bias: bool = True,
        activation=None,
        self_loops: str = "first",
    ):
        super().__init__()
        self.self_loops = check_self_loops(self_loops)
        self._in_feats, self._out_feats = int(in_feats), int(out_feats)
        self.max_hop, self.mode, self.layer = max_hop, rings, int(layer)
        self.rings = ring_schedule(layer, max_hop, rings)
        self.weight = nn.Parameter(torch.empty(len(self.rings), self._in_feats, self._out_feats))
        self.bias = nn.Parameter(torch.empty(self._out_feats)) if bias else None
        self.activation = activation
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights (each ring as ``GraphConv`` does), zero bias."""
        for w in self.weight:
            nn.init.xavier_uniform_(w)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, graph, feat: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """Aggregate over the rings of this layer.

        Parameters
        ----------
        graph : dgl.DGLGraph
            A rewired (possibly batched) graph with ``edata['hop']``.
        feat : torch.Tensor or sequence of torch.Tensor
            ``(N, in_feats)`` node features, or one ``(N, in_feats)`` tensor per
            ring of :attr:`rings` (in that order): ring :math:`k` then reads
            its own input :math:`H_k` (DRew's delayed states).

        Returns
        -------
        torch.Tensor
            ``(N, out_feats)``.
        """
        with graph.local_scope():
            proj, dtype = self._project(graph, feat)
            rst = ring_aggregate(ring_graph(graph, self.rings, dtype, self.self_loops), proj)
            if self.bias is not None:
                rst = rst + self.bias
            if self.activation is not None:
                rst = self.activation(rst)
            return rst

    def ring_terms(self, graph, feat: Union[torch.Tensor, Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        r"""Each ring's term :math:`\hat{A}_k H_k W_k` apart, without bias or activation (they sum to
        :meth:`forward`'s before its bias): for models that transform each ring's term before the sum (DRew's code).

        Parameters
        ----------
        graph, feat
            As :meth:`forward`.

        Returns
        -------
        list of torch.Tensor
            ``len(rings)`` tensors of shape ``(N, out_feats)``; the ``i``-th is ring ``rings[i]``'s term. (A list,
            one product per ring: slicing one stacked tensor would cost the backward pass a full-size zero tensor
            per slice.)
        """
        with graph.local_scope():
            inputs, dtype = self._inputs(graph, feat)
            inputs = inputs if len(inputs) == len(self.rings) else inputs * len(self.rings)
            return [ring_aggregate(ring_graph(graph, (k,), dtype, self.self_loops), (x @ w).unsqueeze(1))
                    for k, x, w in zip(self.rings, inputs, self.weight)]

    def _inputs(self, graph, feat):
        """The checked inputs (one tensor, or one per ring) and the dtype of the ring matrices (float32, or float64
        for float64 inputs: a low-precision input under autocast is multiplied in float32 by SpMM, there is no
        bfloat16 CSR kernel)."""
        if "hop" not in graph.edata:
            raise DGLError(
                "KHopConv needs edge field 'hop' (shortest-path distance); rewire the graph first with "
                "dgl_ssm.transforms.KHopRewire(max_hop)(graph)"
            )
        rewired = rewired_max_hop(graph)
        if rewired is not None and rewired < self.rings[-1]:
            need = self.max_hop if self.max_hop is not None else f"{self.rings[-1]} or None"
            raise DGLError(
                f"KHopConv (layer {self.layer}, max_hop={self.max_hop}) reads ring {self.rings[-1]}, but the graph was "
                f"rewired with max_hop={rewired} (ndata['max_hop']), so that ring is empty: rewire with "
                f"KHopRewire(max_hop={need}), or build the conv with max_hop={rewired}"
            )
        n, r = graph.num_nodes(), len(self.rings)
        inputs = [feat] if torch.is_tensor(feat) else list(feat)
        if not torch.is_tensor(feat) and len(inputs) != r:
            raise ValueError(f"KHopConv: got {len(inputs)} per-ring inputs for rings {self.rings}")
        for x in inputs:
            if tuple(x.shape) != (n, self._in_feats):
                raise ValueError(f"KHopConv: expected node features of shape ({n}, {self._in_feats}), got {tuple(x.shape)}")
        return inputs, inputs[0].dtype if inputs[0].dtype == torch.float64 else torch.float32

    def _project(self, graph, feat):
        """``(N, r, out_feats)``: each ring's input times its weight, one product for all rings; and the dtype of the
        ring matrices (:meth:`_inputs`)."""
        inputs, dtype = self._inputs(graph, feat)
        n, r = graph.num_nodes(), len(self.rings)
        # project first, one product for all rings: (N, d) @ [W_1 .. W_r] -> (N, r, o), then the sparse product
        if not torch.is_tensor(feat):
            proj = torch.bmm(torch.stack(inputs), self.weight).transpose(0, 1)
        else:
            w = self.weight.permute(1, 0, 2).reshape(self._in_feats, r * self._out_feats)
            proj = (feat @ w).view(n, r, self._out_feats)
        return proj, dtype

    def extra_repr(self) -> str:
        return (
            f"in={self._in_feats}, out={self._out_feats}, rings={self.rings} "
            f"(mode={self.mode!r}, layer={self.layer}, max_hop={self.max_hop}), bias={self.bias is not None}"
            + (", self_loops='every'" if self.self_loops == "every" else "")
        )
