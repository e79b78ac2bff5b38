"""Subnormal floats in deep-GNN training on CPU: the share of subnormal gradient entries of a checkpointed cell, and
its training-step time with IEEE subnormals against flush-to-zero (``torch.set_flush_denormal(True)``).

Written when GCNII at 512 layers (``study=depth_lipschitz``, Cora) slowed from about 4.4 s per epoch at epoch 250
to about 10 s at epoch 600 with no change of load, RSS or workload: as the gradients vanish, more of them fall below
float32's smallest normal number (1.2·10⁻³⁸), and x86 cores handle subnormal operands in microcode. Flush-to-zero
sets them to 0, which changes results below that magnitude; the project does not use it (an option would have to
be part of a cell's identity, and diagnostics that measure vanishing gradients must keep the subnormals).

``python benchmarks/inspect_denormal.py results/depth_lipschitz/.checkpoints/gcnii-cora-512-0-<hash>/checkpoint.pt``
(the cell's configuration is GCNII at 512 layers, alpha 0.1, lambda 0.5, GCNII's Cora protocol; the checkpoint
folder exists only on the machine that trains the cell, and only until it is recorded). Prints, for the model as
initialised and as checkpointed: the largest share of subnormal entries among the parameters' gradients, and the
seconds per training step (forward and backward on the training nodes), FTZ off and on, median of 3 steps each,
alternating.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch
import yaml

import dgl_ssm
from dgl_ssm.train.cell import DataOptions, TrainProtocol, prepare_cell


def subnormal_share(t: torch.Tensor) -> float:
    a = t.detach().abs()
    return ((a > 0) & (a < torch.finfo(t.dtype).tiny)).float().mean().item()


def main(path: str, layers: int = 512) -> None:
    dgl_ssm.configure_threads(1)
    protocol = TrainProtocol.from_mapping(yaml.safe_load(open(dgl_ssm.__path__[0] + "/conf/protocol/chen2020_gcnii_cora.yaml")))
    cell = prepare_cell("cora", "gcnii", layers, 0, protocol, options={"alpha": 0.1, "lambda_": 0.5, "checkpoint": True},
                        data=DataOptions())
    model, graph = cell.model, cell.graph
    mask = graph.ndata["train_mask"]

    def step():
        model.train()
        model.zero_grad()
        out = model(graph, graph.ndata["feat"])
        torch.nn.functional.cross_entropy(out[mask], graph.ndata["label"][mask]).backward()

    for name, state in (("as initialised", None), ("checkpointed", torch.load(path, map_location="cpu", weights_only=False)["model"])):
        if state is not None:
            model.load_state_dict(state)
        times = {False: [], True: []}
        for _ in range(3):
            for ftz in (False, True):
                torch.set_flush_denormal(ftz)
                t0 = time.process_time()
                step()
                times[ftz].append(time.process_time() - t0)
        torch.set_flush_denormal(False)
        step()
        share = max(subnormal_share(p.grad) for p in model.parameters() if p.grad is not None)
        ieee, ftz = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name}: subnormal share of gradient entries {share:.3f}; step {ieee:.2f} s (IEEE) / {ftz:.2f} s "
              f"(flush-to-zero) = {ieee / ftz:.2f}x", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
