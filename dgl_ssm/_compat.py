"""Every use of DGL internals, in one place, guarded by the DGL version.

DGL is in maintenance mode; the package is tested with DGL 2.1.0. Each helper
here names the internal it touches and falls back to public API where one
exists.
"""
from __future__ import annotations

__all__ = ["graph_index"]


def graph_index(graph):
    """An object whose identity changes whenever the graph's structure does (DGL's graph index, ``graph._graph``).

    DGL replaces the index on every in-place structural change (``add_edges``,
    ``remove_edges``, ``add_nodes``, ...), so holding it and comparing with
    ``is`` tells whether a cached structure is stale. Without that internal,
    the graph object itself is returned (still correct for the immutable
    graphs that data loaders produce).
    """
    return getattr(graph, "_graph", graph)
