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
# ogb (imported by DGL's LRGB datasets) checks PyPI for a newer version in a thread on import;
# offline that check fails with a warning that says nothing about the user's work.
_warnings.filterwarnings("ignore", message="Failed to check for latest version of package")

from ._stack import check_stack as _check_stack  # noqa: E402

_check_stack()

import dgl  # noqa: E402,F401  (after the version check: a bad pair dies with our message)

from . import runtime  # noqa: E402
from .runtime import configure_threads  # noqa: E402

__version__ = "0.1.0"
__all__ = ["configure_threads", "runtime", "__version__"]

