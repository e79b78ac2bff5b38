"""Benchmark: effective resistance (``dgl_ssm.analysis``) against networkx, on Peptides-func molecules.

Why our own code, with networkx as the test oracle: it takes DGL graphs and batches directly, works per connected
component (``inf`` across components instead of an error), and should not be slower. Two measurements on the first
``--molecules`` Peptides-func molecules (``peptides_subset``, ogb's ``smiles2graph``), one thread, alternating:

(a) the total effective resistance (Kirchhoff index) of every molecule: ``total_effective_resistance(batch,
    per_graph=True)`` against ``nx.effective_graph_resistance(G)`` per molecule (the ``nx.Graph`` objects prebuilt,
    not timed; disconnected molecules left out, where networkx returns ``inf`` too);
(b) all-pairs resistances of each molecule: ``resistance_distances(g, all nodes)`` against
    ``nx.resistance_distance(G)`` (every pair, a dict of dicts), on the connected ones.

Both sides must agree (largest relative difference recorded). Targets: ours at least as fast (CPU-time ratio
networkx / ours >= 1).
"""
from __future__ import annotations

from _common import interleaved, parser, peptides_subset, ratio, summarize, target, write_results  # isort: skip  (sets env first)

import math

import dgl
import networkx as nx
import numpy as np

import dgl_ssm


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--molecules", type=int, default=None, help="first Peptides-func molecules (default 256; 32 with --quick)")
    args = p.parse_args(argv)
    n = args.molecules or (32 if args.quick else 256)
    if n < 2:
        raise SystemExit(f"error: --molecules must be >= 2, got {n}")
    dgl_ssm.configure_threads(args.threads)
    from dgl_ssm.analysis import resistance_distances, total_effective_resistance

    graphs = [g for g, _ in peptides_subset(n)]
    nx_graphs = []
    for g in graphs:
        G = nx.Graph()
        G.add_nodes_from(range(g.num_nodes()))
        G.add_edges_from((u, v) for u, v in zip(*(t.tolist() for t in g.edges())) if u != v)
        nx_graphs.append(G)
    connected = [i for i, G in enumerate(nx_graphs) if nx.is_connected(G)]
    batch = dgl.batch([graphs[i] for i in connected])

    def ours_total():
        return total_effective_resistance(batch, per_graph=True).numpy()

    def nx_total():
        return np.array([nx.effective_graph_resistance(nx_graphs[i]) for i in connected])

    def ours_pairs():
        return [resistance_distances(graphs[i], range(graphs[i].num_nodes())).numpy() for i in connected]

    def nx_pairs():
        return [nx.resistance_distance(nx_graphs[i]) for i in connected]

    diff_total = float(np.max(np.abs(ours_total() - nx_total()) / nx_total()))
    diff_pairs = 0.0
    for mine, theirs in zip(ours_pairs(), nx_pairs()):
        for u, row in theirs.items():
            for v, r in row.items():
                if u != v:
                    diff_pairs = max(diff_pairs, abs(mine[u, v] - r) / r)
    if not (diff_total < 1e-9 and diff_pairs < 1e-9 and all(map(math.isfinite, ours_total()))):
        raise SystemExit(f"error: ours and networkx disagree (largest relative difference: totals {diff_total:.2e}, "
                         f"pairs {diff_pairs:.2e}); a timing of different results would mean nothing")

    repeats = args.repeats or (2 if args.quick else 5)
    totals = interleaved({"ours": ours_total, "networkx": nx_total}, repeats)
    pairs = interleaved({"ours": ours_pairs, "networkx": nx_pairs}, repeats)
    m = len(connected)
    rows = [
        target("resistance", f"total effective resistance of {m} Peptides-func molecules: networkx / ours (CPU time)",
               ratio(totals["networkx"]["cpu"], totals["ours"]["cpu"]), at_least=1.0),
        target("resistance", f"all-pairs effective resistances of {m} Peptides-func molecules: networkx / ours "
               "(CPU time)", ratio(pairs["networkx"]["cpu"], pairs["ours"]["cpu"]), at_least=1.0),
    ]
    details = {"molecules": n, "connected": m, "repeats": repeats, "max_relative_difference_total": diff_total,
               "max_relative_difference_pairs": diff_pairs, "median_ms": {"total": summarize(totals),
                                                                         "pairs": summarize(pairs)}}
    write_results(args.out, "resistance", rows, details)


if __name__ == "__main__":
    main()
