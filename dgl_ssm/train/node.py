"""Full-graph (transductive) node classification as a :class:`~dgl_ssm.train.trainer.Task`."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

__all__ = ["NodeClassificationTask", "fit_node_classifier"]


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


def fit_node_classifier(
    graph,
    model_name: str,
    num_layers: int,
    seed: int = 0,
    *,
    hidden: int = 64,
    lr: float = 0.01,
    weight_decay: float = 5e-4,
    dropout: float = 0.5,
    max_epochs: int = 200,
    patience: int = 50,
    device="cpu",
    progress: bool = False,
    on_divergence: str = "raise",
    **model_options,
):
    """Build ``model_name`` with :func:`~dgl_ssm.models.build_model` and train it on one node-classification graph.

    Seeds everything with ``seed`` first, so the call is reproducible on CPU.

    Parameters
    ----------
    graph : dgl.DGLGraph
        As required by :class:`NodeClassificationTask`.
    model_name : str
        A registered model preset (``"gcn"``, ``"res-gcn"``, ``"gcn-ssm"``, ...).
    num_layers : int
        Depth :math:`L`.
    seed : int
    hidden, lr, weight_decay, dropout, max_epochs, patience
        Model width, Adam settings, dropout and early stopping.
    device : str or torch.device
    progress : bool
    on_divergence : str
        ``"raise"`` or ``"record"``; see :meth:`~dgl_ssm.train.Trainer.fit`.
    **model_options
        Passed to :func:`~dgl_ssm.models.build_model` (``block_options``, ``activation``, ``checkpoint``, ...).

    Returns
    -------
    (torch.nn.Module, FitResult)
        The trained model (best validation state restored) and the fit result.
    """
    from ..experiment import seed_everything
    from ..models import build_model
    from .trainer import Trainer, make_optimizer

    seed_everything(seed)
    num_classes = int(graph.ndata["label"].max()) + 1
    model = build_model(model_name, graph.ndata["feat"].shape[1], hidden, num_classes, num_layers, dropout=dropout, **model_options)
    model = model.to(device)
    task = NodeClassificationTask(graph, device)
    trainer = Trainer(model, task, make_optimizer(model, "adam", lr, weight_decay), max_epochs=max_epochs, patience=patience, progress=progress)
    return model, trainer.fit(on_divergence=on_divergence)
