"""Full-graph (transductive) node classification as a :class:`~dgl_ssm.train.trainer.Task`."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

__all__ = ["NodeClassificationTask"]


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
