"""Thread configuration: one OpenMP pool, over-subscribed under load.

What a process holds after ``import torch, dgl`` (measured 2026-12-01 with
:func:`threadpoolctl.threadpool_info` and ``/proc/self/maps``; ``docs/threads.md``):
**one** OpenMP runtime, torch's ``torch/lib/libgomp-<hash>.so.1``. DGL's
``libdgl.so`` asks for ``libgomp.so.1``, and torch's copy, already loaded, carries
that SONAME, so DGL's parallel loops run on torch's pool. NumPy and SciPy add
their own OpenBLAS pools. On a machine shared with other busy processes, a pool
of one thread per core is over-subscribed and its threads wait for each other:
:func:`configure_threads` (``threadpoolctl`` for every pool, plus torch's own
setting) limits them; the studies and benchmarks call it with 1.
"""
from __future__ import annotations

import os
import warnings

import torch

__all__ = ["configure_threads", "OpenMPContentionWarning", "in_slow_configuration"]

_configured: int | None = None
_warned = False


class OpenMPContentionWarning(RuntimeWarning):
    """torch's OpenMP pool (shared with DGL) runs one thread per core and nobody chose that."""


def configure_threads(num_threads: int | None = 1) -> int:
    """Limit every thread pool of the process: torch's intra-op (OpenMP) pool, which DGL shares, and the BLAS pools.

    Parameters
    ----------
    num_threads : int, optional
        Threads per pool. Default 1, the setting that kept epochs steady on
        shared 2-core machines (``docs/threads.md``). ``None`` uses ``os.cpu_count()``.

    Returns
    -------
    int
        The thread count now in force.

    Raises
    ------
    ValueError
        If ``num_threads < 1``.

    Examples
    --------
    >>> import dgl_ssm
    >>> dgl_ssm.configure_threads(1)
    1
    """
    global _configured
    from threadpoolctl import threadpool_limits

    n = int(num_threads or os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    torch.set_num_threads(n)
    threadpool_limits(limits=n)  # OpenMP (torch's libgomp, which DGL uses) and OpenBLAS
    _configured = n
    return n


def in_slow_configuration() -> bool:
    """True when torch's OpenMP pool (DGL's too) defaults to several threads that nobody configured."""
    if _configured is not None or os.environ.get("OMP_NUM_THREADS"):
        return False
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        return False
    return torch.get_num_threads() > 1


def warn_if_slow() -> None:
    """Warn once per process (category :class:`OpenMPContentionWarning`) in the slow configuration.

    Called when the first :class:`~dgl_ssm.train.Trainer` is built, i.e. when heavy work starts.
    """
    global _warned
    if _warned:
        return
    if in_slow_configuration() and not os.environ.get("DGL_SSM_NO_THREAD_WARNING"):
        _warned = True
        warnings.warn(
            f"dgl_ssm: torch's OpenMP pool, which DGL shares, runs {torch.get_num_threads()} threads; on a machine "
            "shared with other busy processes they are over-subscribed (1.6x slower message passing measured on "
            "2 cores with one other busy process, docs/threads.md). Call dgl_ssm.configure_threads(1) (or export "
            "OMP_NUM_THREADS=1) before heavy work on shared machines. Silence with DGL_SSM_NO_THREAD_WARNING=1.",
            OpenMPContentionWarning,
            stacklevel=3,
        )
