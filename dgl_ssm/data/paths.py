"""Where data lives: the data root (cache) and the offline raw copies.

* **data root** (``DGL_SSM_ROOT``, default: the project's ``data/`` folder):
  where raw files are staged for DGL, DGL's processed caches, generated
  datasets and cached k-hop rewirings are written.
* **raw source** (``DGL_SSM_DATA`` or ``--data-dir``, default: ``../shared/data``
  beside the checkout when it exists): read-only offline copies laid out as
  ``planetoid/``, ``geom_gcn/``, ``heterophilous_graphs/``, ``lrgb/``. Nothing
  is ever written there. Without it, DGL's normal download is used.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

PROJECT_DIR = Path(__file__).resolve().parents[2]

__all__ = ["data_root", "raw_source", "require_file", "stage_files", "raw_path_of", "content_key", "MissingDataError"]


class MissingDataError(FileNotFoundError):
    """A data file that is needed is absent or unreadable; the message says where and how to get it."""


def data_root(root: Optional[os.PathLike] = None) -> Path:
    """The data root: ``root``, else ``$DGL_SSM_ROOT``, else ``<project>/data``. Created if needed."""
    path = Path(root or os.environ.get("DGL_SSM_ROOT") or PROJECT_DIR / "data").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def raw_source(data_dir: Optional[os.PathLike] = None) -> Optional[Path]:
    """The offline raw copies: ``data_dir``, else ``$DGL_SSM_DATA``, else ``../shared/data`` if present.

    Returns ``None`` when none is configured (datasets then use DGL's download).

    Raises
    ------
    MissingDataError
        If a directory is given explicitly (argument or environment) but does not exist.
    """
    explicit = data_dir or os.environ.get("DGL_SSM_DATA")
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not path.is_dir():
            raise MissingDataError(
                f"raw data directory {path} (from {'--data-dir' if data_dir else 'DGL_SSM_DATA'}) does not exist; "
                "point it at the offline copies (layout: planetoid/, geom_gcn/, lrgb/; see ../shared/data/README.md)"
            )
        return path
    default = PROJECT_DIR.parent / "shared" / "data"
    return default if default.is_dir() else None


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
    dgl_ssm.data.manifest.CorruptDataError
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
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(src.resolve())
    return dest


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


def raw_path_of(dataset_cls, raw_dir: os.PathLike, **kwargs) -> Path:
    """Ask a DGL dataset class for its ``raw_path`` under ``raw_dir`` without loading anything.

    DGL appends a hash of the download URL to the folder name (e.g.
    ``cora_v2_<hash>``), so the path is read from a dataset object whose
    ``_load`` is a no-op rather than hard-coded.
    """

    class _Probe(dataset_cls):
        def _load(self):  # noqa: D401 - DGLDataset.__init__ calls this; skip download/process
            pass

    return Path(_Probe(raw_dir=str(raw_dir), **kwargs).raw_path)

