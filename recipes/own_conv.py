"""Wrap your own DGL convolution in ``SSMConv`` and train it deep: SAGEConv, GINConv and a convolution written here
with DGL's message-passing API (``update_all``), 32 layers on Cora, each with and without the state-space wrapper.

    python recipes/own_conv.py --layers 32 --seeds 3
    python recipes/own_conv.py --conv mean --layers 64 --state-transition 1.0 --input-matrix 0.1

``SSMConv(conv, dim, matrices=shared)`` turns any F_θ mapping (N, d) to (N, d) into the layer
H_{k+1} = H_k Λᵀ + σ(F_θ(G, H_k)) Bᵀ (Arroyo et al. 2025, arXiv:2502.10818, Eq. 9), with one pair (Λ, B) shared by
every layer (``StateSpaceMatrices``). Without it, the same convs are stacked as H_{k+1} = σ(F_θ(G, H_k)). Training
uses the package's ``Trainer`` and ``NodeClassificationTask`` with the ``planetoid_shared`` protocol's optimiser
(``--protocol``): ``fit_cell`` trains the packaged presets, this recipe shows the model you write yourself.
Writes ``results.csv`` and ``accuracy.png`` into ``--out``.
"""
from __future__ import annotations

import argparse

import dgl.function as fn
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from dgl.nn import GINConv, SAGEConv
from torch import nn

from dgl_ssm.data import load_node_graph, node_task_info
from dgl_ssm.experiment import check_output_folder, exit_on_error, resolve_device, seed_everything
from dgl_ssm.nn import SSMConv, StateSpaceMatrices
from dgl_ssm.train import NodeClassificationTask, Trainer, load_protocol, make_optimizer


class MeanConv(nn.Module):
    """A user-written convolution: h_v' = W · mean_{u ∈ N(v)} h_u, with DGL's ``update_all``."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, graph, feat):
        with graph.local_scope():
            graph.ndata["h"] = feat
            graph.update_all(fn.copy_u("h", "m"), fn.mean("m", "h"))
            return self.linear(graph.ndata["h"])


CONVS = {
    "sage": lambda d: SAGEConv(d, d, "mean"),
    "gin": lambda d: GINConv(nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))),
    "mean": MeanConv,
}


class DeepStack(nn.Module):
    """Linear encoder → ``layers`` convs (wrapped in ``SSMConv`` or plain, ReLU after each) → linear decoder."""

    def __init__(self, conv: str, in_feats: int, dim: int, classes: int, layers: int, ssm: bool, *,
                 state_transition: float, input_matrix: float, dropout: float):
        super().__init__()
        self.encoder, self.decoder, self.dropout, self.ssm = nn.Linear(in_feats, dim), nn.Linear(dim, classes), nn.Dropout(dropout), ssm
        shared = StateSpaceMatrices(dim, state_transition=state_transition, input_matrix=input_matrix) if ssm else None
        self.layers = nn.ModuleList(
            SSMConv(CONVS[conv](dim), dim, matrices=shared, activation=torch.relu) if ssm else CONVS[conv](dim)
            for _ in range(layers))

    def forward(self, graph, feat):
        h = self.dropout(self.encoder(feat))
        for layer in self.layers:
            h = layer(graph, h) if self.ssm else torch.relu(layer(graph, h))
        return self.decoder(self.dropout(h))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conv", nargs="+", choices=list(CONVS), help=f"default: {' '.join(CONVS)}")
    p.add_argument("--layers", type=int, help="default 32")
    p.add_argument("--seeds", type=int, help="default 3")
    p.add_argument("--state-transition", type=float, default=1.0, help="Λ = λI (edge of chaos: λ ≈ 1)")
    p.add_argument("--input-matrix", type=float, default=0.1, help="B = bI")
    p.add_argument("--protocol", default="planetoid_shared", help="optimiser, lr, weight decay, epochs, patience, hidden, dropout")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/own_conv")
    p.add_argument("--quick", action="store_true", help="a smoke run: 3 epochs; by default the user-written conv only, 8 layers, 1 seed")
    return p.parse_args(argv)


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    out = check_output_folder(args.out, "--out ")
    defaults = (["mean"], 8, 1) if args.quick else (list(CONVS), 32, 3)  # what the flags, when given, replace
    convs, layers, seeds = (given if given is not None else default
                            for given, default in zip((args.conv, args.layers, args.seeds), defaults))
    protocol = load_protocol(args.protocol, **({"epochs": 3} if args.quick else {}))
    device = resolve_device(args.device)
    graph = load_node_graph("cora")
    info, rows = node_task_info(graph), []
    for conv in convs:
        for ssm in (True, False):
            for seed in range(seeds):
                seed_everything(seed)
                model = DeepStack(conv, info.in_feats, protocol.hidden, info.num_targets, layers, ssm, dropout=protocol.dropout,
                                  state_transition=args.state_transition, input_matrix=args.input_matrix).to(device)
                optimizer = make_optimizer(model, protocol.optimizer, lr=protocol.lr, weight_decay=protocol.weight_decay)
                trainer = Trainer(model, NodeClassificationTask(graph, device), optimizer, max_epochs=protocol.epochs,
                                  patience=protocol.patience, monitor=protocol.monitor, progress=False)
                result = trainer.fit(on_divergence="record")
                rows.append({"conv": conv, "ssm": ssm, "seed": seed, "status": result.status,
                             "test_accuracy": result.test.get("accuracy", float("nan"))})
                print(f"{conv} {'in SSMConv' if ssm else 'plain'}, {layers} layers, seed {seed}: "
                      f"test accuracy {100 * rows[-1]['test_accuracy']:.1f}% ({result.status})")
    frame = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    table = frame.pivot_table(index="conv", columns="ssm", values="test_accuracy", aggfunc="mean") * 100
    print(table.rename(columns={True: "SSMConv", False: "plain"}).round(1).to_markdown())

    fig, ax = plt.subplots(figsize=(5, 3.5))
    table.rename(columns={True: f"SSMConv (λ={args.state_transition}, b={args.input_matrix})", False: "plain"}).plot.bar(ax=ax, rot=0)
    ax.set(ylabel="test accuracy (%)", xlabel="", title=f"{layers} layers on Cora")
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=120)
    print(f"wrote {out / 'results.csv'} and {out / 'accuracy.png'}")
    return frame


if __name__ == "__main__":
    exit_on_error(main)  # a bad value, missing data, no CUDA: one line
