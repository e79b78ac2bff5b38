"""The undirected simple view of a DGL graph as a SciPy matrix, shared by the topology measures (effective resistance,
spectral gap)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from dgl import DGLError


def simple_adjacency(graph, what: str) -> sp.csr_matrix:
    """The symmetric 0/1 adjacency (float64) of ``graph`` taken as undirected and simple: every edge in either
    direction, once; self-loops dropped. ``what`` names the measure in the error for a heterogeneous graph."""
    if not graph.is_homogeneous:
        raise DGLError(f"{what} needs a homogeneous graph; convert it first, e.g. dgl.to_homogeneous(graph)")
    n = graph.num_nodes()
    src, dst = (t.cpu().numpy() for t in graph.edges())
    keep = src != dst
    src, dst = src[keep], dst[keep]
    adj = sp.coo_matrix((np.ones(2 * len(src)), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
                        shape=(n, n)).tocsr()
    adj.data[:] = 1.0  # duplicates were summed: one edge per neighbouring pair
    return adj
