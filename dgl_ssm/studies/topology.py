"""Over-squashing's topology, without a model (``diagnostic.kind: resistance``): the effective resistance between the
nodes of real graphs (an LRGB dataset's first validation graphs, a node dataset's largest connected component), on
their own edges and after k-hop rewiring. Configuration and dispatch are
:mod:`dgl_ssm.studies.diagnostics`'s; the measure is :mod:`dgl_ssm.analysis.resistance`'s.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..experiment import write_csv

__all__ = ["run_resistance", "resistance_rows"]


def _topologies(graph, max_hops):
    """``[(name, graph)]``: the input graph, then its rewiring to each ``max_hop`` (every ring up to it joined)."""
    from ..transforms import KHopRewire

    return [("input graph", graph)] + [(f"rings 1..{k}", KHopRewire(k)(graph)) for k in max_hops]


def resistance_rows(graphs, max_hops) -> tuple:
    r"""``(by_distance, summary)`` rows for a list of graphs.

    For every unordered pair :math:`u < v` of nodes of one graph at shortest-path distance :math:`d` over the input
    graph's edges, its effective resistance :math:`R(u, v)` (:func:`~dgl_ssm.analysis.resistance_distances`) on the
    input graph and on each rewiring: mean, max and pair count by :math:`d` (pairs in different components left
    out). ``summary``: per topology, the number of graphs, their mean edge count (undirected, simple), mean total
    effective resistance (:func:`~dgl_ssm.analysis.total_effective_resistance`) and mean spectral gap
    (:func:`~dgl_ssm.analysis.spectral_gap`), both over the connected graphs of two nodes or more (counted), and the
    mean resistance over all connected pairs.
    """
    from scipy.sparse.csgraph import shortest_path

    from ..analysis import resistance_distances, spectral_gap
    from ..analysis._adjacency import simple_adjacency

    sums: dict = {}
    summary: dict = {}
    for graph in graphs:
        n = graph.num_nodes()
        hops = shortest_path(simple_adjacency(graph, "effective resistance"), unweighted=True, directed=False)
        upper = np.triu(np.isfinite(hops), k=1)
        dist = hops[upper].astype(np.int64)
        connected = n > 1 and int(upper.sum()) == n * (n - 1) // 2  # rewiring joins no two components
        for name, topo in _topologies(graph, max_hops):
            res = resistance_distances(topo, range(n)).numpy()[upper]
            for d in np.unique(dist):
                values = res[dist == d]
                row = sums.setdefault((name, int(d)), [0.0, 0.0, 0])
                row[0] += float(values.sum())
                row[1] = max(row[1], float(values.max()))
                row[2] += len(values)
            s = summary.setdefault(name, {"graphs": 0, "connected": 0, "edges": 0, "kirchhoff": 0.0, "gap": 0.0,
                                          "resistance": 0.0, "pairs": 0})
            s["graphs"] += 1
            s["edges"] += simple_adjacency(topo, "effective resistance").nnz // 2
            if connected:  # the Kirchhoff index is the sum over these very pairs (total_effective_resistance)
                s["connected"] += 1
                s["kirchhoff"] += float(res.sum())
                s["gap"] += float(spectral_gap(topo))
            s["resistance"] += float(res.sum())
            s["pairs"] += len(res)
    names = list(summary)
    by_distance = [{"topology": name, "distance": d, "mean_resistance": total / count, "max_resistance": peak,
                    "pairs": count}
                   for (name, d), (total, peak, count) in sorted(sums.items(), key=lambda kv: (names.index(kv[0][0]),
                                                                                                 kv[0][1]))]
    rows = [{"topology": name, "num_graphs": s["graphs"], "mean_edges": s["edges"] / s["graphs"],
             "connected_graphs": s["connected"],
             "mean_total_effective_resistance": s["kirchhoff"] / s["connected"] if s["connected"] else float("nan"),
             "mean_spectral_gap": s["gap"] / s["connected"] if s["connected"] else float("nan"),
             "mean_resistance": s["resistance"] / s["pairs"] if s["pairs"] else float("nan"), "pairs": s["pairs"]}
            for name, s in summary.items()]
    return by_distance, rows


def _graphs_of(name: str, d, data_root, data_dir) -> tuple:
    """``(graphs, what)``: an LRGB dataset's first ``d.batch_graphs`` validation graphs (made from the offline CSV,
    ``PeptidesDataset(limit=...)``), or a node dataset's largest connected component (its whole graph would have an
    infinite total resistance)."""
    from ..data import PEPTIDES, PeptidesDataset, load_node_graph
    from ..transforms import LargestComponent

    if name in PEPTIDES:
        ds = PeptidesDataset(name, "val", root=data_root, data_dir=data_dir, limit=d.batch_graphs)
        return [ds[i][0] for i in range(len(ds))], f"the first {len(ds)} validation graphs"
    graph = load_node_graph(name, self_loop=False, root=data_root, data_dir=data_dir)
    largest = LargestComponent()(graph)
    return [largest], f"its largest connected component ({largest.num_nodes()} of {graph.num_nodes()} nodes)"


def run_resistance(d, out: Path, device, data_root, data_dir, log) -> list:
    """Each dataset of ``d.graphs`` (:func:`_graphs_of`): effective resistances on its edges and on each rewiring of
    ``d.max_hops`` (:func:`resistance_rows`): ``resistance.csv`` (by shortest-path distance), ``summary.csv``,
    ``resistance.png``. No model, no training: ``device`` and ``seed`` do not enter."""
    by_distance, summary = [], []
    for name in d.graphs:
        graphs, what = _graphs_of(name, d, data_root, data_dir)
        log(f"{name}: effective resistance of {what}, on its edges and on rings up to {list(d.max_hops)}")
        part, rows = resistance_rows(graphs, list(d.max_hops))
        by_distance += [{"graphs": name, **r} for r in part]
        summary += [{"graphs": name, **r} for r in rows]
        for r in rows:
            log(f"  {r['topology']:14s} edges {r['mean_edges']:8.1f}   total effective resistance "
                f"{r['mean_total_effective_resistance']:10.1f}   mean R {r['mean_resistance']:7.3f}   spectral gap "
                f"{r['mean_spectral_gap']:.4f}")
    write_csv(out / "resistance.csv", by_distance)
    write_csv(out / "summary.csv", summary)
    _plot(by_distance, out / "resistance.png", d.name)
    return by_distance


def _plot(rows: list, path, title: str) -> None:
    import matplotlib.pyplot as plt  # the caller chooses the backend; files only here

    fig, ax = plt.subplots(figsize=(7, 4.5))
    datasets = list(dict.fromkeys(r["graphs"] for r in rows))
    topologies = list(dict.fromkeys(r["topology"] for r in rows))
    for key in dict.fromkeys((r["graphs"], r["topology"]) for r in rows):  # a colour per dataset, a line per topology
        part = [r for r in rows if (r["graphs"], r["topology"]) == key]
        ax.plot([r["distance"] for r in part], [r["mean_resistance"] for r in part], marker=".", markersize=3,
                color=f"C{datasets.index(key[0]) % 10}", linestyle=("-", "--", ":", "-.")[topologies.index(key[1]) % 4],
                label=" · ".join(key))
    ax.set(yscale="log", xlabel="shortest-path distance d(u, v) (input graph)", ylabel="mean effective resistance R(u, v)",
           title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
