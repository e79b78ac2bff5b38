"""k-hop rewiring: connect every pair of nodes within ``max_hop`` shortest-path hops.

The rewired graph is the input of the k-hop convolution
(:class:`~dgl_ssm.nn.KHopConv`), of kGNN-SSM (Arroyo et al. 2025,
arXiv:2502.10818, Sec. 6) and of DRew (Gutteridge et al. 2023, ICML,
"DRew: Dynamically Rewired Message Passing with Delay", Eq. 5): an edge
:math:`(u, v)` for every :math:`1 \\le d(u, v) \\le k_{max}`, labelled with the
distance :math:`d(u, v)` in ``edata['hop']``, so that the *ring*
:math:`R_k = \\{(u, v) : d(u, v) = k\\}` is one edge mask away.

Algorithm
---------
Breadth-first search by levels from **every node at once**, 256 or 512
sources at a time, with the sets of sources stored as bit sets: one BFS level for all
sources is, for each node, the OR of its in-neighbours' frontier rows (four
64-bit words per in-edge, or eight). The distances are kept as bit planes and read back
row by row, so the pairs come out sorted by ``v`` then ``u`` with no sort. The
kernel (:mod:`dgl_ssm.transforms._bfs`) is compiled with numba and walks the
graphs of a batch one after the other, so nodes of different graphs are never
connected and the working memory is a few words per node of the largest
graph, plus the output.

Note that DGL's :class:`dgl.KHopGraph` / :func:`dgl.khop_graph` build
:math:`A^k` (walks of length exactly :math:`k`), not shortest-path rings, and
:func:`dgl.shortest_dist` returns a dense :math:`N \\times N` matrix (never
apply it to a batched dataset).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

import dgl
import numpy as np
import torch
from dgl import DGLError
from dgl.transforms import BaseTransform

from .._compat import edge_arrays, graph_from_pairs, num_graphs_in_batch
from ..nn.khop import MAX_HOP_FIELD
from ..graphcache import cache_lock, graphs_fingerprint, load_cache, save_cache
from . import _bfs

__all__ = ["KHopRewire", "khop_pairs", "rewire_dataset", "cached_rewire"]

_FIRST_CAPACITY = 2**27  # pairs (1 GiB of virtual memory per output array) before the outputs are grown


def _check_max_hop(max_hop) -> Optional[int]:
    if max_hop is None:
        return None
    if isinstance(max_hop, bool) or not isinstance(max_hop, (int, np.integer)):
        raise ValueError(f"max_hop must be a positive int or None, got {max_hop!r}")
    if max_hop < 1:
        raise ValueError(f"max_hop must be >= 1 (or None for all finite distances), got {max_hop}")
    if max_hop >= 2**31:  # the BFS kernel counts in int64 pairs; no graph in memory has a longer shortest path
        raise ValueError(f"max_hop must be < 2**31, got {max_hop}; use None for all finite distances")
    return int(max_hop)


def khop_pairs(
    src: np.ndarray,
    dst: np.ndarray,
    batch_num_nodes: Sequence[int],
    max_hop: Optional[int] = None,
    directed: bool = False,
):
    r"""All ordered pairs within ``max_hop`` hops of a block-diagonal (batched) graph.

    Parameters
    ----------
    src, dst : numpy.ndarray
        ``(E,)`` integer edge end points, global node ids of the batch. Self-loops
        and repeated edges are allowed (they change no distance).
    batch_num_nodes : sequence of int
        ``(B,)`` node counts; graph :math:`i` owns the consecutive node ids
        ``sum(batch_num_nodes[:i]) ... + batch_num_nodes[i] - 1``.
    max_hop : int, optional
        Largest distance kept; ``None`` keeps all finite distances.
    directed : bool
        ``False`` (default): distances in the undirected version of the graph.
        ``True``: :math:`d(u, v)` follows edge directions (from ``u`` to ``v``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        ``u``, ``v`` (``int64``) and ``hop`` (``int64``) of every pair with
        :math:`u \ne v` and :math:`1 \le d(u, v) \le` ``max_hop``, sorted by
        ``v`` then ``u`` (hence grouped by graph, in batch order).

    Raises
    ------
    ValueError
        On ``max_hop < 1``, node ids out of range, or an edge that joins two
        different graphs of the batch.

    Examples
    --------
    A batch of a path 0 - 1 - 2 and a single edge 3 - 4:

    >>> import numpy as np
    >>> u, v, hop = khop_pairs(np.array([0, 1, 3]), np.array([1, 2, 4]), [3, 2], max_hop=2)
    >>> list(zip(u.tolist(), v.tolist(), hop.tolist()))
    [(1, 0, 1), (2, 0, 2), (0, 1, 1), (2, 1, 1), (0, 2, 2), (1, 2, 1), (4, 3, 1), (3, 4, 1)]
    """
    limit = _check_max_hop(max_hop)
    counts = np.asarray(batch_num_nodes, dtype=np.int64).reshape(-1)
    if counts.size and counts.min() < 0:
        raise ValueError("batch_num_nodes must be non-negative")
    num_nodes = int(counts.sum())
    src = np.asarray(src, dtype=np.int64).reshape(-1)
    dst = np.asarray(dst, dtype=np.int64).reshape(-1)
    if src.shape != dst.shape:
        raise ValueError(f"src and dst differ in length: {src.shape} vs {dst.shape}")
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= num_nodes):
        raise ValueError(f"edge end points must lie in [0, {num_nodes})")
    return _pairs(src, dst, counts, limit, directed)


def _pairs(src: np.ndarray, dst: np.ndarray, counts: np.ndarray, limit: Optional[int], directed: bool):
    """:func:`khop_pairs` on arguments already checked (int64 arrays, ids in range, ``limit`` valid or ``None``).

    The edges of a DGL graph are valid by construction, so :class:`KHopRewire`
    calls this directly: the checks cost about a third of a small graph's rewiring.
    """
    first = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    indptr, indices, bad = _bfs.in_neighbour_csr(src, dst, first, not directed)
    if bad >= 0:
        raise ValueError(
            f"edge {bad} ({src[bad]} -> {dst[bad]}) joins two different graphs of the batch "
            "(batch_num_nodes does not match the edges)"
        )
    largest = int(counts.max()) if counts.size else 0
    if first[-1] < 2:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    # out-neighbour lists: only graphs of several source blocks (more than 512 nodes) use them
    out_lists = (indptr, indices)
    if directed and largest > 64 * _bfs._WIDE:
        out_lists = _bfs.in_neighbour_csr(dst, src, first, False)[:2]
    limit = largest - 1 if limit is None else limit
    return _all_pairs((indptr, indices) + tuple(out_lists), first, limit)


def _all_pairs(lists, first, limit):
    """Run :func:`~dgl_ssm.transforms._bfs.khop_batch` over the whole batch, growing the output arrays as needed.

    The arrays start at the number of ordered pairs of distinct nodes (the
    most there can be, and about what ``max_hop=None`` gives), capped at
    :data:`_FIRST_CAPACITY` pairs; untouched capacity is never paged in.
    """
    sizes = np.diff(first)
    bound = int(np.dot(sizes, sizes - 1))
    capacity = min(bound, _FIRST_CAPACITY)
    out = [np.empty(capacity, np.int64) for _ in range(3)]
    k, g, num_graphs = 0, 0, sizes.size
    while True:
        k, g, need = _bfs.khop_batch(*lists, first, limit, g, k, *out)
        if g == num_graphs:
            return tuple(a[:k] for a in out)
        capacity = min(bound, max(2 * capacity, k + need))
        grown = [np.empty(capacity, np.int64) for _ in range(3)]
        for new, old in zip(grown, out):
            new[:k] = old[:k]
        out = grown


def _check_homogeneous(g) -> None:
    """A graph KHopRewire can rewire: homogeneous, and not rewired already."""
    if not g.is_homogeneous:
        raise DGLError("KHopRewire expects a homogeneous graph (one node type and one edge type)")
    if "hop" in g.edata and g.num_edges() and bool((g.edata["hop"] > 1).any()):
        raise DGLError("KHopRewire: the graph is rewired already (edata['hop'] has rings beyond 1); rewiring it again "
                       "would measure shortest paths over its rings, not its edges: rewire the original graph")


def _rewired_edge_data(edata: dict, src, dst, num_nodes: int, u, v, hop) -> dict:
    """Edge features of the rewired edges: the first input edge u -> v (else v -> u) for hop 1, zeros otherwise."""
    edata = {k: x for k, x in dict(edata).items() if k != "hop"}
    if not edata or src.size == 0:
        return {k: x.new_zeros((u.size,) + tuple(x.shape[1:])) for k, x in edata.items()}
    first = np.flatnonzero(hop == 1)
    keys = src.astype(np.int64) * num_nodes + dst
    uniq, where = np.unique(keys, return_index=True)  # ``where``: the first (lowest) edge ID of each key
    eid = np.full(first.size, -1, np.int64)
    for query in (u[first] * num_nodes + v[first], v[first] * num_nodes + u[first]):
        todo = np.flatnonzero(eid < 0)
        pos = np.searchsorted(uniq, query[todo]).clip(max=uniq.size - 1)
        found = uniq[pos] == query[todo]
        eid[todo[found]] = where[pos[found]]
    hit = eid >= 0
    out = {}
    for key, value in edata.items():
        rows = torch.from_numpy(first[hit]).to(value.device)
        filled = value.new_zeros((u.size,) + tuple(value.shape[1:]))
        filled[rows] = value[torch.from_numpy(eid[hit]).to(value.device)]
        out[key] = filled
    return out


#: Revision of the rewired graphs' format, in every cache key (2: ``ndata['max_hop']`` added), so that a cache of an
#: older format is rebuilt, not read.
_FORMAT = 2


def _make_graph(u, v, hop, like, edata, max_hop: Optional[int]) -> dgl.DGLGraph:
    """The rewired graph of ``like`` from known-valid pairs, with its node data, ``edata`` and the rewiring radius
    (:data:`~dgl_ssm.nn.khop.MAX_HOP_FIELD`) (``dgl.unbatch`` is slow)."""
    out = graph_from_pairs(u, v, like, {**edata, "hop": torch.from_numpy(hop).to(like.device)})
    out.ndata[MAX_HOP_FIELD] = torch.full((like.num_nodes(),), -1 if max_hop is None else max_hop, dtype=torch.int32,
                                          device=like.device)
    return out


class KHopRewire(BaseTransform):
    r"""Rewire a graph so that every pair within ``max_hop`` shortest-path hops is an edge.

    The output has an edge :math:`(u, v)` for every ordered pair of distinct
    nodes with :math:`1 \le d(u, v) \le k_{max}`, where :math:`d` is the
    shortest-path distance, and ``edata['hop']`` (``int64``) holds
    :math:`d(u, v)`. The rings :math:`R_k = \{(u, v) : d(u, v) = k\}` used by
    :class:`~dgl_ssm.nn.KHopConv`, kGNN-SSM (Arroyo et al. 2025,
    arXiv:2502.10818) and DRew (Gutteridge et al. 2023, Eq. 5) are
    ``graph.edata['hop'] == k``.

    * **Node data** is kept as is (same tensors), and ``ndata['max_hop']``
      (``int32``, every node) records this ``max_hop`` (``-1`` for ``None``),
      replacing a field of that name: :class:`~dgl_ssm.nn.KHopConv` refuses
      a graph rewired with a smaller radius than the rings it reads.
    * **Edge data**: a hop-1 edge :math:`(u, v)` takes the features of the
      input edge :math:`u \to v` with the smallest edge ID (the *first* of a
      multi-edge); when only :math:`v \to u` exists (undirected treatment of
      a directed input) it takes the first :math:`v \to u` edge's features.
      Edges with ``hop > 1`` have no counterpart and get zeros of the same
      dtype and trailing shape. An input field named ``'hop'`` is replaced (a graph rewired already, whose ``'hop'``
      has rings beyond 1, is refused).
    * **Self-loops** of the input are ignored (distance 0 is not an edge) and
      **multi-edges** count once. Add self-loops after rewiring if a conv
      needs them; :class:`~dgl_ssm.nn.KHopConv` adds the self term itself.
    * **Batched graphs**: ``batch_num_nodes`` is kept and ``batch_num_edges``
      counts the new edges of each graph; nodes of different graphs are never
      connected. Edges are ordered by destination then source node.
    * **Disconnected graphs**: only finite distances give edges.

    The whole batch is processed at once by a bit-parallel level-synchronous
    BFS over the block-diagonal adjacency (see :func:`khop_pairs`); use
    :func:`rewire_dataset` for a list of graphs.

    Parameters
    ----------
    max_hop : int, optional
        :math:`k_{max} \ge 1`. ``None`` keeps every finite distance (the
        complete graph of each connected component, labelled by distance).
    directed : bool, optional
        ``False`` (default): the input is treated as undirected, so
        :math:`d(u, v) = d(v, u)` and the output is symmetric. ``True``:
        distances follow edge directions, :math:`d(u, v)` is the length of the
        shortest directed path from ``u`` to ``v``.

    Raises
    ------
    ValueError
        If ``max_hop`` is not a positive int or ``None``.
    dgl.DGLError
        (on call) If the graph is heterogeneous, or rewired already.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.transforms import KHopRewire
    >>> path = dgl.graph(([0, 1, 2], [1, 2, 3]))          # 0 - 1 - 2 - 3
    >>> rg = KHopRewire(max_hop=2)(path)
    >>> rg.num_edges(), int((rg.edata['hop'] == 2).sum())
    (10, 4)
    >>> int(rg.edata['hop'][rg.edge_ids(0, 2)]), bool(rg.has_edges_between(0, 3))
    (2, False)
    """

    def __init__(self, max_hop: Optional[int] = None, directed: bool = False):
        self.max_hop = _check_max_hop(max_hop)
        self.directed = bool(directed)

    @property
    def cache_key(self) -> str:
        """File-name-safe key of this rewiring, for dataset pre-transform caches (e.g. ``khop-max_hop3-r2``;
        ``r2`` is the format of the rewired graphs)."""
        return (f"khop-max_hop{self.max_hop if self.max_hop is not None else 'all'}{'-directed' if self.directed else ''}"
                f"-r{_FORMAT}")

    def __call__(self, g):
        """Rewire one (possibly batched) graph; a list of graphs is rewired in batches (:func:`rewire_dataset`).

        The list form makes a ``KHopRewire`` usable directly as a cached dataset
        pre-transform (``GraphPropertyDataset(..., pre_transform=KHopRewire(3))``).
        """
        if isinstance(g, (list, tuple)):
            return rewire_dataset(list(g), self.max_hop, directed=self.directed)
        _check_homogeneous(g)
        src, dst = edge_arrays(g)
        n = g.num_nodes()
        single = num_graphs_in_batch(g) == 1
        if single:  # one compiled call
            limit = max(n - 1, 1) if self.max_hop is None else self.max_hop
            u, v, hop = _bfs.khop_graph(src, dst, n, limit, not self.directed)
        else:
            counts = g.batch_num_nodes().cpu().numpy().astype(np.int64, copy=False)
            u, v, hop = _pairs(src, dst, counts, self.max_hop, self.directed)
        edata = _rewired_edge_data(g.edata, src, dst, n, u, v, hop) if len(g.edata) else {}
        out = _make_graph(u, v, hop, g, edata, self.max_hop)
        if not single:  # a single graph's batch counts are its node and edge counts already
            edge_bounds = np.searchsorted(v, np.concatenate([[0], np.cumsum(counts)]))  # pairs are sorted by v
            out.set_batch_num_nodes(g.batch_num_nodes())
            out.set_batch_num_edges(torch.from_numpy(np.diff(edge_bounds)).to(device=g.device, dtype=g.idtype))
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(max_hop={self.max_hop}, directed={self.directed})"


def rewire_dataset(
    graphs: Iterable[dgl.DGLGraph],
    max_hop: Optional[int] = None,
    chunk_size: int = 2048,
    directed: bool = False,
    progress: bool = False,
) -> List[dgl.DGLGraph]:
    r"""Apply :class:`KHopRewire` to many graphs, a batch of ``chunk_size`` at a time.

    Consecutive graphs are batched with :func:`dgl.batch`, rewired in one
    call per chunk and returned as separate graphs, in the input order.

    Parameters
    ----------
    graphs : iterable of dgl.DGLGraph
        Homogeneous graphs (each may itself be unbatched data of one sample).
    max_hop : int, optional
        As in :class:`KHopRewire`.
    chunk_size : int
        Graphs per batch (default 2048). Besides the output, memory grows with
        the edges of the chunk (the BFS itself needs a few words per node).
    directed : bool
        As in :class:`KHopRewire`.
    progress : bool
        Show a ``tqdm`` progress bar over chunks.

    Returns
    -------
    list of dgl.DGLGraph
        One rewired graph per input graph, with ``edata['hop']``.

    Raises
    ------
    ValueError
        On ``chunk_size < 1`` or a bad ``max_hop``.

    Examples
    --------
    >>> import dgl
    >>> from dgl_ssm.transforms import rewire_dataset
    >>> graphs = [dgl.graph(([0, 1], [1, 2])), dgl.graph(([0], [1]))]
    >>> [g.num_edges() for g in rewire_dataset(graphs, max_hop=None)]
    [6, 2]
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    max_hop = _check_max_hop(max_hop)
    graphs = list(graphs)
    chunks = range(0, len(graphs), chunk_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"k-hop rewiring (max_hop={max_hop})", unit="chunk")
    out: List[dgl.DGLGraph] = []
    for start in chunks:
        out.extend(_rewire_chunk(graphs[start : start + chunk_size], max_hop, directed))
    return out


def _rewire_chunk(graphs: List[dgl.DGLGraph], max_hop, directed) -> List[dgl.DGLGraph]:
    """Rewire a list of graphs with one BFS; the outputs are built per graph (``dgl.unbatch`` is slow)."""
    for g in graphs:
        _check_homogeneous(g)
    batch = dgl.batch(graphs)  # one call instead of one edges() per graph; raises if edge fields differ
    counts = batch.batch_num_nodes().cpu().numpy()
    offsets = np.concatenate([[0], np.cumsum(counts)])
    src, dst = (t.cpu().numpy().astype(np.int64, copy=False) for t in batch.edges())
    u, v, hop = khop_pairs(src, dst, counts, max_hop, directed)
    edata = _rewired_edge_data(dict(batch.edata), src, dst, int(offsets[-1]), u, v, hop)
    bounds = np.searchsorted(v, offsets)  # pairs are sorted by v, hence grouped by graph
    out = []
    for i, g in enumerate(graphs):
        a, b, o = bounds[i], bounds[i + 1], offsets[i]
        part = {k: x[a:b] for k, x in edata.items()}
        out.append(_make_graph(u[a:b] - o, v[a:b] - o, hop[a:b], g, part, max_hop))
    return out


def cached_rewire(
    graphs: Sequence[dgl.DGLGraph],
    max_hop: Optional[int],
    cache_path: os.PathLike,
    chunk_size: int = 2048,
    directed: bool = False,
) -> List[dgl.DGLGraph]:
    r"""Rewire a dataset once and cache it with :func:`dgl.save_graphs`.

    If ``cache_path`` holds the rewiring of these very graphs (its content key:
    ``max_hop``, ``directed`` and :func:`~dgl_ssm.graphcache.graphs_fingerprint`
    of the inputs), the cached graphs are loaded; otherwise, or if the file is
    damaged (one warning), they are computed with :func:`rewire_dataset` and
    saved atomically (temporary file, then :func:`os.replace`), so that a
    crash or a concurrent reader never sees a partial file. The check, the
    rewiring and the save hold :func:`~dgl_ssm.graphcache.cache_lock` of
    ``cache_path`` (the file ``<cache_path>.lock``): another process rewiring
    into the same file waits, then loads this one's cache. Name the cache
    after everything that changes the result (dataset, ``max_hop``,
    ``directed``), e.g. ``data_root() / "peptides-func" / "khop8.bin"``.

    Parameters
    ----------
    graphs : sequence of dgl.DGLGraph
        The dataset's graphs, in order.
    max_hop : int, optional
        As in :class:`KHopRewire`.
    cache_path : path-like
        The ``.bin`` file (its folder is created if needed).
    chunk_size, directed
        As in :func:`rewire_dataset`.

    Returns
    -------
    list of dgl.DGLGraph
        The rewired graphs, in the order of ``graphs``.

    Examples
    --------
    >>> import dgl, tempfile, os
    >>> from dgl_ssm.transforms import cached_rewire
    >>> graphs = [dgl.graph(([0, 1], [1, 2]))]
    >>> path = os.path.join(tempfile.mkdtemp(), "khop2.bin")
    >>> cached_rewire(graphs, 2, path)[0].num_edges()
    6
    >>> cached_rewire(graphs, 2, path)[0].edata['hop'].tolist()  # loaded from the cache
    [1, 2, 1, 1, 2, 1]
    """
    path = Path(cache_path)
    graphs = list(graphs)
    key = f"khop-{max_hop}-{'directed' if directed else 'undirected'}-r{_FORMAT}:{graphs_fingerprint(graphs)}"
    with cache_lock(path):  # a check between another process's graph file and its digest would delete it
        cached = load_cache(path, key)
        if cached is not None and len(cached) == len(graphs):
            return cached
        rewired = rewire_dataset(graphs, max_hop, chunk_size=chunk_size, directed=directed)
        save_cache(path, rewired, key)
    return rewired
