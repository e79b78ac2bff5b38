"""Check that the installed torch and DGL wheels can work together.

DGL wheels ship native libraries (``libdgl``, graphbolt) built against a narrow
range of torch releases. With any other torch, ``import dgl`` dies with the
cryptic ``Cannot find DGL C++ graphbolt library``. This module reads the
installed versions *without* importing DGL and raises an :class:`ImportError`
that names the versions found and the exact fix.
"""
from __future__ import annotations

import re
from importlib import metadata

from packaging.version import Version

_GRAPHBOLT = re.compile(r"libgraphbolt_pytorch_([0-9.]+)\.so")
# plain pip, never `make` (a researcher's environment has no repository): the CPU pair from PyTorch's CPU index, and
# a CUDA pair from DGL's own wheel index (DGL's CUDA builds are not on PyPI)
FIX = (
    'CPU: pip install "torch==2.2.1" --index-url https://download.pytorch.org/whl/cpu && '
    'pip install "dgl==2.1.0" "torchdata==0.7.1" "numpy<2"; '
    'CUDA 12.4: pip install "torch==2.4.0" --index-url https://download.pytorch.org/whl/cu124 && '
    'pip install "dgl==2.4.0" -f https://data.dgl.ai/wheels/torch-2.4/cu124/repo.html "torchdata==0.7.1" "numpy<2"'
)


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _base(version: str) -> Version:
    """``2.2.1+cu121`` -> ``2.2.1``."""
    return Version(Version(version).base_version)


def supported_torch_versions() -> set[Version]:
    """Torch releases the installed DGL wheel has native libraries for.

    Read off the wheel's ``dgl/graphbolt/libgraphbolt_pytorch_<version>.so``
    files (without importing DGL). Empty when DGL is not installed from a
    wheel that lists them (e.g. a source build), in which case nothing is checked.
    """
    try:
        files = metadata.files("dgl") or []
    except metadata.PackageNotFoundError:
        return set()
    found = (_GRAPHBOLT.fullmatch(f.name) for f in files if f.parent.name == "graphbolt")
    return {Version(m.group(1)) for m in found if m}


def check_stack() -> None:
    """Raise :class:`ImportError` if torch, DGL or torchdata cannot work together.

    Raises
    ------
    ImportError
        If torch or DGL is missing, if the installed torch is outside the range
        the installed DGL wheel was built for, or if torchdata is too new to
        provide the ``torchdata.datapipes`` that DGL imports.
    """
    torch_v, dgl_v = _installed("torch"), _installed("dgl")
    if torch_v is None or dgl_v is None:
        missing = " and ".join(n for n, v in (("torch", torch_v), ("dgl", dgl_v)) if v is None)
        raise ImportError(f"dgl_ssm needs {missing}, which is not installed. Fix: {FIX}")
    supported = supported_torch_versions()
    if supported and _base(torch_v) not in supported:
        lo, hi = min(supported), max(supported)
        raise ImportError(
            f"dgl=={dgl_v} ships native libraries only for torch {lo} to {hi}, "
            f"but torch=={torch_v} is installed (import dgl would fail with "
            f"'Cannot find DGL C++ graphbolt library'). Fix: {FIX}"
        )
    torchdata_v = _installed("torchdata")
    if torchdata_v is not None and Version("0.8.0") <= _base(torchdata_v) < Version("0.10.0") \
            and _base(torch_v) < Version("2.3.0"):
        raise ImportError(
            f"torchdata=={torchdata_v} needs torch >= 2.3 (it imports torch.utils._import_utils), but torch=={torch_v} "
            f"is installed, the newest torch dgl=={dgl_v} is built for being older. Fix: pip install \"torchdata==0.7.1\"")
    if torchdata_v is not None and _base(torchdata_v) >= Version("0.10.0"):
        raise ImportError(
            f"torchdata=={torchdata_v} no longer provides torchdata.datapipes, which "
            f"dgl=={dgl_v} imports. Fix: {FIX}"
        )


def import_dgl():
    """Import DGL, turning any :class:`ImportError` it raises into one that names the installed versions and the fix.

    :func:`check_stack` catches the pairs known to break; this catches the rest (a DGL source build, a wheel without
    its native libraries, a dependency DGL imports but does not declare).

    Raises
    ------
    ImportError
        With DGL's own message, the installed torch, DGL, torchdata and NumPy versions, and :data:`FIX`.
    """
    try:
        import dgl  # noqa: F401
    except ImportError as err:
        found = ", ".join(f"{n}=={_installed(n)}" for n in ("torch", "dgl", "torchdata", "numpy"))
        raise ImportError(f"import dgl failed ({err}) with {found}. Fix: {FIX}") from err
