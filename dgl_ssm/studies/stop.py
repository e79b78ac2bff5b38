"""Ending a sitting cleanly: a time limit, or SIGTERM / SIGUSR1 (what batch schedulers send before they kill a job).

Both are checked between epochs. The running cell then writes its checkpoint and is left out of the record, and the
next sitting (the same command) continues it exactly; no later cell starts. A second signal of the same kind acts
as it would without this module (SIGTERM and SIGUSR1 end the process at once).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Optional

__all__ = ["SittingStop", "StudyStopped", "EXIT_STOPPED"]

#: the exit status of ``python -m dgl_ssm.studies`` when a sitting stopped before its last cell (2: an error)
EXIT_STOPPED = 3

_SIGNALS = ("SIGTERM", "SIGUSR1")


class StudyStopped(RuntimeError):
    """A sitting stopped before its last pending cell (:class:`SittingStop`); the record and tables are written.

    Attributes
    ----------
    reason : str
        Why (``"time limit of 60 s reached"``, ``"SIGTERM received"``).
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class SittingStop:
    """Whether a sitting should stop: called, it returns the reason, or ``None`` to go on.

    Parameters
    ----------
    time_limit_s : float
        Seconds from construction after which every call returns a reason; ``0``: no limit.

    Raises
    ------
    ValueError
        If ``time_limit_s`` is negative or not finite.

    Examples
    --------
    >>> stop = SittingStop(time_limit_s=0)
    >>> stop() is None
    True
    >>> SittingStop(time_limit_s=1e-9)()
    'time limit of 1e-09 s reached'
    """

    def __init__(self, time_limit_s: float = 0.0):
        if not 0 <= time_limit_s < float("inf"):
            raise ValueError(f"time_limit_s must be a finite number of seconds >= 0 (0: no limit), got {time_limit_s}")
        self.time_limit_s = float(time_limit_s)
        self._deadline = time.monotonic() + self.time_limit_s if self.time_limit_s else None
        self._signal: Optional[str] = None

    def __call__(self) -> Optional[str]:
        if self._signal is not None:
            return f"{self._signal} received"
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return f"time limit of {self.time_limit_s:g} s reached"
        return None

    @contextlib.contextmanager
    def on_signals(self):
        """While inside: the first SIGTERM or SIGUSR1 makes this object return ``"<name> received"`` (and puts that
        signal's previous handler back, so a second one acts as before). Outside the main thread, where Python
        cannot install signal handlers, nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {}

        def handler(signum, _frame):
            name = signal.Signals(signum).name
            self._signal = self._signal or name
            signal.signal(signum, previous[name])

        for name in _SIGNALS:
            previous[name] = signal.signal(getattr(signal, name), handler)
        try:
            yield self
        finally:
            for name, old in previous.items():
                signal.signal(getattr(signal, name), old)
