"""dgl_ssm: deep graph neural networks as state-space models, for DGL.

A GNN layer is written as a linear state-space model (GNN-SSM,
Arroyo et al. 2025, arXiv:2502.10818) so that very deep networks sit at the
edge of chaos instead of collapsing (over-smoothing) or losing gradient
(vanishing gradients); with k-hop rewiring (kGNN-SSM) it also fights
over-squashing.
"""
import os as _os
import warnings as _warnings

_os.environ.setdefault("DGLBACKEND", "pytorch")
_os.environ.setdefault("OUTDATED_IGNORE", "1")
_warnings.filterwarnings("ignore", message="Failed to check for latest version of package")


def _import_ogb_without_version_check() -> None:
    """Import ogb (which DGL's LRGB datasets import) without its PyPI version check.

    On import, ``ogb.version`` starts a non-daemon thread that asks PyPI for a
    newer ogb through ``outdated`` (``requests.get`` without a timeout, retried).
    Offline it delays every process's exit by seconds, and where the network
    stalls it keeps the process from exiting at all (seen as hung ``torchrun``
    workers). ogb skips the check when ``outdated`` cannot be imported, so
    ``outdated`` is hidden while ogb is imported (``sys.modules[name] = None``
    makes ``import name`` raise ``ImportError``).
    """
    import importlib.util
    import sys

    if "ogb" in sys.modules or importlib.util.find_spec("ogb") is None:
        return
    hidden = sys.modules.get("outdated")
    sys.modules["outdated"] = None
    try:
        import ogb  # noqa: F401
    finally:
        if hidden is None:
            del sys.modules["outdated"]
        else:
            sys.modules["outdated"] = hidden


_import_ogb_without_version_check()

from ._stack import check_stack as _check_stack, import_dgl as _import_dgl  # noqa: E402

_check_stack()
_import_dgl()  # after the version check: a bad pair dies with our message, and so does any other ImportError of DGL

from . import runtime  # noqa: E402
from .runtime import configure_threads  # noqa: E402

__version__ = "0.2.0"
__all__ = ["configure_threads", "runtime", "__version__"]

