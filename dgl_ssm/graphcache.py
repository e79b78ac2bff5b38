"""Graph caches on disk that are keyed to their inputs' content and heal themselves.

One rule for every cache of graphs the package writes (dataset pre-transforms,
k-hop rewirings): the file stores a *content key* (the producer's name and a
fingerprint of its inputs, :func:`graphs_fingerprint`); a file that is
unreadable or whose key differs is reported in one warning line, deleted and
rebuilt by the caller. Writes are atomic (temporary file, then ``os.replace``), and each file's SHA-256 is written
beside it and checked before DGL reads the file (:func:`cache_intact`): DGL's loader can crash the process on a
truncated file instead of raising.

Processes that share a cache (two shards of a study, a joblib sweep, pytest-xdist workers) check, build and save it
under :func:`cache_lock`: a check between another process's graph file and its digest would take the cache for
damaged and delete it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import List, Optional, Sequence

import dgl
import numpy as np
import torch
from dgl.data.utils import load_graphs, save_graphs

from ._io import atomic_write

__all__ = ["graphs_fingerprint", "load_cache", "save_cache", "save_graphs_atomic", "cache_intact", "cache_lock"]


@contextlib.contextmanager
def cache_lock(path: os.PathLike):
    """Hold an inter-process lock on a cache (a file or a folder) while it is checked, built and loaded.

    Another process that takes the same lock waits here, then finds the first one's cache whole and loads it. The
    lock is the file ``<path>.lock`` beside the cache (``filelock``: an ``flock`` on Linux, released when the block
    ends or the process dies; the file stays, because deleting an ``flock``'s file would let two processes hold
    it). Locks of different paths do not wait for each other; a process must not take a lock it holds already (an
    ``flock`` of a second open file waits for the first).

    Parameters
    ----------
    path : path-like
        The cache file or folder to lock (need not exist; its parent folder is created).

    Yields
    ------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> with cache_lock(tempfile.mkdtemp() + "/khop3.bin") as path:
    ...     path.name, Path(f"{path}.lock").is_file()
    ('khop3.bin', True)
    """
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        yield path


def save_graphs_atomic(path: os.PathLike, graphs, labels: Optional[dict] = None) -> Path:
    """:func:`dgl.save_graphs` to a temporary file, then ``os.replace``: no partial cache on failure. The file's
    SHA-256 goes to ``<path>.sha256`` (:func:`cache_intact` checks it before DGL reads the file)."""
    path = atomic_write(path, lambda tmp: save_graphs(str(tmp), list(graphs), labels))
    atomic_write(_digest_path(path), lambda tmp: Path(tmp).write_text(_file_digest(path) + "\n"))
    return Path(path)


def _digest_path(path: os.PathLike) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


def _file_digest(path: os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_intact(path: os.PathLike) -> bool:
    """Whether the graph file ``path`` exists and matches the digest written when it was saved
    (:func:`save_graphs_atomic`); checked before DGL's loader reads it, because :func:`dgl.load_graphs` can crash the
    process (a segmentation fault, not an exception) on a truncated file.

    A file that differs from its digest, or has none (written before digests, or its save was cut between the two
    files), is reported in one warning line and deleted with its digest; the caller rebuilds it: ``False``.

    Examples
    --------
    >>> import dgl, tempfile, warnings
    >>> path = Path(tempfile.mkdtemp()) / "graphs.bin"
    >>> _ = save_graphs_atomic(path, [dgl.graph(([0], [1]))])
    >>> cache_intact(path)
    True
    >>> _ = path.write_bytes(path.read_bytes()[:40])            # truncated
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     cache_intact(path), path.exists(), "differs from the digest" in str(caught[0].message)
    (False, False, True)
    """
    path = Path(path)
    if not path.is_file():
        return False
    sidecar = _digest_path(path)
    recorded = sidecar.read_text().strip() if sidecar.is_file() else None
    if recorded is not None and recorded == _file_digest(path):
        return True
    reason = ("differs from the digest written when it was saved (truncated or corrupt)" if recorded is not None
              else "has no digest (written before digests, or its save was cut short)")
    warnings.warn(f"cache {path} {reason}; deleting and rebuilding it", RuntimeWarning, stacklevel=2)
    path.unlink(missing_ok=True)
    sidecar.unlink(missing_ok=True)
    return False


def graphs_fingerprint(graphs: Sequence[dgl.DGLGraph]) -> str:
    """SHA-256 (hex) of the structure and data of a list of graphs: node and edge counts, edges, node and edge data.

    The content key of a cache derived from these graphs: equal fingerprints,
    equal inputs (up to hash collisions).

    Examples
    --------
    >>> import dgl
    >>> a = [dgl.graph(([0], [1]))]
    >>> graphs_fingerprint(a) == graphs_fingerprint([dgl.graph(([0], [1]))]) != graphs_fingerprint([dgl.graph(([1], [0]))])
    True
    """
    digest = hashlib.sha256()
    graphs = list(graphs)
    counts = np.array([[g.num_nodes(), g.num_edges()] for g in graphs], dtype=np.int64)
    digest.update(counts.tobytes())
    for start in range(0, len(graphs), 4096):
        batch = dgl.batch(graphs[start : start + 4096])
        for t in batch.edges():
            digest.update(t.cpu().numpy().astype(np.int64).tobytes())
        for kind, data in (("n", batch.ndata), ("e", batch.edata)):
            for key in sorted(data.keys()):
                value = data[key].detach().cpu().contiguous()
                digest.update(f"{kind}:{key}:{value.dtype}:{tuple(value.shape)}".encode())
                digest.update(value.numpy().tobytes() if value.dtype != torch.bfloat16 else value.float().numpy().tobytes())
    return digest.hexdigest()


def load_cache(path: Path, key: str) -> Optional[List[dgl.DGLGraph]]:
    """The graphs of a cache written by :func:`save_cache` with the same content ``key``, else ``None``.

    A cache that is unreadable (truncated, corrupt, another format) or was
    made from other inputs is reported in one warning line and deleted, so
    that the caller rebuilds it: every cache heals.
    """
    path = Path(path)
    if not cache_intact(path):  # before DGL reads it: a truncated file can crash the process
        return None
    try:
        graphs, labels = load_graphs(str(path))
        stored = bytes(labels["content_key"].to(torch.uint8).tolist()).decode() if "content_key" in labels else None
    except Exception as err:  # DGL raises DGLError (C++), OSError, EOFError, ... on a damaged file
        reason = f"unreadable ({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''})"
    else:
        if stored == key:
            return graphs
        reason = "made from other inputs (content key differs)" if stored else "from an older format (no content key)"
    warnings.warn(f"cache {path} is {reason}; rebuilding it", RuntimeWarning, stacklevel=2)
    path.unlink(missing_ok=True)
    _digest_path(path).unlink(missing_ok=True)
    return None


def save_cache(path: Path, graphs: Sequence[dgl.DGLGraph], key: str) -> Path:
    """Save ``graphs`` atomically with their content ``key`` (read back by :func:`load_cache`)."""
    code = torch.tensor(list(key.encode()), dtype=torch.uint8)
    return save_graphs_atomic(path, graphs, {"content_key": code})
