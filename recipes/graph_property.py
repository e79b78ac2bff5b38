"""Graph property prediction (diameter, single-source shortest paths, eccentricity) with k-hop rewiring: the seed
paper's Table 1 task (Arroyo et al. 2025; data and protocol of Gravina et al. 2023).

    python recipes/graph_property.py --task diameter --model kgcn-ssm --layers 10 --seeds 4
    python recipes/graph_property.py --task sssp --model gcn-ssm --options '{"block_options": {"state_transition": "uniform", "r_min": 0.95, "r_max": 1.0}}'

The data are generated graphs (``GraphPropertyDataset``, seed 0, ``--sizes`` train / validation / test graphs). A
model that reads k-hop rings (``kgcn-ssm``, ``khop-gcn``, ``drew-gcn``, ...) gets them from ``KHopRewire(max_hop)``
as a cached pre-transform, before the self-loops: ``rewiring`` decides the radius once, for the data and the model.
Graphs are batched by DGL's ``GraphDataLoader`` (``GraphTask``). Each cell is ``dgl_ssm.train.fit_cell``, the function
the study engine trains ``study=graphprop`` with. Metric: log10 of the test MSE (targets scaled by the training
maximum); lower is better. Writes ``results.csv`` and ``log10_mse.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from tqdm import tqdm

from dgl_ssm.data import GRAPH_PROPERTY_TASKS
from dgl_ssm.experiment import check_output_folder, exit_on_error, resolve_device
from dgl_ssm.models import PRESETS
from dgl_ssm.train import DataOptions, fit_cell, load_protocol
from dgl_ssm.train.cell import graph_datasets, rewiring


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", nargs="+", default=["diameter"], choices=GRAPH_PROPERTY_TASKS)
    p.add_argument("--model", nargs="+", default=["gcn", "kgcn-ssm"], help=f"presets: {', '.join(sorted(PRESETS))}")
    p.add_argument("--layers", type=int, help="default 10")
    p.add_argument("--seeds", type=int, help="default 4")
    p.add_argument("--sizes", type=int, nargs=3, help="train, validation, test graphs (default 5120 640 1280)")
    p.add_argument("--protocol", default="gravina2023", help="a file of dgl_ssm/conf/protocol/")
    p.add_argument("--options", default="{}", help="options of every model, as JSON")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/graph_property")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 epochs; by default 64 / 16 / 16 graphs, 1 seed, 3 layers")
    return p.parse_args(argv)


def setup(args):
    """``(protocol, [(task, model, layers, seed, kwargs of fit_cell)])``."""
    protocol = load_protocol(args.protocol, **({"epochs": 2} if args.quick else {}))
    defaults = ((64, 16, 16), 1, 3) if args.quick else ((5120, 640, 1280), 4, 10)  # what the flags, when given, replace
    sizes, seeds, layers = (given if given is not None else default
                            for given, default in zip((args.sizes, args.seeds, args.layers), defaults))
    sizes = tuple(sizes)
    data, options = DataOptions(sizes=sizes), json.loads(args.options)
    cells = [(task, model, layers, seed, dict(options=options, data=data, device=resolve_device(args.device)))
             for task in args.task for model in args.model for seed in range(seeds)]
    return protocol, cells


def main(argv=None) -> pd.DataFrame:
    args = parse_args(argv)
    out = check_output_folder(args.out, "--out ")
    protocol, cells = setup(args)
    for model in args.model:  # what each model reads: the graphs with or without k-hop rings
        rewire, _ = rewiring(model, json.loads(args.options), protocol.max_hop)
        sets, _ = graph_datasets(cells[0][0], cells[0][4]["data"], rewire)
        g, _ = sets["train"][0]
        print(f"{model}: {'KHopRewire(max_hop=%d)' % rewire.max_hop if rewire else 'no rewiring'}; first training graph "
              f"{g.num_nodes()} nodes, {g.num_edges()} edges" + (f", hops {sorted(set(g.edata['hop'].tolist()))}" if rewire else ""))
    rows = []
    for task, model, layers, seed, kwargs in tqdm(cells, desc="cells"):
        row = fit_cell(task, model, layers, seed, protocol, **kwargs)
        rows.append({"task": task, "model": model, "layers": layers, "seed": seed, **row})
    frame = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    table = frame.pivot_table(index="model", columns="task", values="test_log10_mse", aggfunc=["mean", "std"])
    print(table.round(3).to_markdown())

    fig, ax = plt.subplots(figsize=(5, 3.5))
    frame.groupby(["task", "model"])["test_log10_mse"].mean().unstack("model").plot.bar(ax=ax, rot=0)
    ax.set(ylabel="test log10 MSE (lower is better)", xlabel="")
    fig.tight_layout()
    fig.savefig(out / "log10_mse.png", dpi=120)
    print(f"wrote {out / 'results.csv'} and {out / 'log10_mse.png'}")
    return frame


if __name__ == "__main__":
    exit_on_error(main)  # a bad value, missing data, no CUDA: one line
