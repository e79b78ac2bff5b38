"""SignalProbe: record forward and backward signal statistics of every layer of a deep GNN, via hooks."""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Iterable, Optional

import pandas as pd
import torch

from .energy import signal_stats

__all__ = ["SignalProbe"]

FORWARD_METRICS = ("dirichlet_energy", "feature_norm", "mean_deviation")
BACKWARD_METRICS = ("grad_norm", "error_dirichlet_energy", "error_feature_norm", "error_mean_deviation")


def _in_backward() -> bool:
    """True while autograd runs a backward pass (a checkpointed block being recomputed)."""
    task_id = getattr(torch._C, "_current_graph_task_id", None)
    return task_id is not None and task_id() != -1


class SignalProbe:
    r"""Record per-layer signal statistics of a model of :mod:`dgl_ssm.models`, without changing it.

    Attaches hooks to ``model.layers`` (blocks called as ``block(graph, h)``).
    Layer :math:`\ell = 0` is the input :math:`H_0` of the first block,
    layer :math:`\ell \ge 1` the output :math:`H_\ell` of block :math:`\ell`.
    Each forward pass through the first block starts a new ``step``.

    * **forward** (forward hooks): Dirichlet energy :math:`E(H_\ell)`,
      :math:`\lVert H_\ell \rVert_F` and :math:`\mu(H_\ell)`
      (:mod:`dgl_ssm.analysis.energy`; Rusch et al. 2023; Park & Kim 2024);
    * **backward** (tensor hooks, when the states require grad): for the
      backpropagated error :math:`B_\ell = \partial\mathcal{L}/\partial H_\ell`
      its norm, Dirichlet energy and :math:`\mu(B_\ell)` (Keriven 2025,
      arXiv:2505.16736), and ``grad_norm``
      :math:`\lVert \partial\mathcal{L}/\partial W_\ell \rVert_2` over the
      trainable parameters of block :math:`\ell` (with shared weights: the
      total gradient of the shared parameters, repeated for every layer).

    Works with gradient checkpointing (``DeepGNN(checkpoint=True)``): the
    recomputation of a block during the backward pass is recognized and not
    recorded twice. Statistics are kept as device tensors and turned into
    numbers only by :meth:`table`, so a GPU run is not synchronized per layer.

    Parameters
    ----------
    model : torch.nn.Module
        A model with a ``layers`` :class:`torch.nn.ModuleList` of blocks
        called as ``block(graph, h)`` (a :class:`~dgl_ssm.models.DeepGNN`).
    per_graph : bool
        Record the state and error statistics per graph of a batched graph
        (a ``graph`` column in the table).
    backward : bool
        Also record the backward statistics.

    Raises
    ------
    ValueError
        If ``model`` has no ``layers`` attribute.

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.models import build_model
    >>> g = dgl.add_self_loop(dgl.graph(([0, 1, 2], [1, 2, 0])))
    >>> model = build_model("gcn-ssm", 4, 8, 2, num_layers=3)
    >>> with SignalProbe(model) as probe:
    ...     model(g, torch.randn(3, 4)).pow(2).sum().backward()
    >>> table = probe.table()
    >>> list(table["layer"]), "error_feature_norm" in table
    ([0, 1, 2, 3], True)
    """

    def __init__(self, model, per_graph: bool = False, backward: bool = True):
        if not hasattr(model, "layers"):
            raise ValueError(f"{type(model).__name__} has no `layers`; SignalProbe needs a DeepGNN-like model")
        self.model, self.per_graph, self.backward = model, per_graph, backward
        self.step = -1
        self._records: dict = defaultdict(dict)  # (step, layer) -> metric -> tensor
        self._handles: list = []

    # -- hooks ---------------------------------------------------------------------------------
    def attach(self) -> "SignalProbe":
        """Register the hooks (done by ``with``); returns ``self``."""
        if self._handles:
            return self
        layers = list(self.model.layers)
        self._handles.append(layers[0].register_forward_pre_hook(self._on_first_input))
        for index, layer in enumerate(layers, start=1):
            self._handles.append(layer.register_forward_hook(self._forward_hook(index)))
            if self.backward:
                for param in {id(p): p for p in layer.parameters() if p.requires_grad}.values():
                    self._handles.append(param.register_hook(self._param_hook(index)))
        return self

    def remove(self) -> None:
        """Remove every hook (done on leaving ``with``); the records are kept."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "SignalProbe":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.remove()

    def _record_state(self, layer: int, graph, h: torch.Tensor) -> None:
        self._records[(self.step, layer)].update(signal_stats(graph, h, self.per_graph))
        if self.backward and h.requires_grad:
            step = self.step
            h.register_hook(lambda grad: self._on_error(step, layer, graph, grad))

    def _on_first_input(self, module, inputs) -> None:
        if _in_backward():
            return
        self.step += 1
        self._record_state(0, inputs[0], inputs[1])

    def _forward_hook(self, layer: int):
        def hook(module, inputs, output):
            if not _in_backward():
                self._record_state(layer, inputs[0], output)

        return hook

    def _on_error(self, step: int, layer: int, graph, grad: torch.Tensor) -> None:
        self._records[(step, layer)].update(signal_stats(graph, grad, self.per_graph, "error_"))

    def _param_hook(self, layer: int):
        def hook(grad: torch.Tensor) -> None:
            record = self._records[(self.step, layer)]
            record["_grad_sq"] = record.get("_grad_sq", 0.0) + grad.detach().pow(2).sum()

        return hook

    # -- results -------------------------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """A tidy table: one row per step, layer [and graph], one column per recorded metric.

        Returns
        -------
        pandas.DataFrame
            Columns ``step``, ``layer``, [``graph``,] then those of
            ``dirichlet_energy``, ``feature_norm``, ``mean_deviation``,
            ``grad_norm``, ``error_dirichlet_energy``, ``error_feature_norm``,
            ``error_mean_deviation`` that were recorded (``NaN`` where a metric
            does not apply, e.g. ``grad_norm`` of layer 0).
        """
        rows = []
        for (step, layer), record in sorted(self._records.items()):
            values = {k: v.detach().cpu().reshape(-1).double() for k, v in record.items() if k != "_grad_sq"}
            grad_norm = float(record["_grad_sq"]) ** 0.5 if "_grad_sq" in record else None
            for i in range(max((len(v) for v in values.values()), default=1)):
                row = {"step": step, "layer": layer, **({"graph": i} if self.per_graph else {})}
                row.update({k: float(v[i]) for k, v in values.items()})
                if grad_norm is not None:
                    row["grad_norm"] = grad_norm
                rows.append(row)
        table = pd.DataFrame(rows)
        ordered = [c for c in ("step", "layer", "graph", *FORWARD_METRICS, *BACKWARD_METRICS) if c in table]
        return table[ordered] if rows else table

    def plot(
        self,
        path: os.PathLike,
        metrics: Optional[Iterable[str]] = None,
        step: int = -1,
        title: str = "",
    ):
        """Plot metrics against layer (log scale), one panel per metric, to a PNG (matplotlib, Agg).

        Parameters
        ----------
        path : path
            The image file to write.
        metrics : iterable of str, optional
            Columns of :meth:`table`; default: every recorded one.
        step : int
            Which step (``-1``: the last).
        title : str
            Figure title.

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        ValueError
            If nothing has been recorded, or a metric was not recorded.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from pathlib import Path

        table = self.table()
        if table.empty:
            raise ValueError("SignalProbe has recorded nothing yet; run the model inside `with probe:`")
        table = table[table["step"] == (table["step"].max() if step == -1 else step)]
        known = [c for c in (*FORWARD_METRICS, *BACKWARD_METRICS) if c in table]
        metrics = list(metrics) if metrics is not None else known
        missing = [m for m in metrics if m not in table]
        if missing:
            raise ValueError(f"metrics {missing} were not recorded; recorded: {known}")
        fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
        groups = table.groupby("graph") if self.per_graph else [(None, table)]
        for ax, metric in zip(axes[0], metrics):
            for graph_id, part in groups:
                part = part.dropna(subset=[metric])
                ax.plot(part["layer"], part[metric].clip(lower=1e-300), label=None if graph_id is None else f"graph {graph_id}")
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_title(metric)
        if self.per_graph:
            axes[0][0].legend(fontsize=7)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return Path(path)
