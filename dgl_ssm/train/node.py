"""Full-graph (transductive) node classification as a :class:`~dgl_ssm.train.trainer.Task`."""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

__all__ = ["NodeClassificationTask", "fit_node_classifier", "build_node_classifier"]


class NodeClassificationTask:
    """Cross-entropy on ``ndata['train_mask']`` nodes; accuracy on ``val_mask`` / ``test_mask`` nodes.

    Parameters
    ----------
    graph : dgl.DGLGraph
        With ``ndata['feat']`` (N, F), ``ndata['label']`` (N,) int64 and
        boolean ``train_mask``, ``val_mask``, ``test_mask`` (N,).
    device : torch.device or str
        Where the graph is moved.

    Raises
    ------
    KeyError
        If a required node field is missing (the message lists them).

    Examples
    --------
    >>> import torch
    >>> from dgl_ssm.data import load_node_graph
    >>> from dgl_ssm.models import build_model
    >>> g = load_node_graph("cora")
    >>> task = NodeClassificationTask(g)
    >>> model = build_model("kipf-gcn", 1433, 16, 7, num_layers=2)
    >>> sorted(task.evaluate(model, ("val", "test"))["test"])        # the untrained model: loss and accuracy
    ['accuracy', 'loss']
    >>> NodeClassificationTask(load_node_graph("grid"))
    Traceback (most recent call last):
    ...
    KeyError: "node classification needs ndata fields ('feat', 'label', 'train_mask', 'val_mask', 'test_mask'); missing [...]"
    """

    metric = "accuracy"
    higher_is_better = True
    FIELDS = ("feat", "label", "train_mask", "val_mask", "test_mask")

    def __init__(self, graph, device="cpu"):
        missing = [k for k in self.FIELDS if k not in graph.ndata]
        if missing:
            raise KeyError(f"node classification needs ndata fields {self.FIELDS}; missing {missing}")
        self.graph = graph.to(device)
        self.feat, self.label = self.graph.ndata["feat"], self.graph.ndata["label"]
        self.masks = {s: self.graph.ndata[f"{s}_mask"].bool() for s in ("train", "val", "test")}

    def train_epoch(self, model, optimizer) -> float:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        logits = model(self.graph, self.feat)
        loss = F.cross_entropy(logits[self.masks["train"]], self.label[self.masks["train"]])
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self, model, splits=("val", "test")) -> Dict[str, Dict[str, float]]:
        model.eval()
        logits = model(self.graph, self.feat)
        out = {}
        for split in splits:
            mask = self.masks[split]
            out[split] = {
                "loss": F.cross_entropy(logits[mask], self.label[mask]).item(),
                "accuracy": (logits[mask].argmax(-1) == self.label[mask]).float().mean().item(),
            }
        return out


def build_node_classifier(graph, model_name: str, num_layers: int, seed: int = 0, *, hidden: int = 64,
                          dropout: float = 0.5, **model_options) -> torch.nn.Module:
    """Seed everything with ``seed``, then build preset ``model_name`` for ``graph`` (input size and classes read from it).

    Parameters
    ----------
    graph : dgl.DGLGraph
        With ``ndata['feat']`` ``(N, F)`` and ``ndata['label']`` ``(N,)``.
    model_name : str
        A registered model preset (``"gcn"``, ``"res-gcn"``, ``"gcn-ssm"``, ...).
    num_layers, seed, hidden, dropout
        Depth, seed, width and dropout.
    **model_options
        Passed to :func:`~dgl_ssm.models.build_model` (``block_options``, ``activation``, ``checkpoint``, ...).

    Examples
    --------
    >>> import dgl, torch
    >>> from dgl_ssm.data import grid_graph
    >>> g = dgl.add_self_loop(grid_graph(3, 3)); g.ndata["label"] = torch.arange(9) % 4
    >>> model = build_node_classifier(g, "gcn-ssm", 4, hidden=8)
    >>> model.num_layers, model.decoder.out_features
    (4, 4)
    """
    from ..data import node_task_info
    from .build import seeded_build

    info = node_task_info(graph)
    return seeded_build(seed, model_name, info.in_feats, hidden, info.num_targets, num_layers, dropout=dropout,
                        **model_options)


def fit_node_classifier(
    graph,
    model,
    num_layers: Optional[int] = None,
    seed: Optional[int] = None,
    *,
    hidden: Optional[int] = None,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    optimizer: str = "adam",
    scheduler: str = "none",
    dropout: Optional[float] = None,
    max_epochs: int = 200,
    patience: int = 50,
    device="cpu",
    progress: bool = False,
    on_divergence: str = "raise",
    monitor: str = "metric",
    weight_decay_groups: Optional[Dict[str, float]] = None,
    run_dir=None,
    checkpoint_every_s: float = 0.0,
    should_stop=None,
    **model_options,
):
    """Train a node classifier on one graph (full batch, early stopping on validation accuracy or loss).

    A convenience over :func:`dgl_ssm.train.build.make_trainer` (the trainer every study cell uses).

    Parameters
    ----------
    graph : dgl.DGLGraph
        As required by :class:`NodeClassificationTask`.
    model : torch.nn.Module or str
        The model to train (built by the caller, e.g. with
        :func:`build_node_classifier`, so that the caller keeps the initial
        model), or a preset name: then the model is built here by
        :func:`build_node_classifier` with ``num_layers``, ``seed`` (default 0),
        ``hidden``, ``dropout`` and ``model_options``.
    num_layers : int, optional
        Depth :math:`L` (preset names only).
    seed : int, optional
        With a model: reseed everything before training (``None``: use the RNG as it is).
    hidden, dropout, **model_options
        Model settings (preset names only; ``hidden`` 64 and ``dropout`` 0.5 when not given). With a model object
        they are refused, not ignored: that model was built with its own.
    lr, weight_decay, weight_decay_groups, optimizer, scheduler, max_epochs, patience, monitor
        The optimizer (``"adam"`` or ``"adamw"``, :func:`~dgl_ssm.train.make_optimizer`), its schedule
        (:func:`~dgl_ssm.train.make_scheduler`, e.g. ``"cosine"`` over ``max_epochs``) and early stopping
        (``monitor``: ``"metric"``, validation accuracy, or ``"loss"``; see :class:`~dgl_ssm.train.Trainer`).
        The test accuracy is that of the best monitored epoch.
    device : str or torch.device
    progress : bool
    on_divergence : str
        ``"raise"`` or ``"record"``; see :meth:`~dgl_ssm.train.Trainer.fit`.
    run_dir : path, optional
        Checkpoints (and ``history.csv``) go here and an interrupted run continues from them exactly (the
        :class:`~dgl_ssm.train.Trainer`'s ``resume``); ``None``: no files.
    checkpoint_every_s : float
        At most one checkpoint per this many seconds (``0``: after every epoch).
    should_stop : callable, optional
        Asked after every epoch; a reason stops the run there (:class:`~dgl_ssm.train.Trainer`).

    Returns
    -------
    (torch.nn.Module, FitResult)
        The trained model (best validation state restored) and the fit result.

    Raises
    ------
    TypeError
        If a model object comes with ``num_layers``, ``hidden``, ``dropout`` or model options (they configure a
        build), or a preset name without ``num_layers``.
    ValueError
        On an unknown optimizer or scheduler, or another value out of range (:meth:`TrainProtocol.check`).
    TrainingInterrupted
        If ``should_stop`` gave a reason (the checkpoint of that epoch is in ``run_dir``).

    Examples
    --------
    A 4-layer GCN-SSM on Cora for 10 epochs (the studies train up to 200, with patience 50):

    >>> from dgl_ssm.data import load_node_graph
    >>> model, result = fit_node_classifier(load_node_graph("cora"), "gcn-ssm", num_layers=4, seed=0, max_epochs=10)
    >>> result.status, result.epochs_run, len(model.layers)
    ('ok', 10, 4)
    """
    from .build import make_trainer
    from .protocol import TrainProtocol

    if not isinstance(model, str):
        given = [name for name, value in (("num_layers", num_layers), ("hidden", hidden), ("dropout", dropout))
                 if value is not None] + sorted(model_options)
        if given:
            raise TypeError(f"fit_node_classifier: {', '.join(given)} configure a build, and this model is built: "
                            "pass them to build_node_classifier, or pass a preset name instead of a model")
    hidden = 64 if hidden is None else hidden
    dropout = 0.5 if dropout is None else dropout
    protocol = TrainProtocol(hidden=hidden, optimizer=optimizer, lr=lr, weight_decay=weight_decay, dropout=dropout,
                             activation=str(model_options.get("activation", "relu")), epochs=max_epochs,
                             patience=patience, scheduler=scheduler, monitor=monitor,
                             weight_decay_groups=dict(weight_decay_groups or {}))
    protocol.check("node")
    if isinstance(model, str):
        if num_layers is None:
            raise TypeError("fit_node_classifier: a preset name needs num_layers")
        model = build_node_classifier(graph, model, num_layers, 0 if seed is None else seed, hidden=hidden,
                                      dropout=dropout, **model_options)
    elif seed is not None:
        from ..experiment import seed_everything

        seed_everything(seed)
    model = model.to(device)
    task = NodeClassificationTask(graph, device)
    trainer = make_trainer(model, task, protocol, run_dir=run_dir, resume=run_dir is not None,
                           checkpoint_every_s=checkpoint_every_s, progress=progress, should_stop=should_stop)
    return model, trainer.fit(on_divergence=on_divergence)
