"""Sparse CSR building blocks of the k-hop aggregation: a counting sort and an SpMM with a cached transpose.

Why our own: the k-hop convolution (:class:`~dgl_ssm.nn.KHopConv`) aggregates
over :math:`|K|` normalised ring adjacencies side by side, about 4x the edges of
the input graph at ``max_hop=3`` (benchmarks/bench_khop_conv.py prints the
ratio). Measured on 512 graph-property graphs (15,234 nodes, 250,534
rewired edges, width 30, one thread):

* DGL's ``u_mul_e_sum`` (per-edge weights) took 8.6 ms forward, 19 ms with the
  backward; ``torch.sparse`` CSR ``A @ X`` 1.0 ms forward, but 23 ms with
  torch's own backward (it transposes ``A`` on every call); with the
  transpose built once per batch the backward is one more CSR product (1.9 ms);
* building the two CSR matrices with ``argsort`` took 37 ms per batch (9-11 ms
  per sort); the counting sort below builds each in about 1 ms.
"""
from __future__ import annotations

import warnings

import numba
import numpy as np
import torch

__all__ = ["csr_from_coo", "ring_csr", "SpMM"]


@numba.njit(cache=True, nogil=True)
def _counting_sort(rows, cols, vals, num_rows):  # pragma: no cover - compiled
    counts = np.zeros(num_rows + 1, np.int64)
    for e in range(rows.size):
        counts[rows[e] + 1] += 1
    for i in range(num_rows):
        counts[i + 1] += counts[i]
    fill = counts[:-1].copy()
    out_cols = np.empty(rows.size, np.int64)
    out_vals = np.empty(rows.size, vals.dtype)
    for e in range(rows.size):
        p = fill[rows[e]]
        out_cols[p] = cols[e]
        out_vals[p] = vals[e]
        fill[rows[e]] = p + 1
    return counts, out_cols, out_vals


@numba.njit(cache=True, nogil=True)
def _ring_csr(src, dst, hop, slot_of, n, r, loops):  # pragma: no cover - compiled
    """Both CSR matrices of :func:`ring_csr` in two passes over the edges (see there); slots ``0 .. loops - 1`` get
    a self-loop on every node."""
    out_deg = np.zeros(r * n, np.int64)
    in_deg = np.zeros(r * n, np.int64)
    row_a = np.zeros(n + 1, np.int64)
    for e in range(src.size):
        h = hop[e]
        if src[e] == dst[e] or h < 0 or h >= slot_of.size or slot_of[h] < 0:
            continue
        s = slot_of[h]
        out_deg[src[e] * r + s] += 1
        in_deg[dst[e] * r + s] += 1
        row_a[dst[e] + 1] += 1
    for v in range(n):  # the first ``loops`` slots hold A_k + I (ring 1 only, GCN; or every ring)
        for s in range(loops):
            out_deg[v * r + s] += 1
            in_deg[v * r + s] += 1
            row_a[v + 1] += 1
    row_t = np.zeros(r * n + 1, np.int64)
    for c in range(r * n):
        row_t[c + 1] = row_t[c] + out_deg[c]
    for v in range(n):
        row_a[v + 1] += row_a[v]
    nnz = row_a[n]
    fill_a = row_a[:-1].copy()
    fill_t = row_t[:-1].copy()
    col_a = np.empty(nnz, np.int64)
    col_t = np.empty(nnz, np.int64)
    val_a = np.empty(nnz, np.float64)
    val_t = np.empty(nnz, np.float64)
    for e in range(src.size + n * loops):
        if e < src.size:
            h = hop[e]
            if src[e] == dst[e] or h < 0 or h >= slot_of.size or slot_of[h] < 0:
                continue
            u, v, s = src[e], dst[e], slot_of[h]
        else:  # the self-loops, after the edges (each row's entries keep the edge order), node-major
            u = v = (e - src.size) // loops
            s = (e - src.size) % loops
        c = u * r + s
        w = 1.0 / np.sqrt(out_deg[c] * in_deg[v * r + s])
        p = fill_a[v]
        col_a[p] = c
        val_a[p] = w
        fill_a[v] = p + 1
        q = fill_t[c]
        col_t[q] = v
        val_t[q] = w
        fill_t[c] = q + 1
    return row_a, col_a, val_a, row_t, col_t, val_t


SELF_LOOPS = ("first", "every")


def check_self_loops(self_loops: str) -> str:
    """``self_loops`` if it is one of :data:`SELF_LOOPS`; else ``ValueError`` naming them."""
    if self_loops not in SELF_LOOPS:
        raise ValueError(f"self_loops must be one of {SELF_LOOPS}, got {self_loops!r}")
    return self_loops


def ring_csr(src, dst, hop, rings, num_nodes: int, dtype=torch.float32, self_loops: str = "first"):
    r"""The side-by-side normalised ring adjacency :math:`[\hat{A}_{k_1} \cdots \hat{A}_{k_r}]` and its transpose, as CSR.

    Column ``u * r + i`` stands for node ``u`` in ring ``rings[i]`` (node-major,
    so that ``(N, r * d)`` per-node inputs are ``(N * r, d)`` as they lie). An
    edge ``u -> v`` (``u != v``) with ``hop == rings[i]`` is the entry
    ``(v, u * r + i)`` of weight :math:`1/\sqrt{d^{out}_k(u)\, d^{in}_k(v)}`, the
    degrees counted within ring :math:`k`. Ring 1 adds a self-loop on every
    node (GCN's :math:`A_1 + I`, entries ``(v, v * r)``, counted in its
    degrees); with ``self_loops="every"`` every ring does (:math:`A_k + I`,
    PyG's ``GCNConv`` on each ring's edges, as DRew's code aggregates). Edges
    of other rings and self-loops of the input are skipped.

    Parameters
    ----------
    src, dst, hop : torch.Tensor
        ``(E,)`` edge end points and ring of each edge.
    rings : tuple of int
        The rings :math:`k_1, \dots, k_r` (distinct, >= 1).
    num_nodes : int
        :math:`N`.
    dtype : torch.dtype
        Dtype of the values.
    self_loops : str
        ``"first"`` (ring 1, when it is ``rings[0]``) or ``"every"`` ring.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``adj`` ``(N, N r)`` and ``adj_t`` ``(N r, N)``, sparse CSR. Entries of a
        row keep the edge order (then the self-loop).

    Examples
    --------
    >>> import torch
    >>> adj, adj_t = ring_csr(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([1, 1]), (1,), 2)
    >>> adj.to_dense().tolist()    # one edge and the self-loop: degrees 2
    [[0.5, 0.5], [0.5, 0.5]]
    >>> ring_csr(torch.tensor([0]), torch.tensor([1]), torch.tensor([2]), (2,), 2, self_loops="every")[0].to_dense()
    tensor([[0.7071, 0.0000],
            [0.5000, 0.7071]])
    """
    check_self_loops(self_loops)
    n, r, device = int(num_nodes), len(rings), hop.device
    loops = r if self_loops == "every" else int(rings[0] == 1)
    slot_of = torch.full((max(rings) + 1,), -1, dtype=torch.long)
    slot_of[torch.tensor(rings)] = torch.arange(r)
    if device.type != "cpu":
        return _ring_csr_torch(src.long(), dst.long(), hop.long(), slot_of.to(device), n, r, loops, dtype)
    parts = _ring_csr(*(t.numpy().astype(np.int64, copy=False) for t in (src, dst, hop)), slot_of.numpy(), n, r,
                      loops)
    row_a, col_a, val_a, row_t, col_t, val_t = (torch.from_numpy(a) for a in parts)
    if max(r * n, col_a.numel()) < 2**31:  # MKL's native index type: no conversion in every product
        row_a, col_a, row_t, col_t = row_a.int(), col_a.int(), row_t.int(), col_t.int()
    return _csr(row_a, col_a, val_a.to(dtype), (n, r * n)), _csr(row_t, col_t, val_t.to(dtype), (r * n, n))


def _ring_csr_torch(src, dst, hop, slot_of, n, r, loops, dtype):
    """:func:`ring_csr` in torch operations (any device; the tests compare it with the compiled kernel); slots
    ``0 .. loops - 1`` get a self-loop on every node."""
    slot = slot_of[hop.clamp(min=0, max=slot_of.numel() - 1)]
    slot = torch.where((hop >= 0) & (hop < slot_of.numel()), slot, -1)
    keep = (slot >= 0) & (src != dst)
    src, dst, slot = src[keep], dst[keep], slot[keep]
    if loops:
        nodes = torch.arange(n, device=src.device).repeat_interleave(int(loops))
        slots = torch.arange(int(loops), device=src.device).repeat(n)
        src, dst, slot = torch.cat([src, nodes]), torch.cat([dst, nodes]), torch.cat([slot, slots])
    col, row_k = src * r + slot, dst * r + slot
    out_deg = torch.bincount(col, minlength=r * n)
    in_deg = torch.bincount(row_k, minlength=r * n)
    weight = (out_deg[col] * in_deg[row_k]).double().pow(-0.5).to(dtype)
    return csr_from_coo(dst, col, weight, (n, r * n)), csr_from_coo(col, dst, weight, (r * n, n))


def csr_from_coo(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape) -> torch.Tensor:
    """A ``torch.sparse_csr`` matrix from COO triples; entries of a row keep their input order (stable).

    On the CPU a compiled counting sort (O(nnz + rows)); elsewhere a stable ``argsort``.

    Parameters
    ----------
    rows, cols : torch.Tensor
        ``(nnz,)`` integer indices, ``0 <= rows < shape[0]``, ``0 <= cols < shape[1]`` (not checked).
    values : torch.Tensor
        ``(nnz,)`` floating values.
    shape : tuple of int
        ``(num_rows, num_cols)``.

    Returns
    -------
    torch.Tensor
        Sparse CSR tensor of ``shape``, on the device and dtype of ``values``.

    Examples
    --------
    >>> import torch
    >>> a = csr_from_coo(torch.tensor([1, 0, 1]), torch.tensor([0, 2, 1]), torch.tensor([1., 2., 3.]), (2, 3))
    >>> a.to_dense().tolist()
    [[0.0, 0.0, 2.0], [1.0, 3.0, 0.0]]
    """
    num_rows = int(shape[0])
    if values.device.type == "cpu":
        crow, col, val = _counting_sort(
            rows.numpy().astype(np.int64, copy=False), cols.numpy().astype(np.int64, copy=False),
            values.detach().numpy(), num_rows,
        )
        crow, col, val = torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(val)
    else:
        order = torch.argsort(rows, stable=True)
        crow = torch.zeros(num_rows + 1, dtype=torch.int64, device=rows.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=num_rows), 0)
        col, val = cols[order].long(), values[order]
    return _csr(crow, col, val, shape)


def _csr(crow, col, val, shape) -> torch.Tensor:
    """``torch.sparse_csr_tensor`` without its "beta state" warning (torch 2.2; CPU and CUDA products are supported)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, val, size=tuple(int(s) for s in shape))


class SpMM(torch.autograd.Function):
    r"""``A @ X`` for a sparse CSR ``A`` (constant) and dense ``X``, whose backward is ``A^T @ G`` with a prebuilt ``A^T``.

    An ``X`` in another dtype than ``A`` (bfloat16 or float16 under autocast) is multiplied in ``A``'s dtype and the
    result cast back to ``X``'s: torch 2.2 has no bfloat16 sparse CSR kernel on the CPU
    (``benchmarks/bench_precision.py`` measures what the casts cost).

    The backward calls this function again with the roles swapped, so it is
    itself differentiable (double backward, as the Jacobian diagnostics use).

    Examples
    --------
    >>> import torch
    >>> a = csr_from_coo(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([2., 3.]), (2, 2))
    >>> at = csr_from_coo(torch.tensor([1, 0]), torch.tensor([0, 1]), torch.tensor([2., 3.]), (2, 2))
    >>> x = torch.ones(2, 1, requires_grad=True)
    >>> SpMM.apply(a, at, x).sum().backward(); x.grad.tolist()
    [[3.0], [2.0]]
    """

    @staticmethod
    def forward(ctx, adj, adj_t, x):
        ctx.adj, ctx.adj_t = adj, adj_t
        if x.dtype != adj.dtype:  # bfloat16 / float16 under autocast: torch has no low-precision CSR kernel on CPU
            with torch.autocast(x.device.type, enabled=False):
                return (adj @ x.to(adj.dtype)).to(x.dtype)
        return adj @ x

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[2]:
            return None, None, None
        return None, None, SpMM.apply(ctx.adj_t, ctx.adj, grad.contiguous())
