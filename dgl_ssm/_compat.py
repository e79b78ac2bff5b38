"""Every use of DGL internals, in one place, guarded by the DGL version.

DGL is in maintenance mode; the package is tested with DGL 2.1.0 and these
internals are unchanged up to 2.4. Each helper names the internal it touches
and falls back to public API outside the checked versions (set
``DGL_SSM_PUBLIC_DGL_ONLY=1`` to force the fallbacks; the tests run both).

Why: on graphs of 25-35 nodes DGL's public calls cost more than the k-hop
BFS itself. ``DGLGraph.edges()`` converts three arrays from DGL's NDArray,
each through ``NDArray.shape`` (about 4 us of ctypes per call, three calls per
array), and ``batch_num_nodes()`` builds a tensor on every call of a graph
loaded from disk; together about 60 us of a 130 us rewiring call.
"""
from __future__ import annotations

import os

import dgl
import numpy as np
import torch
from packaging.version import Version

__all__ = ["INTERNALS", "graph_index", "edge_arrays", "num_graphs_in_batch", "graph_from_pairs", "raw_path_of"]

#: DGL versions whose internals the fast paths below were checked against
_CHECKED = (Version("2.1"), Version("2.5"))


def _use_internals() -> bool:
    if os.environ.get("DGL_SSM_PUBLIC_DGL_ONLY"):
        return False
    version = Version(dgl.__version__.split("+")[0])
    return _CHECKED[0] <= version < _CHECKED[1]


#: whether the internal fast paths are in use (DGL 2.1-2.4, unless DGL_SSM_PUBLIC_DGL_ONLY is set)
INTERNALS = _use_internals()

if INTERNALS:
    from dgl.frame import Frame
    from dgl.heterograph_index import _CAPI_DGLHeteroEdges, create_unitgraph_from_coo


def graph_index(graph):
    """A token of the graph's structure: equal (``==``) as long as the structure is unchanged.

    Internal path: DGL's graph index (``graph._graph``), which DGL replaces on
    every in-place structural change (``add_edges``, ``remove_edges``,
    ``add_nodes``, ...); the token is then that object, compared by identity.
    Public fallback: ``(num_nodes, num_edges)``, which misses a change that
    keeps both counts (none of DGL's in-place edits does).
    """
    return _Same(graph._graph) if INTERNALS else (graph.num_nodes(), graph.num_edges())


class _Same:
    """Holds an object; equal to another ``_Same`` holding the very same object."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    __hash__ = None


def edge_arrays(graph):
    """``(src, dst)`` of a homogeneous graph as int64 numpy arrays in edge-ID order (``graph.edges()``).

    Internal path: DGL's ``_CAPI_DGLHeteroEdges`` and DLPack, without the
    ``NDArray.shape`` checks of ``dgl.backend.from_dgl_nd`` (guarding empty
    arrays, which take the public path).
    """
    if INTERNALS and graph._graph.ctx.device_type == 1 and graph.num_edges() > 0:  # 1: kDGLCPU
        arrays = _CAPI_DGLHeteroEdges(graph._graph, 0, "eid")
        src, dst = (torch.utils.dlpack.from_dlpack(arrays(i).to_dlpack()) for i in (0, 1))
    else:
        src, dst = graph.edges()
    return src.cpu().numpy().astype(np.int64, copy=False), dst.cpu().numpy().astype(np.int64, copy=False)


def num_graphs_in_batch(graph) -> int:
    """``graph.batch_size`` without building ``batch_num_nodes`` for a graph that was never batched.

    A graph that was never batched (``graph._batch_num_nodes is None``) holds one graph.
    """
    if INTERNALS and graph._batch_num_nodes is None:
        return 1
    return graph.batch_size


def graph_from_pairs(u: np.ndarray, v: np.ndarray, like: dgl.DGLGraph, edata: dict) -> dgl.DGLGraph:
    """A graph with the nodes and node data of ``like`` and edges ``u[i] -> v[i]`` (valid ids, not checked) with ``edata``.

    Node data are the same tensors as ``like``'s. Internal path: DGL's graph
    index (``create_unitgraph_from_coo``) and feature ``Frame`` objects, the
    node frame a shallow ``Frame.clone`` of ``like``'s; ``dgl.graph`` plus
    ``ndata.update`` re-validates ids and infers every column's scheme (about
    twice the time on a small graph with DGL 2.1).
    """
    num_nodes, idtype, device = like.num_nodes(), like.idtype, like.device
    ut = torch.from_numpy(u).to(device=device, dtype=idtype)
    vt = torch.from_numpy(v).to(device=device, dtype=idtype)
    if not INTERNALS:
        g = dgl.graph((ut, vt), num_nodes=num_nodes, idtype=idtype, device=device)
        g.ndata.update(dict(like.ndata))
        g.edata.update(edata)
        return g
    index = create_unitgraph_from_coo(1, num_nodes, num_nodes, ut, vt, ["coo", "csr", "csc"])
    return dgl.DGLGraph(index, ["_N"], ["_E"], [like._node_frames[0].clone()], [Frame(edata, num_rows=u.size)])



def raw_path_of(dataset_cls, raw_dir, **kwargs):
    """The ``raw_path`` a DGL dataset class would use under ``raw_dir``, without downloading or processing.

    DGL appends a hash of the download URL to the folder name (e.g.
    ``cora_v2_<hash>``), so the path is read from a dataset object whose
    private ``DGLDataset._load`` (called by ``DGLDataset.__init__``) is
    overridden with a no-op. DGL has no public way to ask for the path without
    loading, so this override is used with every DGL version; it is checked
    for DGL 2.1-2.4 (all releases since 2.1: DGL is in maintenance mode).
    Outside that range it raises a ``RuntimeError`` naming the version.
    """
    from pathlib import Path

    version = Version(dgl.__version__.split("+")[0])
    if not _CHECKED[0] <= version < _CHECKED[1]:
        raise RuntimeError(f"dgl_ssm stages offline files with a DGL internal checked for DGL 2.1-2.4, found "
                           f"{dgl.__version__}; install dgl>=2.1,<2.5 or unset DGL_SSM_DATA to let DGL download")

    class _Probe(dataset_cls):
        def _load(self):  # noqa: D401 - skip download/process
            pass

    return Path(_Probe(raw_dir=str(raw_dir), **kwargs).raw_path)
