"""Plain GCNII on WebKB under the authors' preprocessings (history: written to explain a "miss" that was a citation
error: the published WebKB numbers are GCNII*'s, which study=webkb reproduces; docs/results.md). The same GCNII (authors' configuration, 10 Geom-GCN splits, one
run per split) on the graph as ``load_node_graph`` gives it and on three preprocessings.

- ``as_loaded``: the Geom-GCN edge file as DGL reads it (a node aggregates its in-neighbours), raw 0/1 features;
- ``row_norm``: features divided by their row sum (chennnM/GCNII ``process.py``, ``preprocess_features``), with
  DGL's ``RowFeatNormalizer``;
- ``row_norm_reversed``: also the edges reversed, so that a node aggregates its out-neighbours, as the authors'
  ``torch.spmm(adj, x)`` does on ``nx.adjacency_matrix`` of the directed graph (with ``GCN2Conv``'s in-degree
  normalisation on both sides this is their ``sys_normalized_adjacency`` exactly);
- ``row_norm_undirected``: row-normalised features on the symmetrised graph (not what the authors' code does).

``python benchmarks/inspect_webkb_gcnii.py [texas|cornell|wisconsin]`` writes
``results/webkb_preprocessing/<dataset>.csv`` (one row per variant and split) and ``<dataset>.json``
(means, commit, command, machine, versions, wall time). Quoted in docs/results.md.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dgl

#: the authors' full-supervised configuration per dataset (full.sh): depth, lambda, weight decay; alpha 0.5
CONFIG = {"texas": (32, 1.5, 1e-4), "cornell": (16, 1.0, 1e-3), "wisconsin": (16, 1.0, 5e-4)}
VARIANTS = ("as_loaded", "row_norm", "row_norm_reversed", "row_norm_undirected")


def prepare(graph, variant: str):
    """The graph of one variant (self-loops as loaded: exactly one per node)."""
    if variant != "as_loaded":
        graph.ndata["feat"] = graph.ndata["feat"].clone()
        graph = dgl.transforms.RowFeatNormalizer(node_feat_names=["feat"])(graph)
    if variant == "row_norm_reversed":
        graph = dgl.reverse(graph, copy_ndata=True)
    if variant == "row_norm_undirected":
        graph = dgl.add_self_loop(dgl.to_bidirected(dgl.remove_self_loop(graph), copy_ndata=True))
    return graph


def main(name: str = "texas", out: str = "results/webkb_preprocessing") -> dict:
    import dgl_ssm
    from dgl_ssm.data import load_node_graph
    from dgl_ssm.train import fit_node_classifier

    dgl_ssm.configure_threads(1)
    depth, lambda_, weight_decay = CONFIG[name]
    start, rows = time.time(), []
    for variant in VARIANTS:
        for split in range(10):
            graph = prepare(load_node_graph(name, split=split), variant)
            _, fit = fit_node_classifier(graph, "gcnii", depth, split, hidden=64, lr=0.01, weight_decay=weight_decay,
                                         dropout=0.5, max_epochs=1500, patience=100, monitor="loss", alpha=0.5,
                                         lambda_=lambda_)
            rows.append({"dataset": name, "variant": variant, "split": split, "best_epoch": fit.best_epoch,
                         "test_accuracy": fit.test["accuracy"]})
            print(rows[-1], flush=True)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.to_csv(folder / f"{name}.csv", index=False)
    summary = frame.groupby("variant", sort=False)["test_accuracy"].agg(["mean", "std"]).mul(100).round(1)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"dataset": name, "depth": depth, "test_accuracy_percent": summary.to_dict("index"),
              "commit": commit, "command": "python benchmarks/inspect_webkb_gcnii.py " + name,
              "wall_time_s": round(time.time() - start, 1), "versions": {"dgl": dgl.__version__,
              "torch": __import__("torch").__version__, "dgl_ssm": dgl_ssm.__version__},
              "machine": __import__("platform").platform()}
    (folder / f"{name}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main(*sys.argv[1:2])
