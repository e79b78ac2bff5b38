"""Node classification against depth: any model, on Cora, CiteSeer, Texas, Cornell or Wisconsin, with a published
training protocol.

    python recipes/node_depth.py --model kipf-gcn --dataset cora --layers 2 --seeds 3
    python recipes/node_depth.py --model gcn-ssm --dataset cora --layers 2 8 32 --seeds 3 \
        --options '{"block_options": {"state_transition": 1.0, "input_matrix": 0.1}}'
    python recipes/node_depth.py --model gcnii --dataset texas --layers 32 --seeds 10   # 10 Geom-GCN splits

Every cell (one depth, one seed) is built, seeded and trained by ``dgl_ssm.train.fit_cell``, the function the study
engine (``python -m dgl_ssm.studies``) trains its cells with: same data, same initial weights, same first epoch. The
protocol is a file of ``dgl_ssm/conf/protocol/`` (``--protocol``); without it, the one the packaged studies use for
this model on this dataset (``kipf2017`` for ``kipf-gcn``, ``chen2020_gcnii_<dataset>`` for ``gcnii``, ...). Geom-GCN
graphs (Texas, Cornell, Wisconsin) use split ``seed % 10``; Cora and CiteSeer have one split, seeds vary the weights.
Writes ``results.csv`` and ``accuracy_vs_depth.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt
import pandas as pd
from tqdm import tqdm

from dgl_ssm.experiment import check_output_folder, exit_on_error, resolve_device
from dgl_ssm.models import PRESETS
from dgl_ssm.train import DataOptions, default_protocol, fit_cell, load_protocol

DATASETS = ("cora", "citeseer", "texas", "cornell", "wisconsin")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="kipf-gcn", help=f"a preset: {', '.join(sorted(PRESETS))}")
    p.add_argument("--dataset", default="cora", choices=DATASETS)
    p.add_argument("--layers", type=int, nargs="+", help="message-passing layers, one cell each (default 2 8 32)")
    p.add_argument("--seeds", type=int, help="default 3")
    p.add_argument("--protocol", default=None, help="a file of dgl_ssm/conf/protocol/ (default: the studies' choice)")
    p.add_argument("--options", default="{}", help="the preset's options as JSON, e.g. '{\"alpha\": 0.1}'")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/node_depth")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 epochs; by default 1 seed, depths 2 and 4")
    return p.parse_args(argv)


def setup(args):
    """The protocol and the keyword arguments of every cell: ``[(layers, seed, kwargs of fit_cell)]``."""
    try:
        name = args.protocol or default_protocol(args.model, args.dataset)
        protocol = load_protocol(name, **({"epochs": 2} if args.quick else {}))
    except ValueError as err:
        sys.exit(f"error: {err} (--protocol NAME)")
    defaults = ([2, 4], 1) if args.quick else ([2, 8, 32], 3)  # what --layers and --seeds, when given, replace
    layers, seeds = (given if given is not None else default for given, default in zip((args.layers, args.seeds), defaults))
    options = json.loads(args.options)
    cells = [(n, seed, dict(options=options, data=DataOptions(), device=resolve_device(args.device)))
             for n in layers for seed in range(seeds)]
    return name, protocol, cells


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    out = check_output_folder(args.out, "--out ")
    name, protocol, cells = setup(args)
    print(f"{args.model} on {args.dataset}, protocol {name}: hidden {protocol.hidden}, lr {protocol.lr}, "
          f"<= {protocol.epochs} epochs")
    rows = []
    for layers, seed, kwargs in tqdm(cells, desc="cells"):
        row = fit_cell(args.dataset, args.model, layers, seed, protocol, **kwargs)
        rows.append({"layers": layers, "seed": seed, **row})
    frame = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    table = frame.groupby("layers")["test_accuracy"].agg(["mean", "std", "count"]) * [100, 100, 1]
    print(table.round(1).to_markdown())

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(table.index, table["mean"], yerr=table["std"].fillna(0), marker="o", capsize=3)
    ax.set(xscale="log", xlabel="layers", ylabel="test accuracy (%)", title=f"{args.model} on {args.dataset}")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_depth.png", dpi=120)
    print(f"wrote {out / 'results.csv'} and {out / 'accuracy_vs_depth.png'}")
    return frame


if __name__ == "__main__":
    exit_on_error(main)  # a bad value, missing data, no CUDA: one line
