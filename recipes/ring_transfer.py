"""RingTransfer: accuracy against ring size for the state transition matrix Λ = λI, the seed paper's Figure 5
(Arroyo et al. 2025): a label put at one node of a ring must reach the node opposite, n/2 hops away.

    python recipes/ring_transfer.py --sizes 10 20 30 --lambdas 1.0 0.9 0.5 --seeds 3

Each ring of n nodes is classified after n/2 layers of kGCN-SSM (k-hop rings at ``max_hop`` 3) with Λ = λI for every
``--lambdas`` value: the label arrives after a few layers and must then persist, which is where λ matters (λ ≈ 1: the
edge of chaos; λ = 0.5: the state decays). B = ``--input-matrix`` (the preset's I by default). Cells are
``dgl_ssm.train.fit_cell`` on the dataset ``"ring"`` (``RingTransferDataset``), as in ``study=ring_lambda``. Writes
``results.csv`` and ``accuracy_vs_ring_size.png`` into ``--out``.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from tqdm import tqdm

from dgl_ssm.experiment import check_output_folder, exit_on_error, resolve_device
from dgl_ssm.train import DataOptions, fit_cell, load_protocol


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", help="nodes per ring (default 10 20 30 40 50)")
    p.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 0.9, 0.75, 0.5], help="Λ = λI")
    p.add_argument("--input-matrix", type=float, default=None, help="B = bI (default: the preset's, I)")
    p.add_argument("--model", default="kgcn-ssm", help="an SSM preset with block_options")
    p.add_argument("--seeds", type=int, help="default 3")
    p.add_argument("--graphs", type=int, help="rings in the dataset, all splits (default 2000)")
    p.add_argument("--protocol", default="ring", help="a file of dgl_ssm/conf/protocol/")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/ring_transfer")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 epochs; by default rings of 6 and 10 nodes, 100 rings, 1 seed")
    return p.parse_args(argv)


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    out = check_output_folder(args.out, "--out ")
    protocol = load_protocol(args.protocol, **({"epochs": 2} if args.quick else {}))
    defaults = ([6, 10], 1, 100) if args.quick else ([10, 20, 30, 40, 50], 3, 2000)  # what the flags, when given, replace
    sizes, seeds, graphs = (given if given is not None else default
                            for given, default in zip((args.sizes, args.seeds, args.graphs), defaults))
    device, rows = resolve_device(args.device), []
    cells = [(n, lam, seed) for n in sizes for lam in args.lambdas for seed in range(seeds)]
    for n, lam, seed in tqdm(cells, desc="cells"):
        block = {"state_transition": lam, **({"input_matrix": args.input_matrix} if args.input_matrix is not None else {})}
        row = fit_cell("ring", args.model, n // 2, seed, protocol, options={"block_options": block},
                       data=DataOptions(ring_size=n, ring_graphs=graphs), device=device)
        rows.append({"ring_size": n, "lambda": lam, "seed": seed, **row})
    frame = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    table = frame.pivot_table(index="lambda", columns="ring_size", values="test_accuracy", aggfunc="mean") * 100
    print(table.round(1).to_markdown())

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for lam, curve in table.iterrows():
        ax.plot(curve.index, curve.values, marker="o", label=f"λ = {lam}")
    ax.set(xlabel="ring size n (nodes; n/2 layers)", ylabel="test accuracy (%)", title=args.model)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_ring_size.png", dpi=120)
    print(f"wrote {out / 'results.csv'} and {out / 'accuracy_vs_ring_size.png'}")
    return frame


if __name__ == "__main__":
    exit_on_error(main)  # a bad value, missing data, no CUDA: one line
