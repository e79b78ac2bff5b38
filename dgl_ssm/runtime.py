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

__all__ = ["configure_threads", "OpenMPContentionWarning", "in_slow_configuration", "release_freed_memory"]

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


_libc = None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the operating system (glibc ``malloc_trim(0)``); ``False`` where there is none.

    Training on batches of varying size (graph batches: a different node count every step) fragments glibc's heap:
    activations of a few MB are freed and reallocated at other sizes, glibc's dynamic mmap threshold has moved
    above them, and the freed pages stay in the process. Measured 2026-12-01 on Peptides-func (17-layer GCN, hidden
    165, batch 128, one thread, another worker running): the resident size grew from 3.0 GB (data loaded) to 6.2 GB
    in 80 steps, and a study worker reached 10.5 GB after six epochs and kept growing, so two workers filled this
    24 GB machine. :class:`~dgl_ssm.train.GraphTask` calls this every 8 steps (``release_memory_every``) and after
    every pass: over a pass of 48 steps the peak was 4.9 GB and the end 3.3 GB (5.2 and 5.2 without), at 2.42 s
    instead of 2.26 s per step. After every step it holds 3.0 GB at about 10 % of the step time; a fixed
    ``MALLOC_MMAP_THRESHOLD_`` of 1 MB instead costs 60 % (page faults on fresh mappings). A no-op that returns
    ``False`` where the C library has no ``malloc_trim`` (macOS, musl, Windows).

    Examples
    --------
    >>> isinstance(release_freed_memory(), bool)
    True
    """
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True
