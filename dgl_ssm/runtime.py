"""OpenMP thread configuration: avoid the torch/DGL OpenMP contention trap.

torch ships its own OpenMP runtime (``torch/lib/libgomp-*.so``) and DGL links
the system ``libgomp.so.1``, so a process that uses both has **two** OpenMP
thread pools. With the default settings each pool starts one busy-waiting
thread per core; on a small machine (2 cores) the pools steal cores from each
other whenever the machine is under any other load. Measured on 2 cores
(``README.md``, "Performance"): a 16-layer GraphConv forward+backward on a
Cora-sized graph took 28 ms idle but 63 ms with one other busy process by
default, against 27-31 ms in both cases with one OpenMP thread per runtime.

:func:`configure_threads` sets both runtimes (recipes and benchmarks call it
first); the first :class:`~dgl_ssm.train.Trainer` warns once when it can tell
that both pools are multi-threaded and busy-waiting (layers and models do not:
they stay free of process-wide concerns).
"""
from __future__ import annotations

import os
import warnings

import torch

__all__ = ["configure_threads", "OpenMPContentionWarning", "in_slow_configuration"]

_configured: int | None = None
_warned = False


class OpenMPContentionWarning(RuntimeWarning):
    """Both the torch and the DGL OpenMP pools are multi-threaded and busy-waiting."""


def configure_threads(num_threads: int | None = 1) -> int:
    """Set the thread count of both OpenMP runtimes (torch's and DGL's).

    Parameters
    ----------
    num_threads : int, optional
        Threads per runtime. Default 1, the fastest setting measured on small
        machines (2-4 cores). ``None`` uses ``os.cpu_count()``; on larger
        machines also export ``OMP_WAIT_POLICY=PASSIVE`` before starting Python.

    Returns
    -------
    int
        The thread count now in force.

    Examples
    --------
    >>> import dgl_ssm
    >>> dgl_ssm.configure_threads(1)
    1
    """
    global _configured
    import dgl  # imported here so that this module can be read before DGL is loaded

    n = int(num_threads or os.cpu_count() or 1)
    if n < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    torch.set_num_threads(n)
    dgl.utils.set_num_threads(n)
    _configured = n
    return n


def in_slow_configuration() -> bool:
    """True when both OpenMP pools default to several busy-waiting threads."""
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
            f"dgl_ssm: torch and DGL each run their own OpenMP pool with {torch.get_num_threads()} "
            "busy-waiting threads, which contend for cores (2x-30x slower message passing measured on "
            "2-core machines under load). Call dgl_ssm.configure_threads(1) (or export OMP_NUM_THREADS=1, "
            "or OMP_WAIT_POLICY=PASSIVE on many-core machines) before heavy work. "
            "Silence with DGL_SSM_NO_THREAD_WARNING=1.",
            OpenMPContentionWarning,
            stacklevel=3,
        )
