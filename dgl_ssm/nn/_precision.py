"""Mixed-precision helpers of the layers: where a kernel has no low-precision path, it runs in float32.

Measured on DGL 2.1 / torch 2.2 CPU (``tests/train/test_precision.py`` runs every preset under bfloat16 autocast):

* torch's sparse CSR product (``addmm_out_sparse_csr_impl_mkl``) has no bfloat16 kernel: :class:`~dgl_ssm.nn._csr.SpMM`
  multiplies in float32 and casts back;
* DGL's ``GATConv`` mixes its projection (bfloat16 under autocast) with attention logits computed against float32
  parameters, and its message kernel refuses the mixed pair: the attention conv runs in float32;
* DGL's ``GraphConv``, ``SAGEConv`` and ``GINConv`` and every dense product run in bfloat16 as they are.
"""
from __future__ import annotations

import torch

__all__ = ["autocast_active", "in_float32"]


def autocast_active(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (``"cpu"`` or ``"cuda"``) in this thread."""
    return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def in_float32(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with autocast off and every floating tensor argument in float32, when autocast is on
    (a kernel without a low-precision path); a plain call otherwise. The result stays in float32: the next
    autocast operation casts it again."""
    tensors = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a)]
    device_type = tensors[0].device.type if tensors else "cpu"
    if not autocast_active(device_type):
        return fn(*args, **kwargs)

    def cast(a):
        return a.float() if torch.is_tensor(a) and a.is_floating_point() and a.dtype != torch.float64 else a

    with torch.autocast(device_type, enabled=False):
        return fn(*(cast(a) for a in args), **{k: cast(v) for k, v in kwargs.items()})
