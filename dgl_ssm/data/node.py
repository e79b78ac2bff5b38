"""Node-classification graphs: Cora, CiteSeer (Planetoid), Texas, Cornell, Wisconsin (Geom-GCN), Chameleon and
Squirrel with duplicate nodes removed (Platonov et al. 2023), 2-D grids."""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Optional

import dgl
import torch
from dgl.data import CiteseerGraphDataset, CoraGraphDataset, CornellDataset, TexasDataset, WisconsinDataset
from dgl.data.heterophilous_graphs import HeterophilousGraphDataset  # not re-exported by dgl.data in DGL 2.1

from .manifest import CorruptDataError
from .paths import content_key, data_root, download_or_explain, folder_lock, raw_path_of, raw_source, stage_files

__all__ = ["load_node_graph", "stage_node_dataset", "grid_graph", "NODE_DATASETS", "node_task_info", "num_splits", "split_for_seed"]

_PLANETOID = {"cora": (CoraGraphDataset, "cora_v2", "cora"), "citeseer": (CiteseerGraphDataset, "citeseer", "citeseer")}
_GEOM_GCN = {"texas": TexasDataset, "cornell": CornellDataset, "wisconsin": WisconsinDataset}
#: Platonov et al. (2023) "A critical look at the evaluation of GNNs under heterophily", their ``data/<file>.npz``
_FILTERED = {"chameleon-filtered": "chameleon_filtered", "squirrel-filtered": "squirrel_filtered"}
_PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")

NODE_DATASETS = sorted([*_PLANETOID, *_GEOM_GCN, *_FILTERED, "grid"])
#: the node datasets with 10 published splits (``split`` 0..9)
_TEN_SPLITS = (*_GEOM_GCN, *_FILTERED)


#: what DGL must give for each offline dataset (nodes, edges before self-loop handling, feature size, classes)
EXPECTED = {
    "cora": (2708, 10556, 1433, 7),
    "citeseer": (3327, 9228, 3703, 6),
    "texas": (183, 325, 1703, 5),
    "cornell": (183, 298, 1703, 5),
    "wisconsin": (251, 515, 1703, 5),
    "chameleon-filtered": (890, 17708, 2325, 5),  # 8,854 undirected edges (Platonov et al. 2023, Table 1), both ways
    "squirrel-filtered": (2223, 93996, 2089, 5),  # 46,998 undirected edges
}


def _checked_load(name: str, cls, raw_dir: Path, offline: bool) -> dgl.DGLGraph:
    """DGL's graph, checked against :data:`EXPECTED`; a processed cache that disagrees is rebuilt once (one warning)."""
    g = cls(raw_dir=str(raw_dir), verbose=False)[0]
    if not offline or _counts(g) == EXPECTED[name]:
        return g
    warnings.warn(f"{name}: DGL's processed cache under {raw_dir} gives {_counts(g)} (nodes, edges, features, "
                  f"classes), expected {EXPECTED[name]}; rebuilding it from the verified raw files", RuntimeWarning)
    g = cls(raw_dir=str(raw_dir), verbose=False, force_reload=True)[0]
    if _counts(g) != EXPECTED[name]:
        raise CorruptDataError(f"{name} loads as {_counts(g)} (nodes, edges, features, classes) from {raw_dir}, "
                               f"expected {EXPECTED[name]}; delete {raw_dir} and check the offline files")
    return g


def _counts(g) -> tuple:
    return g.num_nodes(), g.num_edges(), int(g.ndata["feat"].shape[1]), int(g.ndata["label"].max()) + 1


def _planetoid_files(name: str) -> dict:
    _, dgl_name, file_name = _PLANETOID[name]
    return {f"ind.{dgl_name}.{p}": f"planetoid/ind.{file_name}.{p}" for p in _PLANETOID_PARTS}


def _geom_gcn_files(name: str) -> dict:
    rel = {f: f"geom_gcn/new_data/{name}/{f}" for f in ("out1_graph_edges.txt", "out1_node_feature_label.txt")}
    rel.update({f"{name}_split_0.6_0.2_{i}.npz": f"geom_gcn/splits/{name}_split_0.6_0.2_{i}.npz" for i in range(10)})
    return rel


def _filtered_files(name: str) -> dict:
    return {f"{_FILTERED[name]}.npz": f"heterophilous_graphs/{_FILTERED[name]}.npz"}


def _spec(name: str):
    """(folder under the data root, DGL class, raw files {name in DGL's raw_path: path in the offline copy}, the
    class's keyword arguments for :func:`raw_path_of`) of an offline node dataset."""
    if name in _PLANETOID:
        return "planetoid", _PLANETOID[name][0], _planetoid_files(name), {}
    if name in _GEOM_GCN:
        return "geom_gcn", _GEOM_GCN[name], _geom_gcn_files(name), {}
    return ("heterophilous_graphs", functools.partial(HeterophilousGraphDataset, name), _filtered_files(name),
            {"name": name})


def stage_node_dataset(name: str, root=None, data_dir=None) -> Optional[Path]:
    """Check the offline raw files of node dataset ``name`` (present, recorded size and SHA-256) and link them where
    DGL reads them; the ``raw_dir`` to load from (one per content of the files), or ``None`` without offline copies
    (DGL downloads). Cheap and idempotent: a study sitting calls it for its datasets before it starts, so a missing or
    damaged file is an error before anything is written.

    Raises
    ------
    dgl_ssm.data.errors.MissingDataError
        If a file is missing or empty (or ``data_dir`` does not exist).
    dgl_ssm.data.errors.CorruptDataError
        If a file differs from the recorded one.
    """
    if name not in (*_PLANETOID, *_GEOM_GCN, *_FILTERED):
        return None  # generated (grid) or unknown (load_node_graph names it)
    folder, cls, rel, extra = _spec(name)
    source = raw_source(data_dir)
    if source is None:
        return None
    # DGL's processed cache lives in raw_dir: a folder per content of the raw files, so a fix is never masked by it
    raw_dir = data_root(root) / folder / content_key(rel.values())
    stage_files({k: source / v for k, v in rel.items()}, raw_path_of(HeterophilousGraphDataset if extra else cls,
                                                                     raw_dir, **extra), source)
    return raw_dir


def _load_staged(name: str, root, data_dir):
    folder, cls, _, _ = _spec(name)
    raw_dir = stage_node_dataset(name, root, data_dir)  # checked first: a bad file is an error before any write
    with folder_lock(data_root(root) / folder):  # DGL writes its processed cache in place: one process at a time
        if raw_dir is None:  # DGL downloads (and checks) the data itself
            return cls(raw_dir=str(data_root(root) / folder), verbose=False)[0]
        return _checked_load(name, cls, raw_dir, True)


def grid_graph(rows: int = 20, cols: int = 20, feat_dim: int = 16, seed: int = 0) -> dgl.DGLGraph:
    """A 2-D grid graph (4-neighbourhood, both edge directions) with :math:`\\mathcal{N}(0, 1)` features.

    Parameters
    ----------
    rows, cols : int
        Grid size; the graph has ``rows * cols`` nodes, node ``i * cols + j`` at cell ``(i, j)``.
    feat_dim : int
        Feature size of ``ndata['feat']`` (float32, seeded standard normal).
    seed : int
        Seed of the features.

    Returns
    -------
    dgl.DGLGraph
        Without self-loops and without labels.

    Examples
    --------
    >>> g = grid_graph(3, 4, feat_dim=2)
    >>> g.num_nodes(), g.num_edges(), tuple(g.ndata['feat'].shape)
    (12, 34, (12, 2))
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"grid size must be positive, got {rows}x{cols}")
    idx = torch.arange(rows * cols).view(rows, cols)
    right = (idx[:, :-1].reshape(-1), idx[:, 1:].reshape(-1))
    down = (idx[:-1, :].reshape(-1), idx[1:, :].reshape(-1))
    src = torch.cat([right[0], down[0]])
    dst = torch.cat([right[1], down[1]])
    g = dgl.graph((torch.cat([src, dst]), torch.cat([dst, src])), num_nodes=rows * cols)
    g.ndata["feat"] = torch.randn(rows * cols, feat_dim, generator=torch.Generator().manual_seed(seed))
    return g


def num_splits(name: str) -> int:
    """Number of published splits of a node dataset (10 for Geom-GCN and filtered graphs, 1 for Planetoid and ``grid``).

    Parameters
    ----------
    name : str
        A node dataset (:func:`load_node_graph`; case does not matter).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        On an unknown name.

    Examples
    --------
    >>> num_splits("cora"), num_splits("texas"), num_splits("chameleon-filtered")
    (1, 10, 10)
    """
    name = name.lower()
    if name not in NODE_DATASETS:
        raise ValueError(f"unknown node dataset {name!r}; known: {', '.join(NODE_DATASETS)}")
    return 10 if name in _TEN_SPLITS else 1


def split_for_seed(name: str, seed: int) -> int:
    """The split a run with ``seed`` uses: ``seed % num_splits(name)`` (Geom-GCN: seed 0..9 cover the 10 splits).

    Examples
    --------
    >>> split_for_seed("texas", 13), split_for_seed("cora", 13)
    (3, 0)
    """
    return int(seed) % num_splits(name)


def node_task_info(graph: dgl.DGLGraph):
    """The :class:`~dgl_ssm.data.TaskInfo` of a node-classification graph: node level, cross-entropy, accuracy.

    Raises
    ------
    KeyError
        If the graph has no ``ndata['feat']`` or ``ndata['label']``.

    Examples
    --------
    >>> from dgl_ssm.data import grid_graph
    >>> g = grid_graph(2, 2, feat_dim=3); g.ndata["label"] = torch.tensor([0, 1, 2, 1])
    >>> info = node_task_info(g); info.in_feats, info.num_targets, info.metric
    (3, 3, 'accuracy')
    """
    from .base import TaskInfo

    for key in ("feat", "label"):
        if key not in graph.ndata:
            raise KeyError(f"node classification needs ndata[{key!r}]")
    return TaskInfo("node", int(graph.ndata["feat"].shape[1]), int(graph.ndata["label"].max()) + 1, "ce", "accuracy")


def load_node_graph(
    name: str,
    split: int = 0,
    self_loop: bool = True,
    root: Optional[os.PathLike] = None,
    data_dir: Optional[os.PathLike] = None,
    normalize_features: bool = False,
) -> dgl.DGLGraph:
    """Load a node-classification graph with ``feat``, ``label`` and 1-D boolean split masks.

    Parameters
    ----------
    name : str
        ``"cora"``, ``"citeseer"`` (standard Planetoid split: 20 labels per
        class, 500 validation, 1000 test), ``"texas"``, ``"cornell"``,
        ``"wisconsin"`` (Geom-GCN 60/20/20 splits, ``split`` in 0..9),
        ``"chameleon-filtered"``, ``"squirrel-filtered"`` (duplicate nodes
        removed, Platonov et al. 2023; their 10 splits), or ``"grid"`` (a 20x20 grid with N(0,1) features, no labels).
    split : int
        Which of the 10 published splits (Geom-GCN, filtered) to expose as ``train_mask`` etc.
    self_loop : bool
        Remove existing self-loops and add exactly one per node (GCN's
        :math:`\\hat{A} = D^{-1/2}(A + I)D^{-1/2}`; also avoids zero in-degree).
    root : path, optional
        Data root (staging and caches); see :func:`dgl_ssm.data.paths.data_root`.
    data_dir : path, optional
        Offline raw copies; see :func:`dgl_ssm.data.paths.raw_source`. Without
        one, DGL downloads the data.
    normalize_features : bool
        Divide every node's features by their sum (rows summing to 0 are left
        as they are), with DGL's :class:`~dgl.transforms.RowFeatNormalizer`:
        the preprocessing of Kipf & Welling's and of GCNII's code
        (``preprocess_features``). DGL's Planetoid features are normalised
        already; the Geom-GCN ones (``texas``, ...) are raw 0/1 counts.

    Returns
    -------
    dgl.DGLGraph

    Raises
    ------
    ValueError
        On an unknown name, a split outside 0..9, or a split other than 0 of a dataset with one (Planetoid, grid).
    dgl_ssm.data.errors.MissingDataError
        If a raw file is absent from ``data_dir``; the message names the file.
    dgl_ssm.data.errors.CorruptDataError
        If an offline file differs from the recorded one (size, SHA-256), or
        the loaded graph has other node, edge, feature or class counts than
        the published dataset; the message names the file or folder.

    Examples
    --------
    Cora with the Planetoid split (from the offline copies of ``$DGL_SSM_DATA``, else DGL's download):

    >>> g = load_node_graph("cora")
    >>> g.num_nodes(), g.ndata["feat"].shape[1], int(g.ndata["train_mask"].sum()), int(g.ndata["test_mask"].sum())
    (2708, 1433, 140, 1000)
    >>> bool((g.in_degrees() >= 1).all())                    # one self-loop per node
    True
    """
    name = name.lower()
    if name in NODE_DATASETS and name not in _TEN_SPLITS and split != 0:  # one split: another would be ignored
        raise ValueError(f"{name} has one published split (split=0), got split={split}; the datasets with 10 are "
                         f"{', '.join(sorted(_TEN_SPLITS))}")
    if name == "grid":
        g = grid_graph()
    elif name in _PLANETOID:
        with download_or_explain(name):
            g = _load_staged(name, root, data_dir)
    elif name in _TEN_SPLITS:
        if not 0 <= split < 10:
            raise ValueError(f"{name} has 10 published splits (0..9), got split={split}")
        with download_or_explain(name):
            g = _load_staged(name, root, data_dir)
        for key in ("train_mask", "val_mask", "test_mask"):
            g.ndata[key] = g.ndata[key][:, split].bool()
    else:
        raise ValueError(f"unknown node dataset {name!r}; known: {', '.join(NODE_DATASETS)}")
    if self_loop:
        g = dgl.add_self_loop(dgl.remove_self_loop(g))
    if normalize_features:
        g.ndata["feat"] = g.ndata["feat"].clone()  # the transform divides in place: not the dataset's cached tensor
        g = dgl.transforms.RowFeatNormalizer(node_feat_names=["feat"])(g)
    return g
