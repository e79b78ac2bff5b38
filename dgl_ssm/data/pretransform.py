"""Pre-transforms of graph datasets: run once over the list of graphs, cached on disk by a key.

A rewiring such as k-hop rewiring is expensive and deterministic, so it is a
*pre*-transform: it runs once over all graphs of a dataset and its result is
cached beside the dataset (one file per ``cache_key``, e.g. per ``max_hop``).
DGL's ``DGLDataset(transform=...)`` would instead rerun it on every access.

The protocol is small: a pre-transform is any callable ``fn(graphs) -> graphs``
over a **list** of :class:`dgl.DGLGraph` that has a string attribute
``cache_key``. :class:`PreTransform` wraps a per-graph function (``dgl.add_self_loop``)
or a batched one into that protocol.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import dgl

from ..graphcache import cache_lock, graphs_fingerprint, load_cache, save_cache, save_graphs_atomic

__all__ = ["PreTransform", "ComposePreTransform", "self_loops", "cache_key_of", "apply_pre_transform", "save_graphs_atomic"]


class PreTransform:
    """Wrap a graph function as a cached dataset pre-transform.

    Parameters
    ----------
    fn : callable
        ``fn(graph) -> graph`` when ``per_graph`` (the default), else
        ``fn(list_of_graphs) -> list_of_graphs`` (a batched implementation).
    cache_key : str
        Names the cached result; must change whenever the output changes
        (e.g. ``"khop-max_hop3-r2"``). Letters, digits, ``-``, ``_``, ``.``, ``=``.
    per_graph : bool
        Whether ``fn`` takes one graph or the whole list.

    Raises
    ------
    ValueError
        On an empty or unsafe ``cache_key`` (it becomes a file name).

    Examples
    --------
    >>> import dgl
    >>> t = PreTransform(dgl.add_self_loop, "self_loop")
    >>> [g.num_edges() for g in t([dgl.graph(([0], [1]))])]
    [3]
    """

    def __init__(self, fn: Callable, cache_key: str, per_graph: bool = True):
        if not isinstance(cache_key, str) or not re.fullmatch(r"[A-Za-z0-9_.=\-]+", cache_key):
            raise ValueError(f"cache_key must be a non-empty file-name-safe string, got {cache_key!r}")
        self.fn, self.cache_key, self.per_graph = fn, cache_key, per_graph

    def __call__(self, graphs: Sequence[dgl.DGLGraph]) -> List[dgl.DGLGraph]:
        return [self.fn(g) for g in graphs] if self.per_graph else list(self.fn(list(graphs)))

    def __repr__(self) -> str:
        return f"PreTransform({getattr(self.fn, '__name__', self.fn)!r}, cache_key={self.cache_key!r})"


class ComposePreTransform:
    """Apply pre-transforms in order, as one cached pre-transform (cache key: the keys joined by ``--``).

    Examples
    --------
    >>> import dgl
    >>> from dgl_ssm.transforms import KHopRewire
    >>> t = ComposePreTransform([KHopRewire(2), self_loops()])
    >>> t.cache_key, [g.num_edges() for g in t([dgl.graph(([0, 1], [1, 2]))])]
    ('khop-max_hop2-r2--self_loop', [9])
    """

    def __init__(self, transforms: Sequence[Callable]):
        transforms = [t for t in transforms if t is not None]
        if not transforms:
            raise ValueError("ComposePreTransform needs at least one pre-transform")
        self.transforms = transforms
        self.cache_key = "--".join(cache_key_of(t) for t in transforms)

    def __call__(self, graphs: Sequence[dgl.DGLGraph]) -> List[dgl.DGLGraph]:
        graphs = list(graphs)
        for t in self.transforms:
            graphs = list(t(graphs))
        return graphs

    def __repr__(self) -> str:
        return f"ComposePreTransform({self.transforms!r})"


def self_loops() -> PreTransform:
    """One self-loop per node appended to each graph (``dgl.add_self_loop``: GCN's :math:`A + I`), as a cached pre-transform.

    Done once per dataset instead of once per batch. Edges of a node keep
    their relative order (its self-loop comes after its other in-edges, as
    when added to a whole batch), so aggregations sum in the same order.
    New edges get ``1`` in every existing edge field (``edata['hop'] == 1``),
    which k-hop convs ignore (they add their own ring-1 self term).

    Returns
    -------
    PreTransform
        Its ``cache_key`` is ``"self_loop"``.

    Examples
    --------
    >>> import dgl
    >>> [g] = self_loops()([dgl.graph(([0, 1], [1, 2]))])      # a list of graphs in, a list out
    >>> g.num_edges(), g.edges()[1].tolist()
    (5, [1, 2, 0, 1, 2])
    """
    return PreTransform(dgl.add_self_loop, "self_loop")


def cache_key_of(pre_transform: Optional[Callable]) -> Optional[str]:
    """The cache key of a pre-transform (``None`` for none).

    Raises
    ------
    TypeError
        If ``pre_transform`` is not callable or has no string ``cache_key``
        (wrap plain functions in :class:`PreTransform`).
    """
    if pre_transform is None:
        return None
    key = getattr(pre_transform, "cache_key", None)
    if not callable(pre_transform) or not isinstance(key, str) or not key:
        raise TypeError(
            f"pre_transform {pre_transform!r} must be a callable over a list of graphs with a string 'cache_key'; "
            "wrap a function as dgl_ssm.data.PreTransform(fn, cache_key='name')"
        )
    return key


def apply_pre_transform(graphs: Sequence[dgl.DGLGraph], pre_transform, cache_dir: os.PathLike) -> List[dgl.DGLGraph]:
    """Apply ``pre_transform`` to ``graphs``, caching the result in ``cache_dir/pre_<key>.bin``.

    The cache is keyed to the content of ``graphs`` (:func:`graphs_fingerprint`)
    and to the pre-transform's ``cache_key``: it is rebuilt, with one warning,
    when the inputs changed or the file is damaged. It is checked, built and
    saved under :func:`~dgl_ssm.graphcache.cache_lock` of its file.

    Parameters
    ----------
    graphs : list of dgl.DGLGraph
        The dataset's graphs (all splits, in dataset order).
    pre_transform : callable or None
        See the module docstring; ``None`` returns ``graphs`` unchanged.
    cache_dir : path
        Folder of the dataset's cache.

    Returns
    -------
    list of dgl.DGLGraph

    Raises
    ------
    TypeError
        See :func:`cache_key_of`.
    ValueError
        If the pre-transform returns a different number of graphs.

    Examples
    --------
    >>> import dgl, tempfile
    >>> graphs = [dgl.graph(([0], [1])), dgl.graph(([0, 1], [1, 2]))]
    >>> folder = tempfile.mkdtemp()
    >>> [g.num_edges() for g in apply_pre_transform(graphs, self_loops(), folder)]   # built and saved
    [3, 5]
    >>> [g.num_edges() for g in apply_pre_transform(graphs, self_loops(), folder)]   # read from the cache
    [3, 5]
    """
    key = cache_key_of(pre_transform)
    if key is None:
        return list(graphs)
    path = Path(cache_dir) / f"pre_{key}.bin"
    content = f"{key}:{graphs_fingerprint(graphs)}"
    with cache_lock(path):  # another process sharing the cache waits, then loads this one's (graphcache's docstring)
        cached = load_cache(path, content)
        if cached is not None and len(cached) == len(graphs):
            return cached
        out = pre_transform(list(graphs))
        if len(out) != len(graphs):
            raise ValueError(f"pre_transform {key!r} returned {len(out)} graphs for {len(graphs)}")
        save_cache(path, out, content)
    return list(out)
