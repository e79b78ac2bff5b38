"""Where data lives: the data root (cache) and the offline raw copies.

* **data root**: where raw files are staged for DGL, DGL's processed caches,
  generated datasets and cached k-hop rewirings are written. Resolution: an
  explicit argument (``data_root=`` of a study), else ``$DGL_SSM_ROOT``, else
  the per-user cache ``~/.dgl_ssm`` (DGL's own convention is ``~/.dgl``).
  Never inside the installed package.
* **raw source**: read-only offline copies laid out as ``planetoid/``,
  ``geom_gcn/``, ``heterophilous_graphs/``, ``lrgb/``. Resolution: an explicit
  argument (``data_dir=``), else ``$DGL_SSM_DATA``, else none: DGL's normal
  download. Nothing is ever written there.

The repository's ``make`` targets (and so CI) set ``DGL_SSM_DATA=../shared/data``
and ``DGL_SSM_ROOT=<checkout>/data``.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Mapping, Optional

from .._io import atomic_write
from ..graphcache import cache_lock
from .._compat import raw_path_of  # noqa: F401  (re-exported: the one DGL internal of the data layer)
from .errors import MissingDataError  # noqa: F401  (re-exported)

#: the per-user default data root (DGL keeps its own under ``~/.dgl``)
USER_ROOT = Path("~/.dgl_ssm")

__all__ = ["data_root", "raw_source", "require_file", "stage_files", "raw_path_of", "content_key", "MissingDataError",
           "download_or_explain", "folder_lock"]


def data_root(root: Optional[os.PathLike] = None) -> Path:
    """The data root: ``root``, else ``$DGL_SSM_ROOT``, else ``~/.dgl_ssm``. Created if needed.

    Examples
    --------
    >>> import tempfile
    >>> data_root(tempfile.gettempdir() + "/dgl_ssm_doc").name
    'dgl_ssm_doc'
    """
    path = Path(root or os.environ.get("DGL_SSM_ROOT") or USER_ROOT).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def raw_source(data_dir: Optional[os.PathLike] = None) -> Optional[Path]:
    """The offline raw copies: ``data_dir``, else ``$DGL_SSM_DATA``, else ``None`` (datasets then use DGL's download).

    Parameters
    ----------
    data_dir : path, optional
        The folder of the offline copies (layout ``planetoid/``, ``geom_gcn/``, ``lrgb/``, ...).

    Returns
    -------
    pathlib.Path or None
        The resolved folder, or ``None`` when neither is given.

    Raises
    ------
    MissingDataError
        If a directory is given explicitly (argument or environment) but does not exist.

    Examples
    --------
    >>> import tempfile
    >>> raw_source(tempfile.gettempdir()).is_dir()
    True
    >>> raw_source("/no/such/folder")
    Traceback (most recent call last):
    ...
    dgl_ssm.data.errors.MissingDataError: raw data directory /no/such/folder (from data_dir) does not exist; ...
    """
    explicit = data_dir or os.environ.get("DGL_SSM_DATA")
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_dir():
            raise MissingDataError(
                f"raw data directory {path} (from {'data_dir' if data_dir else 'DGL_SSM_DATA'}) does not exist; "
                "point it at the offline copies (layout: planetoid/, geom_gcn/, lrgb/; see ../shared/data/README.md)"
            )
        return path
    return None


def require_file(path: Path, how_to_get: str) -> Path:
    """Return ``path`` if it is a non-empty file, else raise :class:`MissingDataError` naming it and the fix."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        state = "is empty" if path.is_file() else "is missing"
        raise MissingDataError(f"expected data file {path} {state}. {how_to_get}")
    return path


def stage_files(files: Mapping[str, Path], dest: Path, source: Optional[Path] = None) -> Path:
    """Symlink ``{name_in_dest: source_file}`` into ``dest`` (a DGL dataset's ``raw_path``).

    Existing correct links are kept; sources are checked with :func:`require_file`
    and, when ``source`` (the offline folder they lie in) is given, against the
    recorded size and SHA-256 (:func:`dgl_ssm.data.manifest.verify_offline_file`)
    before anything is linked.

    Raises
    ------
    MissingDataError
        If a source file is missing or empty.
    dgl_ssm.data.errors.CorruptDataError
        If a source file differs from the recorded one.
    """
    from .manifest import verify_offline_file

    dest = Path(dest)
    readme = f"{source}/README.md" if source is not None else "the offline data's README.md"
    checked = {}
    for name, src in files.items():
        src = require_file(Path(src), f"Copy it from the offline data (see {readme}) or set DGL_SSM_DATA.")
        if source is not None:
            verify_offline_file(src, Path(src).relative_to(source).as_posix())
        checked[name] = src
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in checked.items():
        link = dest / name
        if link.is_symlink() and link.resolve() == src.resolve():
            continue
        # a new link under a name of this process, renamed over the old one: another process staging the same
        # folder at the same moment never finds a half-made link, nor fails on one it made (FileExistsError)
        atomic_write(link, lambda tmp, target=src.resolve(): Path(tmp).symlink_to(target))
    return dest


@contextlib.contextmanager
def folder_lock(folder: os.PathLike):
    """Hold an inter-process lock on a data-root folder while a dataset there is processed and loaded.

    Two processes that share a data root (two shards of a study, a joblib sweep, pytest-xdist workers) would
    otherwise process the same dataset at once, and one could read a cache while the other writes it: DGL's
    ``save`` writes its files in place, and ours write the graph file and then its digest, which a check in between
    takes for damage. The second process waits here and then loads the first one's cache. It is
    :func:`~dgl_ssm.graphcache.cache_lock` of the folder (the lock file ``<folder>.lock`` beside it; a process must
    not take a lock it holds already).

    Parameters
    ----------
    folder : path
        The folder to lock (need not exist; its parent is created).

    Yields
    ------
    pathlib.Path
        ``folder``.

    Examples
    --------
    >>> import tempfile
    >>> with folder_lock(tempfile.mkdtemp() + "/cora") as folder:
    ...     folder.name
    'cora'
    """
    with cache_lock(folder):
        yield Path(folder)


def content_key(files) -> str:
    """A 12-hex key of the content of offline files (their recorded SHA-256), for cache folders that must change with them.

    ``files`` are paths relative to the offline folder; unknown ones are hashed
    by name (they are rejected by :func:`stage_files` anyway).
    """
    import hashlib

    from .manifest import OFFLINE_FILES

    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}={OFFLINE_FILES.get(rel, ('?', 0))[0]};".encode())
    return digest.hexdigest()[:12]


def _network_error(err: BaseException) -> bool:
    import socket
    import urllib.error

    import requests

    return isinstance(err, (requests.exceptions.RequestException, urllib.error.URLError, socket.gaierror,
                            ConnectionError, TimeoutError))


@contextlib.contextmanager
def download_or_explain(what: str):
    """Around a DGL dataset that downloads its files (no offline copy given): a download that fails for want of a
    network becomes one :class:`MissingDataError` naming ``DGL_SSM_DATA`` (it was requests' ``ConnectionError``
    traceback after DGL's retries).

    Raises
    ------
    MissingDataError
        If the body raised a network error.
    """
    try:
        yield
    except Exception as err:  # noqa: BLE001 - only network errors are translated, the rest re-raised
        if not _network_error(err):
            raise
        raise MissingDataError(f"{what}: no offline copy was given (DGL_SSM_DATA is not set) and DGL could not "
                               f"download it ({type(err).__name__}); set DGL_SSM_DATA to the offline data folder "
                               "(e.g. ../shared/data beside the checkout), or connect to the network") from None
