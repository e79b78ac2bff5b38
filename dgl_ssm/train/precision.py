"""Mixed precision for the :class:`~dgl_ssm.train.Trainer`, with Lightning's names.

* ``"32"``: float32 throughout (the default; changes nothing).
* ``"bf16-mixed"``: the model's forward under ``torch.autocast(dtype=torch.bfloat16)``, on CPU and CUDA.
* ``"16-mixed"``: CUDA only, float16 autocast with a :class:`torch.amp.GradScaler`.

Parameters and optimizer state stay in float32 (autocast, never ``.half()``); the model's output is cast to float32
before the task computes its loss and metrics, so losses, metrics, the divergence checks and the diagnostics are
float32. Kernels without a low-precision path run in float32 inside (:mod:`dgl_ssm.nn._precision`).
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Optional

import torch

__all__ = ["PRECISIONS", "Precision", "native_bf16"]

#: the accepted names (PyTorch Lightning's)
PRECISIONS = ("32", "bf16-mixed", "16-mixed")


@functools.lru_cache(maxsize=None)
def native_bf16() -> Optional[bool]:
    """Whether this CPU has native bfloat16 arithmetic (the ``avx512_bf16`` or ``amx_bf16`` flag of
    ``/proc/cpuinfo``); ``None`` where that file does not say (not Linux, or not x86)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), None)
    if flags is None:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the gradient multiplied by the scaler's scale (``scaler.scale(loss).backward()`` applied at
    the model's output, so that tasks keep calling ``loss.backward()``)."""

    @staticmethod
    def forward(ctx, out, scaler):
        ctx.scaler = scaler
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad):
        return ctx.scaler.scale(grad), None


class _Autocast(torch.nn.Module):
    """What the task calls: the model's forward under autocast, its floating outputs cast to float32."""

    def __init__(self, model: torch.nn.Module, precision: "Precision"):
        super().__init__()
        self.module, self._precision = model, precision

    def forward(self, *args, **kwargs):
        p = self._precision
        with torch.autocast(p.device_type, dtype=p.dtype):
            out = self.module(*args, **kwargs)
        if torch.is_tensor(out) and out.is_floating_point():
            out = out.float()
            if p.scaler is not None and torch.is_grad_enabled() and out.requires_grad:
                out = _ScaleGrad.apply(out, p.scaler)
        return out


class _ScaledOptimizer:
    """The optimizer as the task sees it under ``"16-mixed"``: ``step`` is ``scaler.step`` then ``scaler.update``
    (a step with non-finite gradients is skipped and the scale lowered, as :class:`torch.amp.GradScaler` does)."""

    def __init__(self, optimizer, scaler):
        self.optimizer, self.scaler = optimizer, scaler

    def zero_grad(self, set_to_none: bool = True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def __getattr__(self, name):  # param_groups, state, ...
        return getattr(self.optimizer, name)


class Precision:
    """One of :data:`PRECISIONS` on a device: what the :class:`~dgl_ssm.train.Trainer` wraps the model and the
    optimizer with.

    Parameters
    ----------
    name : str
        ``"32"``, ``"bf16-mixed"`` or ``"16-mixed"``.
    device : torch.device or str
        Where the model lives.

    Raises
    ------
    ValueError
        On an unknown name, or ``"16-mixed"`` off CUDA (float16 needs a gradient scaler and CUDA kernels; on the CPU
        use ``"bf16-mixed"``).

    Warns
    -----
    UserWarning
        ``"bf16-mixed"`` on a CPU without native bfloat16 (:func:`native_bf16`): it may be slower than float32.

    Examples
    --------
    >>> p = Precision("bf16-mixed", "cpu")
    >>> model = torch.nn.Linear(4, 2)
    >>> p.wrap(model)(torch.randn(3, 4)).dtype           # the forward in bfloat16, the output back in float32
    torch.float32
    >>> Precision("16-mixed", "cpu")
    Traceback (most recent call last):
        ...
    ValueError: precision='16-mixed' (float16 with a gradient scaler) needs CUDA; on the CPU use precision='bf16-mixed'
    """

    def __init__(self, name: str = "32", device="cpu"):
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {name!r}")
        self.name, self.device_type = name, torch.device(device).type
        if name == "16-mixed" and self.device_type != "cuda":
            raise ValueError("precision='16-mixed' (float16 with a gradient scaler) needs CUDA; on the CPU use "
                             "precision='bf16-mixed'")
        self.dtype = {"32": torch.float32, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}[name]
        self.scaler = torch.cuda.amp.GradScaler() if name == "16-mixed" else None
        if name == "bf16-mixed" and self.device_type == "cpu" and native_bf16() is False:
            warnings.warn("precision='bf16-mixed' on a CPU without native bfloat16 (no avx512_bf16 or amx_bf16 flag): "
                          "it may be slower than precision='32'", stacklevel=2)

    @property
    def mixed(self) -> bool:
        return self.name != "32"

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model as tasks call it: itself at ``"32"``, else its forward under autocast (output in float32)."""
        return _Autocast(model, self) if self.mixed else model

    def wrap_optimizer(self, optimizer):
        """The optimizer as tasks step it: itself, or ``scaler.step`` + ``scaler.update`` under ``"16-mixed"``."""
        return _ScaledOptimizer(optimizer, self.scaler) if self.scaler is not None else optimizer

    def state_dict(self) -> dict:
        """``{"precision": name}`` and, under ``"16-mixed"``, the gradient scaler's state (for a checkpoint)."""
        return {"precision": self.name, **({"grad_scaler": self.scaler.state_dict()} if self.scaler is not None else {})}

    def load_state_dict(self, state: dict, where: str = "the checkpoint") -> None:
        """Check a checkpoint's precision against this one (a checkpoint without one was written at ``"32"``) and
        restore the scaler.

        Raises
        ------
        ValueError
            If the checkpoint was written with another precision.
        """
        found = state.get("precision", "32")
        if found != self.name:
            raise ValueError(f"{where} was written with precision={found!r}, this run asks for precision="
                             f"{self.name!r}; resume with precision={found!r}, or delete it to start the run afresh")
        if self.scaler is not None and state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
