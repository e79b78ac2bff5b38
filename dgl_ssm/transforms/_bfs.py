"""Compiled bit-parallel BFS from every node of every graph of a batch (the kernel of :func:`khop_pairs`).

Compiled with numba (``cache=True``: the first call in a fresh checkout
compiles for a few seconds, later processes load the machine code from
``__pycache__``). No Python object is touched inside the kernels.

Layout. A row holds ``width`` 64-bit words: 4 for graphs of at most 256
nodes, else 8, and the sources are taken ``64 * width`` at a time (a *block*).
For the sources of one block, row ``v`` of each ``(n, width)`` bit matrix has
bit ``u`` set when source ``u`` is

* ``front``: at distance exactly ``hop`` from ``v`` (the BFS frontier),
* ``seen``: at distance at most ``hop`` (``v`` itself included),
* ``planes[j]``: at a distance whose bit ``j`` is 1 (the distances, as bit planes).

One level for all sources at once is, for each node ``v``, the OR of the
frontier rows of its in-neighbours, minus ``seen[v]``: ``width`` word
operations per in-edge. In a graph of one block (at most 512 nodes) every node
is a source, so a row whose frontier has emptied stays empty for good (a source
at distance ``hop + 1`` would put its successor on the path, also a source, at
distance ``hop``) and is dropped from the level loop; in larger graphs a level
visits the out-neighbours of the rows whose frontier is not empty. Pairs are
read back row by row with count-trailing-zeros over the ``seen`` words, hence
already sorted by ``v`` then ``u``; the distances of 8 sources at a time are
decoded from one byte of each plane through a table. Graphs of several blocks
take two passes (count the pairs of each row, then write them at their place),
so the working memory is ``O(n)`` words whatever the graph size.

Measured on Peptides-func (2 cores, ``benchmarks/bench_khop.py``): about 40 us
per molecule at ``max_hop=8`` (BFS 20-25, writing the ~4,200 pairs 18), against
about 1 ms for networkx.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_NARROW = 4  # words per row of a graph of at most 256 nodes (one AVX2 register)
_WIDE = 8  # words per row otherwise: up to 512 nodes in one block, larger graphs in blocks of 512 sources


@intrinsic
def _ctz(typingctx, x):
    """Number of trailing zero bits of a non-zero ``uint64`` (one ``tzcnt`` instruction), as ``int64``."""

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(types.uint64), codegen


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of a ``uint64`` (one ``popcnt`` instruction), as ``int64``."""

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


@njit(cache=True, nogil=True)
def _row_width(n):
    """Words per bit-set row for a graph of ``n`` nodes."""
    return _NARROW if n <= 64 * _NARROW else _WIDE


@njit(cache=True, nogil=True)
def in_neighbour_csr(src, dst, first, symmetric):
    """In-neighbour lists ``(indptr, indices)`` of a batch, without self-loops; ``bad`` = an edge joining two graphs.

    ``src``, ``dst``: ``(E,)`` int64 global node ids, already checked to lie in
    ``[0, first[-1])``; ``first``: ``(B + 1,)`` first node of each graph.
    ``symmetric`` adds every edge in both directions. Returns ``bad = -1``
    when every edge stays inside its graph, else the index of the first edge
    that does not (the lists are then incomplete).
    """
    num_nodes = first[-1]
    graph = np.empty(num_nodes, np.int64)
    for g in range(first.size - 1):
        graph[first[g] : first[g + 1]] = g
    indptr = np.zeros(num_nodes + 1, np.int64)
    for e in range(src.size):
        s, d = src[e], dst[e]
        if graph[s] != graph[d]:
            return indptr, indptr[:0], e
        if s != d:
            indptr[d + 1] += 1
            if symmetric:
                indptr[s + 1] += 1
    for i in range(num_nodes):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[-1], np.int64)
    for e in range(src.size):
        s, d = src[e], dst[e]
        if s != d:
            indices[fill[d]] = s
            fill[d] += 1
            if symmetric:
                indices[fill[s]] = d
                fill[s] += 1
    # drop repeated in-neighbours (multi-edges, and both directions of an undirected input when symmetric)
    last = np.full(num_nodes, -1, np.int64)  # last[u] = the latest node whose list holds u
    kept, start = 0, 0
    for v in range(num_nodes):
        stop = indptr[v + 1]
        for e in range(start, stop):
            u = indices[e]
            if last[u] != v:
                last[u] = v
                indices[kept] = u
                kept += 1
        start, indptr[v + 1] = stop, kept
    return indptr, indices[:kept], -1


@njit(cache=True, nogil=True)
def _bfs_block(in_ptr, in_idx, out_ptr, out_idx, base, n, width, block, limit, order, front, nxt, seen, planes, lists):
    """Level-synchronous BFS from the sources ``block * 256 ...`` (local ids) of the graph of nodes ``base .. base + n``.

    Fills ``seen`` and ``planes`` (rows ``0 .. n - 1`` of ``width`` words, a
    multiple of 4; block ``b`` holds the sources ``64 * width * b ...``).
    ``(in_ptr, in_idx)`` and ``(out_ptr, out_idx)`` are the in- and
    out-neighbour lists of the batch (the same arrays for an undirected
    graph); ``front``, ``nxt`` and ``lists`` (``(4, n)`` ints) are scratch.

    A level visits only the rows whose frontier can grow: when every node is a
    source (one block), the rows whose frontier is not empty yet, visited in
    ``order`` (by in-degree, so that the loop over in-edges runs the same
    number of times for long stretches of rows); otherwise the out-neighbours
    of those rows.
    """
    zero, one = np.uint64(0), np.uint64(1)
    size = n * width
    front[:size] = zero
    nxt[:size] = zero
    seen[:size] = zero
    planes[:, :size] = zero
    rows, hot, new_hot, mark = lists[0], lists[1], lists[2], lists[3]
    lo, hi = block * 64 * width, min(n, (block + 1) * 64 * width)
    for s in range(lo, hi):
        w = s * width + ((s - lo) >> 6)
        front[w] = seen[w] = one << np.uint64(s & 63)
        hot[s - lo] = s
    num_hot = hi - lo
    compact = lo == 0 and hi == n  # every node is a source: a row whose frontier has emptied stays empty
    if compact:
        rows[:n] = order[:n]
        num_rows = n
    else:
        mark[:n] = -1
        num_rows = _successors(out_ptr, out_idx, base, hot, num_hot, mark, 0, rows)
    num_planes, hop = planes.shape[0], 0
    while hop < limit and num_rows > 0:
        hop += 1
        num_new = 0
        for r in range(num_rows):
            v = rows[r]
            grew = zero
            for q in range(0, width, 4):  # four words at a time, in registers
                a0, a1, a2, a3 = zero, zero, zero, zero
                for e in range(in_ptr[base + v], in_ptr[base + v + 1]):
                    w = (in_idx[e] - base) * width + q
                    a0 |= front[w]
                    a1 |= front[w + 1]
                    a2 |= front[w + 2]
                    a3 |= front[w + 3]
                w = v * width + q
                a0 &= ~seen[w]
                a1 &= ~seen[w + 1]
                a2 &= ~seen[w + 2]
                a3 &= ~seen[w + 3]
                seen[w] |= a0
                seen[w + 1] |= a1
                seen[w + 2] |= a2
                seen[w + 3] |= a3
                nxt[w], nxt[w + 1], nxt[w + 2], nxt[w + 3] = a0, a1, a2, a3
                grew |= a0 | a1 | a2 | a3
            if grew != zero:
                new_hot[num_new] = v
                num_new += 1
        if num_new == 0:
            break
        for j in range(num_planes):  # rows not visited have an all-zero frontier: OR whole planes at once
            if hop >> j & 1:
                plane = planes[j]
                for i in range(size):
                    plane[i] |= nxt[i]
        for r in range(num_hot):  # clear the old frontier, the next level's output
            w = hot[r] * width
            front[w : w + width] = zero
        front, nxt = nxt, front
        hot, new_hot, num_hot = new_hot, hot, num_new
        if compact:
            rows, num_rows = hot, num_hot
        else:
            rows = lists[0]
            num_rows = _successors(out_ptr, out_idx, base, hot, num_hot, mark, hop, rows)


@njit(cache=True, nogil=True)
def _successors(out_ptr, out_idx, base, nodes, num_nodes, mark, stamp, into):
    """Write the distinct out-neighbours (local ids) of ``nodes[:num_nodes]`` into ``into``; return their number.

    ``mark[x] == stamp`` marks ``x`` as already written (``stamp`` must differ
    from every value ``mark`` holds).
    """
    count = 0
    for r in range(num_nodes):
        v = base + nodes[r]
        for e in range(out_ptr[v], out_ptr[v + 1]):
            x = out_idx[e] - base
            if mark[x] != stamp:
                mark[x] = stamp
                into[count] = x
                count += 1
    return count


@njit(cache=True, nogil=True)
def _row_pairs(seen, v, width, block):
    """Number of sources of ``block`` within the limit of row ``v``, ``v`` itself excluded."""
    w = v * width
    count = 0
    for i in range(width):
        count += _popcount(seen[w + i])
    return count - (block * 64 * width <= v < (block + 1) * 64 * width)


def _spread_table() -> np.ndarray:
    """``T[b]``: the 8 bits of byte ``b`` spread to the lowest bit of 8 bytes (a little-endian ``uint64``)."""
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
    return bits.astype(np.uint64) @ (np.uint64(1) << np.arange(0, 64, 8, dtype=np.uint64))


_SPREAD = _spread_table()


@njit(cache=True, nogil=True)
def _write_row(seen, planes, v, width, block, base, out_u, out_v, out_hop, k):
    """Write the pairs ``(u, v, d(u, v))`` of row ``v`` and ``block`` at ``k`` (``u`` increasing); return the new ``k``.

    The sources are read 8 at a time (one byte of ``seen``): the 8 distances
    are decoded at once, one byte each, by spreading the byte of each of the
    first 8 planes through :data:`_SPREAD`; planes 8 and up (distances of 256
    and more) are added bit by bit.
    """
    one, low = np.uint64(1), np.uint64(0xFF)
    w = v * width
    num_planes = planes.shape[0]
    for i in range(width):
        x = seen[w + i]
        first_u = (block * width + i) * 64
        if first_u <= v < first_u + 64:
            x &= ~(one << np.uint64(v - first_u))
        while x:
            shift = np.uint64(_ctz(x) & ~7)
            byte = x >> shift & low
            x &= ~(low << shift)
            hops = np.uint64(0)
            for j in range(min(num_planes, 8)):
                hops |= _SPREAD[planes[j, w + i] >> shift & low] << np.uint64(j)
            while byte:
                b = _ctz(byte)
                hop = np.int64(hops >> np.uint64(8 * b) & low)
                for j in range(8, num_planes):
                    hop |= np.int64(planes[j, w + i] >> (shift + np.uint64(b)) & one) << j
                out_u[k] = base + first_u + np.int64(shift) + b
                out_v[k] = base + v
                out_hop[k] = hop
                k += 1
                byte &= byte - one
    return k


@njit(cache=True, nogil=True)
def _by_in_degree(indptr, base, n, order, count):
    """Local node ids of the graph at ``base`` sorted by in-degree (a stable counting sort) into ``order[:n]``.

    ``count`` is a scratch array, grown and returned when too short.
    """
    top = 0
    for v in range(n):
        top = max(top, indptr[base + v + 1] - indptr[base + v])
    if count.size < top + 2:
        count = np.zeros(top + 2, np.int64)
    count[: top + 2] = 0
    for v in range(n):
        count[indptr[base + v + 1] - indptr[base + v] + 1] += 1
    for d in range(top + 1):
        count[d + 1] += count[d]
    for v in range(n):
        d = indptr[base + v + 1] - indptr[base + v]
        order[count[d]] = v
        count[d] += 1
    return count


@njit(cache=True, nogil=True)
def khop_batch(indptr, indices, out_ptr, out_idx, first, limit, start, k, out_u, out_v, out_hop):
    """Pairs of the graphs ``start, start + 1, ...`` of a batch, written from ``k`` on; see :func:`khop_pairs`.

    Stops before a graph whose pairs do not fit in the output arrays. Returns
    ``(k, g, need)``: the pairs written so far, the first graph not done
    (``first.size - 1`` when all are) and that graph's number of pairs.
    """
    num_graphs = first.size - 1
    n_max = 1
    for g in range(start, num_graphs):
        n_max = max(n_max, first[g + 1] - first[g])
    num_planes = 1
    while (1 << num_planes) <= min(limit, n_max):
        num_planes += 1
    size = n_max * _row_width(n_max)
    front, nxt, seen = np.empty(size, np.uint64), np.empty(size, np.uint64), np.empty(size, np.uint64)
    planes = np.empty((num_planes, size), np.uint64)
    lists = np.empty((4, n_max), np.int64)
    row_end, order = np.empty(n_max, np.int64), np.empty(n_max, np.int64)
    degree_count = np.zeros(1, np.int64)
    for g in range(start, num_graphs):
        base = first[g]
        n = first[g + 1] - base
        if n < 2:
            continue
        width = _row_width(n)
        blocks = (n + 64 * width - 1) // (64 * width)
        degree_count = _by_in_degree(indptr, base, n, order, degree_count)
        total = 0
        for block in range(blocks):  # pass 1 (the only one for a single block): count the pairs of every row
            _bfs_block(indptr, indices, out_ptr, out_idx, base, n, width, block, limit, order, front, nxt, seen, planes, lists)
            for v in range(n):
                c = _row_pairs(seen, v, width, block)
                row_end[v] = c if block == 0 else row_end[v] + c
                total += c
        if k + total > out_u.size:
            return k, g, total
        if blocks == 1:
            for v in range(n):
                k = _write_row(seen, planes, v, width, 0, base, out_u, out_v, out_hop, k)
            continue
        at = k
        for v in range(n):  # counts -> where the next pair of row v goes
            at, row_end[v] = at + row_end[v], at
        for block in range(blocks):  # pass 2: write each row's pairs of each block at the row's place
            _bfs_block(indptr, indices, out_ptr, out_idx, base, n, width, block, limit, order, front, nxt, seen, planes, lists)
            for v in range(n):
                row_end[v] = _write_row(seen, planes, v, width, block, base, out_u, out_v, out_hop, row_end[v])
        k += total
    return k, num_graphs, 0


@njit(cache=True, nogil=True)
def khop_graph(src, dst, n, limit, symmetric):
    """Pairs ``(u, v, hop)`` of one graph of ``n`` nodes (one call: in-neighbour lists, BFS and output).

    The per-call path of :class:`~dgl_ssm.transforms.KHopRewire` on a single
    graph, where the batch machinery (several compiled calls, growable outputs)
    cost more than the BFS itself. ``src``, ``dst``: int64 ids in ``[0, n)``;
    ``limit``: largest distance kept (``n - 1`` for all). For a directed graph
    (``symmetric`` false) of more than one block of sources, the out-neighbour
    lists are built as well.
    """
    first = np.zeros(2, np.int64)
    first[1] = n
    indptr, indices, _ = in_neighbour_csr(src, dst, first, symmetric)
    out_ptr, out_idx = indptr, indices
    if not symmetric and n > 64 * _WIDE:
        out_ptr, out_idx, _ = in_neighbour_csr(dst, src, first, False)
    capacity = max(n * (n - 1), 1)
    out_u = np.empty(capacity, np.int64)
    out_v = np.empty(capacity, np.int64)
    out_hop = np.empty(capacity, np.int64)
    k, _, _ = khop_batch(indptr, indices, out_ptr, out_idx, first, max(limit, 1), 0, 0, out_u, out_v, out_hop)
    return out_u[:k], out_v[:k], out_hop[:k]
