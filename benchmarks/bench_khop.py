"""Benchmark: k-hop rewiring (``KHopRewire`` / ``rewire_dataset``) against networkx.

Two graph collections, each rewired at ``max_hop=8`` and ``max_hop=None``
(all finite distances):

(a) ``synthetic``: 7,040 seeded networkx graphs of 25-35 nodes, a mixture of
    Erdos-Renyi (p = 2.5/n, often disconnected) and Barabasi-Albert (m = 1 or 2);
(b) ``peptides-func``: the 15,535 LRGB Peptides-func molecules, built from the
    offline SMILES with ``ogb.utils.smiles2graph`` (the edge lists are cached
    under ``<data root>/bench/peptides_func_edges.npz``, ~80 s the first time).

Timed for dgl_ssm: :func:`dgl_ssm.transforms.rewire_dataset` from a list of
DGL graphs to a list of rewired DGL graphs (batching, BFS, building the
output graphs with ``edata['hop']``, unbatching), on consecutive blocks of
``--block`` graphs whose outputs are dropped after counting (the full
``max_hop=None`` output of Peptides-func has ~350 M edges). Timed for
networkx: ``dict(all_pairs_shortest_path_length(G, cutoff))`` on prebuilt
``nx.Graph`` objects (building them is *not* timed, which favours networkx),
on at most ``--nx-limit`` graphs; when that is a subset, its per-graph time is
extrapolated to the whole collection and the output says so. Both sides must
find the same number of (ordered) pairs on the common graphs.

Usage::

    PYTHONPATH=. python benchmarks/bench_khop.py                  # full run
    PYTHONPATH=. python benchmarks/bench_khop.py --limit 500      # quick
"""
from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import dgl
import networkx as nx
import numpy as np
import torch

import dgl_ssm
from dgl_ssm.data.paths import data_root, raw_source, require_file
from dgl_ssm.experiment import atomic_write, write_json
from dgl_ssm.transforms import rewire_dataset

PEPTIDES_CSV = Path("lrgb") / "Peptides-func" / "peptide_multi_class_dataset.csv.gz"


def synthetic_edge_lists(num_graphs: int = 7040, seed: int = 0):
    """Seeded ER/BA mixture of 25-35 node graphs, as (num_nodes, (E, 2) int64 edge array)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num_graphs):
        n = int(rng.integers(25, 36))
        if i % 2 == 0:
            g = nx.gnp_random_graph(n, 2.5 / n, seed=int(rng.integers(2**31)))
        else:
            g = nx.barabasi_albert_graph(n, int(rng.integers(1, 3)), seed=int(rng.integers(2**31)))
        out.append((n, np.asarray(list(g.edges()), dtype=np.int64).reshape(-1, 2)))
    return out


def peptides_edge_lists(cache: Path, source: Path):
    """Peptides-func molecular graphs (undirected bonds as in ogb: both directions stored)."""
    if not cache.is_file():
        import pandas as pd
        from ogb.utils import smiles2graph

        csv = require_file(source / PEPTIDES_CSV, "It is part of the offline LRGB copy (../shared/data/lrgb).")
        with gzip.open(csv, "rt") as fh:
            smiles = pd.read_csv(fh)["smiles"].tolist()
        t0 = time.perf_counter()
        graphs = [smiles2graph(s) for s in smiles]
        print(f"smiles2graph on {len(graphs)} molecules: {time.perf_counter() - t0:.1f} s (cached to {cache})")
        nodes = np.array([g["num_nodes"] for g in graphs], dtype=np.int64)
        edges = np.array([g["edge_index"].shape[1] for g in graphs], dtype=np.int64)
        edge_index = np.concatenate([g["edge_index"].T for g in graphs]).astype(np.int64)
        atomic_write(cache, lambda tmp: np.savez(open(tmp, "wb"), nodes=nodes, edges=edges, edge_index=edge_index))
    data = np.load(cache)
    bounds = np.concatenate([[0], np.cumsum(data["edges"])])
    ei = data["edge_index"]
    return [(int(n), ei[bounds[i] : bounds[i + 1]]) for i, n in enumerate(data["nodes"])]


def time_dgl_ssm(graphs, max_hop, block: int, chunk: int):
    pairs, t0 = 0, time.perf_counter()
    for start in range(0, len(graphs), block):
        out = rewire_dataset(graphs[start : start + block], max_hop, chunk_size=chunk)
        pairs += sum(g.num_edges() for g in out)
        del out
    return time.perf_counter() - t0, pairs


def time_networkx(nx_graphs, max_hop):
    pairs, t0 = 0, time.perf_counter()
    for g in nx_graphs:
        lengths = dict(nx.all_pairs_shortest_path_length(g, cutoff=max_hop))
        pairs += sum(len(d) - 1 for d in lengths.values())  # minus the node itself (distance 0)
    return time.perf_counter() - t0, pairs


def bench(name, edge_lists, args):
    graphs = [dgl.graph((torch.from_numpy(e[:, 0]), torch.from_numpy(e[:, 1])), num_nodes=n) for n, e in edge_lists]
    n_nx = min(len(graphs), args.nx_limit)
    nx_graphs = []
    for n, e in edge_lists[:n_nx]:
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(e.tolist())
        nx_graphs.append(g)
    rows = []
    for max_hop in (8, None):
        # dgl_ssm on the networkx subset first (for the pair-count check), then on everything
        _, sub_pairs = time_dgl_ssm(graphs[:n_nx], max_hop, args.block, args.chunk)
        ours, pairs = time_dgl_ssm(graphs, max_hop, args.block, args.chunk)
        theirs, nx_pairs = time_networkx(nx_graphs, max_hop)
        if nx_pairs != sub_pairs:
            raise AssertionError(f"{name} max_hop={max_hop}: networkx found {nx_pairs} pairs, dgl_ssm {sub_pairs}")
        nx_per_graph = theirs / n_nx
        row = {
            "dataset": name,
            "max_hop": "all" if max_hop is None else max_hop,
            "graphs": len(graphs),
            "mean_nodes": float(np.mean([g.num_nodes() for g in graphs])),
            "pairs": pairs,
            "dgl_ssm_s": ours,
            "dgl_ssm_graphs_per_s": len(graphs) / ours,
            "networkx_graphs_timed": n_nx,
            "networkx_s_measured": theirs,
            "networkx_s_full_estimate": nx_per_graph * len(graphs),
            "networkx_extrapolated": n_nx < len(graphs),
            "networkx_graphs_per_s": 1.0 / nx_per_graph,
            "speedup": (nx_per_graph * len(graphs)) / ours,
        }
        rows.append(row)
        note = f" (networkx timed on {n_nx} graphs, extrapolated per graph)" if n_nx < len(graphs) else ""
        print(
            f"{name:14s} max_hop={row['max_hop']!s:>3}: dgl_ssm {row['dgl_ssm_graphs_per_s']:9.0f} graphs/s "
            f"({ours:.2f} s), networkx {row['networkx_graphs_per_s']:7.0f} graphs/s, "
            f"speed-up {row['speedup']:.1f}x, {pairs} pairs{note}",
            flush=True,
        )
    return rows


def markdown(rows) -> str:
    lines = [
        "| dataset | max_hop | graphs | mean nodes | pairs | dgl_ssm graphs/s | networkx graphs/s | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        star = "*" if r["networkx_extrapolated"] else ""
        lines.append(
            f"| {r['dataset']} | {r['max_hop']} | {r['graphs']} | {r['mean_nodes']:.1f} | {r['pairs']} | "
            f"{r['dgl_ssm_graphs_per_s']:.0f} | {r['networkx_graphs_per_s']:.0f}{star} | {r['speedup']:.1f}x |"
        )
    if any(r["networkx_extrapolated"] for r in rows):
        lines.append("\n\\* networkx timed on a subset (`networkx_graphs_timed`) and extrapolated per graph.")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/bench_khop", help="output folder (JSON + Markdown)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N graphs of each collection")
    p.add_argument("--nx-limit", type=int, default=3000, help="time networkx on at most this many graphs")
    p.add_argument("--block", type=int, default=4096, help="graphs per rewire_dataset call (outputs dropped)")
    p.add_argument("--chunk", type=int, default=1024, help="rewire_dataset chunk_size (graphs per batched BFS)")
    p.add_argument("--skip-peptides", action="store_true", help="only the synthetic collection")
    args = p.parse_args()
    dgl_ssm.configure_threads(1)

    collections = [("synthetic", synthetic_edge_lists())]
    if not args.skip_peptides:
        source = raw_source()
        if source is None:
            raise SystemExit("no offline data: set DGL_SSM_DATA (e.g. ../shared/data) or pass --skip-peptides")
        collections.append(("peptides-func", peptides_edge_lists(data_root() / "bench" / "peptides_func_edges.npz", source)))
    rows = []
    for name, edge_lists in collections:
        rows += bench(name, edge_lists[: args.limit], args)
    out = Path(args.out)
    write_json(out / "bench_khop.json", {"args": vars(args), "results": rows})
    atomic_write(out / "bench_khop.md", lambda tmp: Path(tmp).write_text(markdown(rows)))
    print(markdown(rows))
    print(f"written to {out}/bench_khop.json and bench_khop.md")


if __name__ == "__main__":
    main()
