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
Breadth-first search by levels from **every node at once**, over the
block-diagonal adjacency of a whole batch of graphs, with the visited sets
stored as bit sets: row :math:`v` of a ``(N, W)`` ``uint64`` matrix holds one
bit per source node of :math:`v`'s own graph (``W = ceil(n_max / 64)`` words).
One BFS level for all sources of all graphs is a few ``numpy.take`` gathers of
frontier rows along the in-edges and in-place ORs (nodes renumbered by
in-degree so that each gather writes a contiguous slice), masked by the
unvisited bits: :math:`O(|E| W)` word operations per level and no Python loop
over sources or nodes (only over units of many graphs, and one slice per
graph to put the pairs back in batch order). The distances are accumulated as bit planes
(bit ``j`` of :math:`d(u, v)`) and unpacked to one byte per pair once at the
end; rows whose frontier has emptied are dropped as the search goes. The
graphs of a batch are visited from the smallest to the largest, in units of
similar size and about 1 MiB of distances (so a 400-node graph does not widen
the rows of 30-node graphs, and each unit works in cache), and each graph's
pairs are put back in batch order at the end. Nodes of different graphs are
never connected because the adjacency is block-diagonal and a bit only ever
spreads along edges. Graphs larger than the memory budget are processed in
slabs of source columns.

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
from dgl.frame import Frame
from dgl.heterograph_index import create_unitgraph_from_coo
from dgl.transforms import BaseTransform

from ..experiment import atomic_write

__all__ = ["KHopRewire", "khop_pairs", "rewire_dataset", "cached_rewire"]

_WORD = 64
_DEFAULT_BUDGET = 256 * 2**20  # bytes of working memory per slab
_UNIT_BYTES = 2**20  # distance-matrix bytes of one unit of work (graphs of similar size), about the L2 cache


def _check_max_hop(max_hop) -> Optional[int]:
    if max_hop is None:
        return None
    if isinstance(max_hop, bool) or not isinstance(max_hop, (int, np.integer)):
        raise ValueError(f"max_hop must be a positive int or None, got {max_hop!r}")
    if max_hop < 1:
        raise ValueError(f"max_hop must be >= 1 (or None for all finite distances), got {max_hop}")
    return int(max_hop)


def khop_pairs(
    src: np.ndarray,
    dst: np.ndarray,
    batch_num_nodes: Sequence[int],
    max_hop: Optional[int] = None,
    directed: bool = False,
    memory_budget: int = _DEFAULT_BUDGET,
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
    memory_budget : int
        Approximate working memory in bytes; larger graphs are processed in
        slabs of source columns.

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
    gid = np.repeat(np.arange(counts.size), counts)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    if np.any(gid[src] != gid[dst]):
        raise ValueError("an edge joins two different graphs of the batch (batch_num_nodes does not match the edges)")
    if not directed:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    empty = np.empty(0, np.int64)
    if src.size == 0:
        return empty, empty, empty
    src, dst = np.divmod(np.unique(src * num_nodes + dst), num_nodes)  # multi-edges count once, sorted by src
    return _pairs_by_units(src, dst, counts, gid, limit, memory_budget, symmetric=not directed)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each ``(s, n)``, without a Python loop."""
    total = int(lengths.sum())
    run_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.repeat(starts - run_start, lengths) + np.arange(total)


def _plan_units(sizes: np.ndarray) -> np.ndarray:
    """Boundaries (indices into ``sizes``, sorted increasingly) of the units of work.

    A unit is a run of graphs of the same bit-set width (64 nodes a word)
    whose dense distance matrices take about :data:`_UNIT_BYTES` together, so
    that the BFS and the pair extraction of a unit work in cache and their
    temporaries are small enough to be reused rather than freshly mapped.
    """
    words = -(-sizes // _WORD)
    block = np.cumsum(sizes * sizes) // _UNIT_BYTES
    cut = np.flatnonzero((words[1:] != words[:-1]) | (block[1:] != block[:-1])) + 1
    return np.concatenate([[0], cut, [sizes.size]])


def _pairs_by_units(src, dst, counts, gid, limit, memory_budget, symmetric):
    """:func:`khop_pairs` on a checked, symmetrised, de-duplicated edge list sorted by ``src``.

    Graphs are visited from the smallest to the largest (in units of similar
    size, see :func:`_plan_units`), and each graph's pairs are put back in its
    place in the batch at the end by one concatenation of slices.
    """
    num_graphs, num_nodes = counts.size, int(counts.sum())
    first = np.concatenate([[0], np.cumsum(counts)])  # first node of each graph (batch order)
    order = np.argsort(counts, kind="stable")  # visiting order of the graphs
    sizes = counts[order]
    new_first = np.concatenate([[0], np.cumsum(sizes)])  # first node of each graph in visiting order
    rank = np.empty(num_graphs, np.int64)
    rank[order] = np.arange(num_graphs)
    new_id = np.arange(num_nodes) - first[gid] + new_first[rank[gid]]  # batch node id -> visiting node id
    edge_first = np.searchsorted(src, first)  # edges are sorted by src, hence grouped by graph
    perm = _ranges(edge_first[order], np.diff(edge_first)[order])
    src, dst = new_id[src[perm]], new_id[dst[perm]]  # sorted by (new) src again

    bounds = _plan_units(sizes)
    row_pairs = np.zeros(num_nodes, np.int64)  # in visiting order

    def unit(k):
        a, b = bounds[k], bounds[k + 1]
        lo, hi = new_first[a], new_first[b]
        e0, e1 = np.searchsorted(src, [lo, hi])
        u_offset = np.repeat(first[order[a:b]], sizes[a:b])  # a pair's u is its graph's first node + local id
        # (dst, src): the same edges when symmetric (undirected), and then grouped by destination as _InNeighbours
        # wants them; directed edges are sorted there.
        s, d = (dst[e0:e1] - lo, src[e0:e1] - lo) if symmetric else (src[e0:e1] - lo, dst[e0:e1] - lo)
        u, hop, row_pairs[lo:hi] = _khop_group(s, d, sizes[a:b], limit, memory_budget, u_offset)
        return u, hop

    unit_u, unit_hop = zip(*(unit(k) for k in range(bounds.size - 1)))
    if len(unit_u) == 1 and np.all(order[1:] > order[:-1]):  # one unit, already in batch order
        u, hop = unit_u[0], unit_hop[0].astype(np.int64)
    else:
        u, hop = _batch_order(unit_u, unit_hop, row_pairs, new_first, bounds, rank)
    v = np.repeat(np.arange(num_nodes), row_pairs[new_id])
    return u, v, hop


def _batch_order(unit_u, unit_hop, row_pairs, new_first, bounds, rank):
    """Concatenate the pairs of the units (graphs in visiting order) graph by graph in batch order.

    Runs of graphs that are consecutive in both orders are copied as one slice.
    """
    cum = np.concatenate([[0], np.cumsum(row_pairs)])
    pair_first = cum[new_first]  # first pair of each graph (visiting order) in the concatenation of all units
    unit_of = np.repeat(np.arange(bounds.size - 1), np.diff(bounds))
    start = pair_first[:-1] - pair_first[bounds[unit_of]]  # first pair of each graph inside its unit
    stop = start + np.diff(pair_first)
    slices = []
    for i in rank.tolist():  # graphs in batch order
        k, a, b = unit_of[i], int(start[i]), int(stop[i])
        if slices and slices[-1][0] == k and slices[-1][2] == a:
            slices[-1][2] = b
        else:
            slices.append([k, a, b])
    u = np.concatenate([unit_u[k][a:b] for k, a, b in slices])
    hop = np.concatenate([unit_hop[k][a:b] for k, a, b in slices], dtype=np.int64, casting="safe")
    return u, hop


def _khop_group(src, dst, counts, limit, memory_budget, u_offset):
    """Pairs of a batch (already checked, symmetrised, without self-loops or repeats); see :func:`khop_pairs`.

    Returns ``(u, hop, row_pairs)``: for each node ``v`` in turn, the
    ``row_pairs[v]`` pairs ``(u, v)`` as ``u_offset[v]`` plus the local id of
    ``u`` in its graph (``int64``, increasing) and the distance (``hop``, in
    the smallest unsigned dtype that holds ``limit``).
    """
    num_nodes = int(counts.sum())
    offsets = np.concatenate([[0], np.cumsum(counts)])
    graph = np.repeat(np.arange(counts.size), counts)
    local = np.arange(num_nodes) - offsets[graph]
    n_max = int(counts.max())
    limit = n_max - 1 if limit is None else min(limit, n_max - 1)
    if limit < 1 or src.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.uint8), np.zeros(num_nodes, np.int64)
    words_total = -(-n_max // _WORD)
    dist_dtype = np.uint8 if limit < 2**8 else (np.uint16 if limit < 2**16 else np.uint32)
    per_word = 8 * (4 * num_nodes + src.size) + _WORD * np.dtype(dist_dtype).itemsize * num_nodes
    slab_words = int(max(1, min(words_total, memory_budget // max(per_word, 1))))

    pieces = []
    for first_word in range(0, words_total, slab_words):
        width = min(slab_words, words_total - first_word)
        single = width == words_total  # every source of every graph is in this slab
        lo = first_word * _WORD
        dist = _bfs_slab(src, dst, local, lo, width, min(n_max - lo, _WORD * width), limit, dist_dtype, single)
        pieces.append(dist if single else (dist, lo))
    if len(pieces) == 1:
        return _dense_pairs(pieces[0], u_offset)
    # slabs: (v, local u) in (v, u) order
    v, u, hop = (np.concatenate(p) for p in zip(*(_pairs_of(d, lo) for d, lo in pieces)))
    order = np.lexsort((u, v))
    v, u, hop = v[order], u[order], hop[order]
    return u + u_offset[v], hop, np.bincount(v, minlength=num_nodes)


def _row_counts(mask: np.ndarray) -> np.ndarray:
    """Number of ``True`` per row of a C-contiguous boolean matrix (``int64``).

    Rows of whole words are summed eight booleans at a time (one byte lane of
    a ``uint64`` each, no lane can overflow below 2040 columns): about twice
    as fast as ``count_nonzero(axis=1)``.
    """
    rows, cols = mask.shape
    if cols % 8 or cols > 2040 or not mask.flags.c_contiguous:
        return np.count_nonzero(mask, axis=1)
    lanes = mask.view(np.uint64).sum(axis=1, dtype=np.uint64)
    return lanes.view(np.uint8).reshape(rows, 8).sum(axis=1, dtype=np.int64)


def _dense_pairs(dist, u_offset):
    """``(u_offset[row] + column, value, count per row)`` of the non-zero entries of ``dist``, in row-major order.

    (``np.flatnonzero`` of a boolean array is several times faster than of
    ``uint8``, and a repeat beats a division by the row length.)
    """
    mask = dist != 0
    flat = np.flatnonzero(mask)
    values = np.take(dist.ravel(), flat)
    row_pairs = _row_counts(mask)
    flat -= np.repeat(np.arange(0, dist.size, dist.shape[1]) - u_offset, row_pairs)
    return flat, values, row_pairs


def _pairs_of(dist, lo):
    """``(v, local u, hop)`` of the non-zero entries of one slab's distance matrix, in row-major order."""
    v, u = np.nonzero(dist)
    return v, u + lo, dist[v, u]


class _InNeighbours:
    """In-neighbour lists of ``n`` nodes, renumbered by decreasing in-degree, for a vectorised OR over neighbours.

    After renumbering, the nodes with at least ``j + 1`` in-neighbours are a
    prefix ``[0, c_j)``, so the ``j``-th in-neighbour of all of them is one
    ``numpy.take`` and one in-place OR on a slice. The first ``J`` positions
    are handled that way (``J`` small: a few for molecules); the rest of the
    lists of high-degree nodes (hubs) go through one segmented
    ``bitwise_or.reduceat``.
    """

    def __init__(self, src: np.ndarray, dst: np.ndarray, n: int, max_columns: int = 8):
        if np.any(dst[1:] < dst[:-1]):
            order = np.argsort(dst, kind="stable")
            src, dst = src[order], dst[order]
        deg = np.bincount(dst, minlength=n)
        self.perm = np.argsort(-deg, kind="stable")  # new id -> old id
        inverse = np.empty(n, np.int64)
        inverse[self.perm] = np.arange(n)
        old_indptr = np.concatenate([[0], np.cumsum(deg)])
        deg = deg[self.perm]
        src = inverse[src[_ranges(old_indptr[self.perm], deg)]]  # the in-lists in the new node order
        indptr = np.concatenate([[0], np.cumsum(deg)])
        self.src, self.dst = src, np.repeat(np.arange(n), deg)
        self.columns = []
        top = int(deg[0]) if n else 0
        for j in range(min(top, max_columns)):
            count = int(np.count_nonzero(deg > j))
            self.columns.append(src[indptr[:count] + j])
        self.tail = None
        if top > max_columns:
            count = int(np.count_nonzero(deg > max_columns))
            lengths = deg[:count] - max_columns
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            self.tail = (count, src[_ranges(indptr[:count] + max_columns, lengths)], starts)

    def gather_or(self, frontier: np.ndarray) -> np.ndarray:
        """Row ``v`` of the result: OR of the ``frontier`` rows of ``v``'s in-neighbours."""
        out = np.zeros_like(frontier)
        for col in self.columns:
            out[: col.size] |= np.take(frontier, col, axis=0)
        if self.tail is not None:
            count, tail_src, starts = self.tail
            out[:count] |= np.bitwise_or.reduceat(np.take(frontier, tail_src, axis=0), starts, axis=0)
        return out


def _bfs_slab(src, dst, local, lo, width, span, limit, dist_dtype, compact):
    """Level-synchronous BFS from the sources whose local id lies in ``[lo, lo + span)``, ``span <= 64 * width``.

    Row ``i`` of ``frontier`` holds, as bits, the sources at distance exactly
    ``hop`` from node ``rows[i]``. Distances are accumulated as bit planes:
    bit ``j`` of :math:`d(u, v)` is bit ``u`` of row ``v`` of ``planes[j]``
    (each level ORs its new bits into the planes of the set bits of ``hop``),
    and the planes are unpacked to bytes once at the end.

    With ``compact`` (all sources of every graph are in this slab) a row whose
    frontier is empty at some ``hop >= 1`` stays empty for good (a source at
    distance ``hop + 1`` would put its successor on the path at distance
    ``hop``), so such rows and their edges are dropped and their planes set aside.

    Returns the ``(num_nodes, span)`` matrix of distances from source
    ``lo + j`` (local id) to node ``v`` at ``[v, j]``; 0 means "not within
    ``limit``" (or the node itself).
    """
    num_nodes = local.size
    table = _InNeighbours(src, dst, num_nodes)
    rows = table.perm
    shift = local[rows] - lo
    is_source = (shift >= 0) & (shift < span)
    frontier = np.zeros((num_nodes, width), np.uint64)
    frontier[is_source, shift[is_source] // _WORD] = np.left_shift(
        np.uint64(1), (shift[is_source] % _WORD).astype(np.uint64)
    )
    unvisited = ~frontier
    planes: List[np.ndarray] = []
    finished = []  # (rows, planes) of rows dropped by compaction
    for hop in range(1, limit + 1):
        reached = table.gather_or(frontier)
        reached &= unvisited
        active = reached[:, 0].copy()
        for col in range(1, width):  # faster than reduce(axis=1) over a few words
            active |= reached[:, col]
        active = active != 0
        if not active.any():
            break
        unvisited ^= reached
        frontier = reached
        if hop == 1 << len(planes):
            planes.append(np.zeros_like(reached))
        for j, plane in enumerate(planes):
            if hop >> j & 1:
                plane |= reached
        if compact and hop < limit and np.count_nonzero(active) < 0.6 * rows.size:
            finished.append((rows[~active], [plane[~active] for plane in planes]))
            new_id = np.cumsum(active) - 1
            keep = active[table.src] & active[table.dst]
            table = _InNeighbours(new_id[table.src[keep]], new_id[table.dst[keep]], int(new_id[-1]) + 1)
            kept = np.flatnonzero(active)[table.perm]
            rows, frontier, unvisited = rows[kept], frontier[kept], unvisited[kept]
            planes = [plane[kept] for plane in planes]
    finished.append((rows, planes))
    if dist_dtype is np.uint8:  # decode two planes at a time through a byte-pair table
        dist = np.zeros((num_nodes, 8 * width), np.uint64)
        for block_rows, block_planes in finished:
            if block_planes:
                dist[block_rows] = _planes_to_bytes(block_planes)
        dist = dist.view(np.uint8)
        columns = min(dist.shape[1], -(-span // 8) * 8)  # whole words for _row_counts; the extra columns are zeros
        return dist if dist.shape[1] == columns else np.ascontiguousarray(dist[:, :columns])
    dist = np.zeros((num_nodes, span), dist_dtype)
    for block_rows, block_planes in finished:
        block = np.zeros((block_rows.size, span), dist_dtype)
        for j, plane in enumerate(block_planes):
            bits = np.unpackbits(plane.astype("<u8", copy=False).view(np.uint8), axis=1, count=span, bitorder="little")
            block |= bits.astype(dist_dtype, copy=False) << dist_dtype(j)
        dist[block_rows] = block
    return dist


def _pair_table() -> np.ndarray:
    """``T[a | b << 8]``: the 8 bytes ``bit_i(a) | bit_i(b) << 1`` (``i = 0..7``) as one little-endian ``uint64``."""
    index = np.arange(1 << 16, dtype=np.uint64)
    table = np.zeros(1 << 16, np.uint64)
    for i in range(8):
        byte = (index >> np.uint64(i)) & np.uint64(1) | ((index >> np.uint64(8 + i)) & np.uint64(1)) << np.uint64(1)
        table |= byte << np.uint64(8 * i)
    return table


_PAIR_TABLE = _pair_table()


def _planes_to_bytes(planes: List[np.ndarray]) -> np.ndarray:
    """Bit planes ``(rows, W) uint64`` (at most 8) to one byte per bit: ``(rows, 8 W) uint64`` viewing ``(rows, 64 W)`` bytes.

    Byte ``u`` of row ``r`` is ``sum_j bit_u(planes[j][r]) << j``. Two planes
    are decoded at once: their bytes form a 16-bit index into
    :data:`_PAIR_TABLE`, which gives the 8 output bytes as one word (8 to 16
    times fewer element operations than ``numpy.unpackbits`` per plane). When
    most bytes are zero in every plane (a small ``max_hop``), only the others
    are looked up.
    """
    rows, width = planes[0].shape
    data = [plane.astype("<u8", copy=False).view(np.uint8).ravel() for plane in planes]
    union = np.bitwise_or.reduce(data) if len(data) > 1 else data[0]
    where = np.flatnonzero(union != 0)  # (a boolean array is much faster to scan)
    if 2 * where.size > union.size:
        where = None  # dense: look every byte up
    out = None
    for j in range(0, len(data), 2):
        index = (data[j] if where is None else data[j][where]).astype(np.intp)
        if j + 1 < len(data):
            high = (data[j + 1] if where is None else data[j + 1][where]).astype(np.intp)
            high <<= 8
            index |= high
        words = np.take(_PAIR_TABLE, index)
        if j:
            words <<= np.uint64(j)
        if out is None:
            out = words
        else:
            out |= words
    if where is not None:
        out, words = np.zeros(union.size, np.uint64), out
        out[where] = words
    return out.view("<u8").reshape(rows, 8 * width)


def _check_homogeneous(g) -> None:
    if not g.is_homogeneous:
        raise DGLError("KHopRewire expects a homogeneous graph (one node type and one edge type)")


def _rewired_edge_data(edata: dict, src, dst, num_nodes: int, u, v, hop) -> dict:
    """Edge features of the rewired edges: the first input edge u -> v (else v -> u) for hop 1, zeros otherwise."""
    edata = {k: x for k, x in edata.items() if k != "hop"}
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


def _make_graph(u, v, hop, num_nodes, ndata, edata, idtype, device) -> dgl.DGLGraph:
    """A graph from known-valid COO arrays, with its node and edge features.

    Built from DGL's graph index and feature frames directly: ``dgl.graph``
    re-validates the ids and infers the node count (about 50 us per small
    graph with DGL 2.1, twice this path) and ``dgl.unbatch`` costs about
    100 us per graph, which dominated ``rewire_dataset`` on small graphs.
    """
    ut = torch.from_numpy(u).to(device=device, dtype=idtype)
    vt = torch.from_numpy(v).to(device=device, dtype=idtype)
    index = create_unitgraph_from_coo(1, num_nodes, num_nodes, ut, vt, ["coo", "csr", "csc"])
    edata = {**edata, "hop": torch.from_numpy(hop).to(device)}
    return dgl.DGLGraph(
        index, ["_N"], ["_E"], [Frame(dict(ndata), num_rows=num_nodes)], [Frame(edata, num_rows=u.size)]
    )


class KHopRewire(BaseTransform):
    r"""Rewire a graph so that every pair within ``max_hop`` shortest-path hops is an edge.

    The output has an edge :math:`(u, v)` for every ordered pair of distinct
    nodes with :math:`1 \le d(u, v) \le k_{max}`, where :math:`d` is the
    shortest-path distance, and ``edata['hop']`` (``int64``) holds
    :math:`d(u, v)`. The rings :math:`R_k = \{(u, v) : d(u, v) = k\}` used by
    :class:`~dgl_ssm.nn.KHopConv`, kGNN-SSM (Arroyo et al. 2025,
    arXiv:2502.10818) and DRew (Gutteridge et al. 2023, Eq. 5) are
    ``graph.edata['hop'] == k``.

    * **Node data** is kept as is (same tensors).
    * **Edge data**: a hop-1 edge :math:`(u, v)` takes the features of the
      input edge :math:`u \to v` with the smallest edge ID (the *first* of a
      multi-edge); when only :math:`v \to u` exists (undirected treatment of
      a directed input) it takes the first :math:`v \to u` edge's features.
      Edges with ``hop > 1`` have no counterpart and get zeros of the same
      dtype and trailing shape. An input field named ``'hop'`` is replaced.
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
    memory_budget : int, optional
        Approximate working memory of the BFS in bytes (default 256 MiB);
        graphs larger than it allows are processed in slabs of source nodes.

    Raises
    ------
    ValueError
        If ``max_hop`` is not a positive int or ``None``.
    dgl.DGLError
        (on call) If the graph is heterogeneous.

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

    def __init__(self, max_hop: Optional[int] = None, directed: bool = False, memory_budget: int = _DEFAULT_BUDGET):
        self.max_hop = _check_max_hop(max_hop)
        self.directed = bool(directed)
        self.memory_budget = int(memory_budget)

    @property
    def cache_key(self) -> str:
        """File-name-safe key of this rewiring, for dataset pre-transform caches (e.g. ``khop-max_hop3``)."""
        return f"khop-max_hop{self.max_hop if self.max_hop is not None else 'all'}{'-directed' if self.directed else ''}"

    def __call__(self, g):
        """Rewire one (possibly batched) graph; a list of graphs is rewired in batches (:func:`rewire_dataset`).

        The list form makes a ``KHopRewire`` usable directly as a cached dataset
        pre-transform (``GraphPropertyDataset(..., pre_transform=KHopRewire(3))``).
        """
        if isinstance(g, (list, tuple)):
            return rewire_dataset(list(g), self.max_hop, directed=self.directed)
        _check_homogeneous(g)
        counts = g.batch_num_nodes().cpu().numpy()
        src, dst = (t.cpu().numpy() for t in g.edges())
        u, v, hop = khop_pairs(src, dst, counts, self.max_hop, self.directed, self.memory_budget)
        edata = _rewired_edge_data(dict(g.edata), src, dst, g.num_nodes(), u, v, hop)
        out = _make_graph(u, v, hop, g.num_nodes(), g.ndata, edata, g.idtype, g.device)
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

    Graphs are grouped by node count (so that each batch pads its bit sets to a
    similar size), batched with :func:`dgl.batch`, rewired in one call per
    chunk, unbatched and returned **in the input order**.

    Parameters
    ----------
    graphs : iterable of dgl.DGLGraph
        Homogeneous graphs (each may itself be unbatched data of one sample).
    max_hop : int, optional
        As in :class:`KHopRewire`.
    chunk_size : int
        Graphs per batch (default 2048). Memory grows with
        ``chunk_size * n**2 / 8`` bytes for graphs of ``n`` nodes.
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
    sizes = np.array([g.num_nodes() for g in graphs], dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    chunks = range(0, len(graphs), chunk_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"k-hop rewiring (max_hop={max_hop})", unit="chunk")
    out: List[Optional[dgl.DGLGraph]] = [None] * len(graphs)
    for start in chunks:
        idx = order[start : start + chunk_size]
        for i, g in zip(idx, _rewire_chunk([graphs[i] for i in idx], max_hop, directed)):
            out[i] = g
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
    out, idtype, device = [], batch.idtype, batch.device  # dgl.batch checked that they agree
    for i, g in enumerate(graphs):
        a, b, o = bounds[i], bounds[i + 1], offsets[i]
        part = {k: x[a:b] for k, x in edata.items()}
        out.append(_make_graph(u[a:b] - o, v[a:b] - o, hop[a:b], int(counts[i]), g.ndata, part, idtype, device))
    return out


def cached_rewire(
    graphs: Sequence[dgl.DGLGraph],
    max_hop: Optional[int],
    cache_path: os.PathLike,
    chunk_size: int = 2048,
    directed: bool = False,
) -> List[dgl.DGLGraph]:
    r"""Rewire a dataset once and cache it with :func:`dgl.save_graphs`.

    If ``cache_path`` exists and holds as many graphs with the same node counts
    as ``graphs``, the cached graphs are loaded; otherwise they are computed
    with :func:`rewire_dataset` and saved atomically (written to a temporary
    file in the same folder, then renamed with :func:`os.replace`), so that a
    crash or a concurrent reader never sees a partial file. Name the cache
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
    if path.is_file():
        cached, _ = dgl.load_graphs(str(path))
        if len(cached) == len(graphs) and all(a.num_nodes() == b.num_nodes() for a, b in zip(cached, graphs)):
            return cached
    rewired = rewire_dataset(graphs, max_hop, chunk_size=chunk_size, directed=directed)
    atomic_write(path, lambda tmp: dgl.save_graphs(str(tmp), rewired))
    return rewired
