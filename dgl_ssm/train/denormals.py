"""Subnormal floats in CPU training: IEEE arithmetic (the default) or flush-to-zero, as a run's explicit choice.

A deep model whose gradients vanish trains slower on an x86 CPU as its gradients fall below float32's smallest
normal number (1.2·10⁻³⁸): the cores handle subnormal operands in microcode. GCNII at 512 layers on Cora slowed from
about 4 s to about 10 s an epoch that way (``benchmarks/inspect_denormal.py``: 12.8 % of its gradient entries
subnormal at epoch 828, a training step 2.36× faster with flush-to-zero). Flush-to-zero (FTZ and DAZ,
:func:`torch.set_flush_denormal`) sets those values to 0, which changes results below that magnitude: it is a
protocol choice (``denormals: flush``), part of a cell's identity, never a default, and refused by the diagnostics
that measure vanishing gradients.

The flag is a per-thread register (MXCSR): set in the calling thread, it does not reach the intra-op pool's threads
that already exist (``inspect_denormal.py --thread-reach 2``: half of a tensor's subnormals flushed with 2 threads),
so ``"flush"`` is refused with more than one intra-op thread; it acts on CPU arithmetic only, so it is refused for a
model on another device.
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["DENORMALS", "check_denormals", "denormal_mode"]

#: ``"ieee"``: subnormal floats as IEEE 754 has them (every record before the option); ``"flush"``: flush-to-zero
DENORMALS = ("ieee", "flush")


def check_denormals(mode: str, device="cpu") -> None:
    """Raise ``ValueError`` (one line, with the fix) unless ``mode`` can be honoured here.

    Raises
    ------
    ValueError
        ``mode`` not in :data:`DENORMALS`; ``"flush"`` for a model that is not on the CPU, with more than one
        intra-op thread (:func:`torch.get_num_threads`), or on a CPU without a flush-to-zero mode.

    Examples
    --------
    >>> check_denormals("ieee", "cuda")
    >>> check_denormals("flush", "cuda")
    Traceback (most recent call last):
        ...
    ValueError: denormals='flush' sets the CPU's flush-to-zero mode; a model on cuda does not run there: use denormals='ieee'
    """
    if mode not in DENORMALS:
        raise ValueError(f"denormals must be one of {', '.join(DENORMALS)}, got {mode!r}")
    if mode == "ieee":
        return
    kind = torch.device(device).type
    if kind != "cpu":
        raise ValueError(f"denormals='flush' sets the CPU's flush-to-zero mode; a model on {kind} does not run there: "
                         "use denormals='ieee'")
    threads = torch.get_num_threads()
    if threads != 1:
        raise ValueError(f"denormals='flush' reaches only the calling thread (a per-thread register), and this "
                         f"process runs {threads} intra-op threads: set one (dgl_ssm.configure_threads(1), a study's "
                         "threads=1) or use denormals='ieee'")


@contextlib.contextmanager
def denormal_mode(mode: str, device="cpu"):
    """Run the block with ``mode`` (:data:`DENORMALS`): ``"ieee"`` changes nothing; ``"flush"`` turns flush-to-zero
    on for the block and off after it, however it ends.

    Raises
    ------
    ValueError
        As :func:`check_denormals`, and if this CPU has no flush-to-zero mode torch can set (x86 without SSE3).

    Examples
    --------
    >>> tiny = torch.tensor([1e-39])                  # subnormal in float32
    >>> with denormal_mode("flush"):
    ...     flushed = (tiny * 1.0).item()
    >>> flushed, (tiny * 1.0).item() > 0
    (0.0, True)
    """
    check_denormals(mode, device)
    if mode == "ieee":
        yield
        return
    if not torch.set_flush_denormal(True):
        raise ValueError("denormals='flush': this CPU has no flush-to-zero mode torch can set (x86 needs SSE3); use "
                         "denormals='ieee'")
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
