"""Benchmark: k-hop rewiring (``KHopRewire`` / ``rewire_dataset``) against networkx.

Two graph collections, each rewired at ``max_hop=8`` and ``max_hop=None``
(all finite distances):

(a) ``synthetic``: 7,040 seeded networkx graphs of 25-35 nodes, a mixture of
    Erdos-Renyi (p = 2.5/n, often disconnected) and Barabasi-Albert (m = 1 or 2);
(b) ``peptides-func``: the 15,535 LRGB Peptides-func molecules, built from the
    offline SMILES with ``ogb.utils.smiles2graph`` (the edge lists are cached
    under ``<data root>/bench/peptides_func_edges.npz``, ~80 s the first time).

Timed for dgl_ssm, two ways: ``KHopRewire`` on batched graphs of ``--chunk``
graphs in dataset order (batched graph in, rewired batched graph out; building
the input batches is not timed), and :func:`dgl_ssm.transforms.rewire_dataset`
from a list of DGL graphs to a list of rewired DGL graphs (this includes the
per-graph DGL overhead of reading edges and building one output graph each), on
consecutive blocks of ``--block`` graphs whose outputs are dropped after
counting (the full ``max_hop=None`` output of Peptides-func has ~350 M edges).
Timed for networkx: ``dict(all_pairs_shortest_path_length(G, cutoff))`` on
prebuilt ``nx.Graph`` objects (building them is *not* timed, which favours
networkx), on at most ``--nx-limit`` graphs; when that is a subset (a seeded
uniform sample), its per-graph time is extrapolated to the whole collection and
the output says so.
Both sides must find the same number of (ordered) pairs on the common graphs.
Wall-clock and CPU (process) times are both recorded: on a shared machine the
CPU-time ratio is the robust one. For ``max_hop=None`` most of the dgl_ssm time
is spent writing the ~30k pairs per peptide (and, on small VMs, in page faults
of that fresh memory: watch the ``sys`` time), not in the BFS itself.

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
from dgl_ssm.transforms import KHopRewire, rewire_dataset

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


class Clock:
    """Wall-clock and CPU (process) time of a block; the CPU time is robust to other jobs on the machine."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_transform(batches, max_hop):
    """``KHopRewire`` on prebuilt batched graphs (batched graph in, rewired batched graph out)."""
    transform, pairs = KHopRewire(max_hop), 0
    with Clock() as clock:
        for bg in batches:
            pairs += transform(bg).num_edges()
    return clock, pairs


def time_rewire_dataset(graphs, max_hop, block: int, chunk: int):
    """``rewire_dataset`` (list in, list out) on consecutive blocks; outputs are dropped after counting."""
    pairs = 0
    with Clock() as clock:
        for start in range(0, len(graphs), block):
            out = rewire_dataset(graphs[start : start + block], max_hop, chunk_size=chunk)
            pairs += sum(g.num_edges() for g in out)
            del out
    return clock, pairs


def time_networkx(nx_graphs, max_hop):
    pairs = 0
    with Clock() as clock:
        for g in nx_graphs:
            lengths = dict(nx.all_pairs_shortest_path_length(g, cutoff=max_hop))
            pairs += sum(len(d) - 1 for d in lengths.values())  # minus the node itself (distance 0)
    return clock, pairs


def bench(name, edge_lists, args):
    graphs = [dgl.graph((torch.from_numpy(e[:, 0]), torch.from_numpy(e[:, 1])), num_nodes=n) for n, e in edge_lists]
    batches = [dgl.batch(graphs[i : i + args.chunk]) for i in range(0, len(graphs), args.chunk)]
    n_nx = min(len(graphs), args.nx_limit)
    # networkx's sample: seeded and uniform over the collection (the first graphs of a dataset file are no sample)
    sample = np.sort(np.random.default_rng(0).choice(len(graphs), n_nx, replace=False))
    nx_graphs = []
    for n, e in (edge_lists[i] for i in sample):
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(e.tolist())
        nx_graphs.append(g)
    rows = []
    for max_hop in (8, None):
        theirs, nx_pairs = time_networkx(nx_graphs, max_hop)
        _, sub_pairs = time_transform([dgl.batch([graphs[i] for i in sample])], max_hop)
        if nx_pairs != sub_pairs:
            raise AssertionError(f"{name} max_hop={max_hop}: networkx found {nx_pairs} pairs, dgl_ssm {sub_pairs}")
        transform, pairs = time_transform(batches, max_hop)
        dataset, dataset_pairs = time_rewire_dataset(graphs, max_hop, args.block, args.chunk)
        assert dataset_pairs == pairs
        scale = len(graphs) / n_nx  # networkx extrapolated per graph when timed on a subset
        row = {
            "dataset": name,
            "max_hop": "all" if max_hop is None else max_hop,
            "graphs": len(graphs),
            "mean_nodes": float(np.mean([g.num_nodes() for g in graphs])),
            "pairs": pairs,
            "networkx_graphs_timed": n_nx,
            "networkx_extrapolated": n_nx < len(graphs),
        }
        for key, clock in (("transform", transform), ("rewire_dataset", dataset)):
            row[f"{key}_wall_s"], row[f"{key}_cpu_s"] = clock.wall, clock.cpu
            row[f"{key}_graphs_per_s"] = len(graphs) / clock.wall
            row[f"{key}_speedup_wall"] = theirs.wall * scale / clock.wall
            row[f"{key}_speedup_cpu"] = theirs.cpu * scale / clock.cpu
        row["networkx_wall_s_full_estimate"] = theirs.wall * scale
        row["networkx_cpu_s_full_estimate"] = theirs.cpu * scale
        row["networkx_graphs_per_s"] = n_nx / theirs.wall
        rows.append(row)
        note = f" [networkx timed on {n_nx} graphs, extrapolated per graph]" if n_nx < len(graphs) else ""
        print(
            f"{name:14s} max_hop={row['max_hop']!s:>3}: KHopRewire {row['transform_graphs_per_s']:7.0f} graphs/s "
            f"(x{row['transform_speedup_wall']:.1f} wall, x{row['transform_speedup_cpu']:.1f} cpu), rewire_dataset "
            f"{row['rewire_dataset_graphs_per_s']:7.0f} graphs/s (x{row['rewire_dataset_speedup_wall']:.1f} wall, "
            f"x{row['rewire_dataset_speedup_cpu']:.1f} cpu), networkx {row['networkx_graphs_per_s']:6.0f} graphs/s, "
            f"{pairs} pairs{note}",
            flush=True,
        )
    return rows


def markdown(rows) -> str:
    lines = [
        "| dataset | max_hop | graphs | mean nodes | pairs | networkx graphs/s | KHopRewire graphs/s | speed-up "
        "(wall / CPU) | rewire_dataset graphs/s | speed-up (wall / CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        star = "*" if r["networkx_extrapolated"] else ""
        lines.append(
            f"| {r['dataset']} | {r['max_hop']} | {r['graphs']} | {r['mean_nodes']:.1f} | {r['pairs']} | "
            f"{r['networkx_graphs_per_s']:.0f}{star} | {r['transform_graphs_per_s']:.0f} | "
            f"{r['transform_speedup_wall']:.1f}x / {r['transform_speedup_cpu']:.1f}x | "
            f"{r['rewire_dataset_graphs_per_s']:.0f} | "
            f"{r['rewire_dataset_speedup_wall']:.1f}x / {r['rewire_dataset_speedup_cpu']:.1f}x |"
        )
    lines.append(
        "\nKHopRewire: batched graphs of `--chunk` graphs in, rewired batched graphs out. rewire_dataset: list of "
        "graphs in, list of rewired graphs out (includes building one DGLGraph per graph). networkx: "
        "`all_pairs_shortest_path_length(G, cutoff=max_hop)` on prebuilt nx.Graph objects. Speed-ups use the "
        "wall-clock or the CPU (process) time of both sides; CPU time is the robust one on a shared machine."
    )
    if any(r["networkx_extrapolated"] for r in rows):
        lines.append("\n\\* networkx timed on a subset (`networkx_graphs_timed`) and extrapolated per graph.")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/bench_khop", help="output folder (JSON + Markdown)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N graphs of each collection")
    p.add_argument("--nx-limit", type=int, default=3000, help="time networkx on at most this many graphs")
    p.add_argument("--block", type=int, default=2048, help="graphs per rewire_dataset call (outputs dropped)")
    p.add_argument("--chunk", type=int, default=512, help="graphs per batched KHopRewire call / rewire_dataset chunk")
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
