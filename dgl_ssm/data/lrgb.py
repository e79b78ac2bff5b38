"""LRGB Peptides-func / Peptides-struct (Dwivedi et al. 2022) through DGL's loaders, offline.

DGL's :class:`dgl.data.PeptidesFunctionalDataset` reads
``<raw_dir>/Peptides-func_<hash>/{peptide_multi_class_dataset.csv.gz,
splits_random_stratified_peptide.pickle}`` and would download them when that
folder is absent. :class:`PeptidesDataset` stages the offline copies there
(symlinks under the project's data root, never writing into the offline
folder), checks the MD5 of the CSV before DGL's ~80 s SMILES processing, and
saves DGL's processed cache atomically, so that a truncated or corrupt file
gives one clear error and no partial cache.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Optional

import torch

#: what to do without the ``lrgb`` extra (ogb, rdkit): DGL then leaves its Peptides classes out of ``dgl.data``
NEEDS_LRGB = 'Peptides (LRGB) needs ogb and rdkit: pip install "dgl_ssm[lrgb]"'

try:
    from dgl.data import PeptidesFunctionalDataset, PeptidesStructuralDataset
except ImportError:  # no ogb / rdkit: the classes stand in, and using one is one line naming the extra

    class PeptidesFunctionalDataset:  # noqa: D101 - a stand-in
        def __init__(self, *args, **kwargs):
            raise ImportError(NEEDS_LRGB)

    PeptidesStructuralDataset = PeptidesFunctionalDataset

from .base import SPLITS, GraphListDataset
from .manifest import OFFLINE_FILES, verify_offline_file
from .paths import (MissingDataError, content_key, data_root, download_or_explain, folder_lock, raw_path_of,
                    raw_source, require_file, stage_files)
from ..graphcache import cache_intact
from .pretransform import save_graphs_atomic

__all__ = ["PeptidesDataset", "PEPTIDES", "CSV_MD5", "atom_encoder", "stage_peptides"]

_FUNC_SPLIT = "splits_random_stratified_peptide.pickle"


#: MD5 of each dataset's CSV as DGL 2.1-2.4 download it (``md5sum_data`` in ``dgl/data/lrgb.py``; a test checks
#: these against DGL's source): named in the error line of a missing or corrupt file
CSV_MD5 = {"peptides-func": "701eb743e899f4d793f0e13c8fa5a1b4", "peptides-struct": "9786061a34298a0684150f2e4ff13f47"}


class _Checked:
    """Mixin for DGL's Peptides classes: MD5 check before processing (against :data:`CSV_MD5` through
    ``expected_md5``, the one place a test can put a generated file's), atomic save."""

    dataset_name = ""

    @classmethod
    def expected_md5(cls) -> str:
        return CSV_MD5[cls.dataset_name]

    def check_md5(self):
        path = Path(self.raw_data_path)
        digest, expected = hashlib.md5(path.read_bytes()).hexdigest(), self.expected_md5()
        if digest != expected:
            raise MissingDataError(
                f"{path.resolve()} is truncated or corrupt (MD5 {digest}, expected {expected}); "
                f"copy it again from the offline data (lrgb/ in --data-dir) or delete {path} so DGL downloads it"
            )

    def process(self):
        self.check_md5()
        super().process()

    def save(self):
        save_graphs_atomic(self.graph_path, self.graphs, {"labels": self.labels})

    def has_cache(self):  # DGL's checks only that the file exists; a truncated one can crash its loader
        return cache_intact(self.graph_path)


class _Func(_Checked, PeptidesFunctionalDataset):
    dataset_name = "peptides-func"


#: the 11 regression targets of Peptides-struct, in DGL's (and LRGB's) order
STRUCT_TARGETS = ["Inertia_mass_a", "Inertia_mass_b", "Inertia_mass_c", "Inertia_valence_a", "Inertia_valence_b",
                  "Inertia_valence_c", "length_a", "length_b", "length_c", "Spherocity", "Plane_best_fit"]


def _molecule(graph: dict):
    """A DGL graph from ogb's ``smiles2graph`` output, as DGL's Peptides ``process`` makes it: int64 atom features
    ``ndata['feat']`` and bond features ``edata['feat']``."""
    import dgl

    g = dgl.graph((graph["edge_index"][0], graph["edge_index"][1]), num_nodes=graph["num_nodes"])
    g.edata["feat"] = torch.from_numpy(graph["edge_feat"]).long()
    g.ndata["feat"] = torch.from_numpy(graph["node_feat"]).long()
    return g


def _struct_targets(frame):
    """Peptides-struct's 11 targets, standardised over the whole file (zero mean, unit std), as DGL and LRGB do."""
    targets = frame.loc[:, STRUCT_TARGETS].astype("float64")
    return (targets - targets.mean()) / targets.std()


class _Struct(_Checked, PeptidesStructuralDataset):
    """DGL's Peptides-struct with its ``process`` redone: DGL 2.1's collects each molecule's targets as a pandas
    ``Series`` and then fails in ``F.tensor(list of Series)`` ("could not determine the shape of object type
    'Series'"; docs/rough_edges.md). The same steps otherwise: targets standardised over the whole file (zero mean,
    unit std, as DGL and LRGB do), ogb's ``smiles2graph``, int64 atom and bond features."""

    dataset_name = "peptides-struct"

    def process(self):
        import numpy as np
        import pandas as pd

        self.check_md5()
        frame = pd.read_csv(self.raw_data_path)
        self.graphs = [_molecule(self.smiles2graph(smiles)) for smiles in frame["smiles"]]
        self.labels = torch.tensor(np.asarray(_struct_targets(frame), dtype=np.float64), dtype=torch.float32)


#: name -> (DGL class, offline folder, CSV file name, split file name in DGL's raw_path, loss, metric)
PEPTIDES = {
    "peptides-func": (_Func, "Peptides-func", "peptide_multi_class_dataset.csv.gz", _FUNC_SPLIT, "bce", "ap"),
    "peptides-struct": (
        _Struct,
        "Peptides-struct",
        "peptide_structure_dataset.csv.gz",
        "splits_random_stratified_peptide_structure.pickle",
        "l1",
        "mae",
    ),
}


def _stage(name: str, raw_dir: Path, data_dir) -> Path:
    """Stage the offline files (checked) for DGL; returns the ``raw_dir`` to load from (one per content of the files)."""
    cls, folder, csv, split_file, *_ = PEPTIDES[name]
    source = raw_source(data_dir)
    if source is None:
        return raw_dir  # DGL downloads
    fix = (
        f"It is DGL's {folder} CSV (MD5 {CSV_MD5[name]}, the file dgl.data.{cls.__bases__[-1].__name__} downloads); "
        f"put it at {source / 'lrgb' / folder / csv}, or point DGL_SSM_DATA at a folder whose lrgb/{folder}/ has it"
    )
    rel = {csv: f"lrgb/{folder}/{csv}", split_file: f"lrgb/Peptides-func/{_FUNC_SPLIT}"}  # struct split = func split
    split_fix = (f"It is LRGB's stratified split (the same file for Peptides-func and -struct); put it at "
                 f"{source / 'lrgb' / 'Peptides-func' / _FUNC_SPLIT}, or point DGL_SSM_DATA at a folder that has it")
    files = {n: require_file(source / r, fix if n == csv else split_fix) for n, r in rel.items()}
    for n, r in rel.items():  # recorded files (the func CSV, the split pickle); DGL's MD5 covers a struct CSV
        if r in OFFLINE_FILES:
            verify_offline_file(files[n], r)
    keyed = raw_dir / content_key(rel.values())  # DGL's processed cache lives here: it follows the raw files
    stage_files(files, raw_path_of(cls, keyed))
    return keyed


def stage_peptides(name: str, root=None, data_dir=None) -> Path:
    """Check the offline files of ``"peptides-func"`` / ``"peptides-struct"`` and stage them for DGL (no processing);
    the ``raw_dir`` to load from. Raises :class:`~dgl_ssm.data.errors.MissingDataError` naming a missing file, its MD5 and where it goes."""
    return _stage(name, data_root(root) / "lrgb", data_dir)


@functools.lru_cache(maxsize=1)
def _load_dgl(name: str, raw_dir: str):
    """DGL's dataset, loaded once per process for all three splits (its cache is ~370 MB, ~7 s to read)."""
    return PEPTIDES[name][0](raw_dir=raw_dir, verbose=False)


class PeptidesDataset(GraphListDataset):
    r"""LRGB Peptides-func (10-task multi-label classification) or Peptides-struct (11-target regression).

    15,535 peptide molecular graphs (about 151 nodes each) with the official
    stratified split (10,873 / 2,331 / 2,331). Node features
    ``ndata['feat']`` ``(N, 9)`` and edge features ``edata['feat']`` ``(E, 3)``
    are int64 OGB atom/bond categories: encode them with ogb's ``AtomEncoder``
    (:func:`atom_encoder`, the model's ``encoder=`` hook) and ``BondEncoder``.
    Labels are ``(10,)`` 0/1 float32 (func; metric: average precision over the
    tasks) or ``(11,)`` float32 (struct; metric: MAE).

    The first use processes the SMILES (about 80 s on 2 cores, needs rdkit) and
    DGL caches the graphs in ``<data root>/lrgb/Peptides-func_<hash>/``.

    Source: Dwivedi et al. (2022), "Long Range Graph Benchmark", NeurIPS
    Datasets and Benchmarks.

    Parameters
    ----------
    name : str
        ``"peptides-func"`` or ``"peptides-struct"``.
    split : str or None
        ``"train"``, ``"val"``, ``"test"`` or ``None``.
    root : path, optional
        Data root (staged raw files and caches).
    data_dir : path, optional
        Offline raw copies (``lrgb/Peptides-func/...``); see
        :func:`dgl_ssm.data.paths.raw_source`. Without one DGL downloads.
    pre_transform : callable, optional
        Applied once to all graphs and cached per ``cache_key``.
    limit : int, optional
        Only the first ``limit`` graphs of the split (of each split with ``split=None``), made directly from the
        offline CSV in seconds (quick runs, recipes, tests): the same graphs and labels as the full dataset's first
        ``limit`` of the split, without DGL's processing of all 15,535 molecules (about 2 minutes).

    Raises
    ------
    ValueError
        On an unknown name or split, or a ``limit`` that is not an int >= 1.
    dgl_ssm.data.MissingDataError
        If a raw file is missing (the message names it), or the CSV is
        truncated/corrupt (MD5 mismatch; nothing is cached).

    Examples
    --------
    The first 20 training molecules of Peptides-func (from the offline copies of ``$DGL_SSM_DATA``; without
    ``limit``, the whole split, processed once and cached):

    >>> train = PeptidesDataset("peptides-func", "train", limit=20)
    >>> g, y = train[0]
    >>> len(train), tuple(g.ndata["feat"].shape[1:]), tuple(y.shape)     # 9 atom features, 10 binary tasks
    (20, (9,), (10,))
    """

    level = "graph"
    default_readout = "mean"

    @staticmethod
    def encoder(hidden: int):
        """ogb's AtomEncoder (see :func:`atom_encoder`)."""
        return atom_encoder(hidden)

    def __init__(
        self,
        name: str = "peptides-func",
        split: Optional[str] = "train",
        root: Optional[os.PathLike] = None,
        data_dir: Optional[os.PathLike] = None,
        pre_transform=None,
        limit: Optional[int] = None,
    ):
        if name not in PEPTIDES:
            raise ValueError(f"unknown LRGB dataset {name!r}; known: {', '.join(PEPTIDES)}")
        if limit is not None and not (isinstance(limit, int) and limit >= 1):
            raise ValueError(f"limit must be an int >= 1 (graphs per split) or None, got {limit!r}")
        self.dataset_name, self.data_dir, self.limit = name, data_dir, limit
        _, self.folder, _, _, self.default_loss, self.default_metric = PEPTIDES[name]
        super().__init__(f"lrgb_{self.folder}", split, root, (1,), pre_transform)

    def has_cache(self) -> bool:  # DGL's own dataset holds the processed cache
        return False

    def save(self):
        pass

    def process(self):
        raw_dir = _stage(self.dataset_name, data_root(self._root_arg) / "lrgb", self.data_dir)
        if self.limit is not None:
            return self._process_first(raw_dir)
        # two processes on one data root: the second waits for the first one's cache instead of processing again
        with folder_lock(data_root(self._root_arg) / "lrgb" / self.folder), download_or_explain(self.dataset_name):
            dataset = _load_dgl(self.dataset_name, str(raw_dir))
        self.graphs, self.labels = list(dataset.graphs), dataset.labels
        self.split_of = torch.full((len(self.graphs),), -1, dtype=torch.long)
        for i, key in enumerate(SPLITS):
            self.split_of[dataset.get_idx_split()[key]] = i

    def _process_first(self, raw_dir: Path) -> None:
        """The first ``limit`` graphs of the split (of each split, with ``split=None``), in the order of DGL's dataset,
        made here from the CSV with the steps of DGL's ``process`` (ogb's ``smiles2graph``, int64 atom and bond
        features; func labels as listed, struct targets standardised over the whole file): seconds, not DGL's two
        minutes for all 15,535 molecules, and nothing cached."""
        import ast
        import pickle

        import numpy as np
        import pandas as pd

        try:
            from ogb.utils import smiles2graph
        except ImportError:
            raise ImportError(NEEDS_LRGB) from None

        cls, _, csv, split_file, *_ = PEPTIDES[self.dataset_name]
        staged = Path(raw_path_of(cls, raw_dir)) if self.data_dir or raw_source(None) else None
        if staged is None:
            raise MissingDataError(f"{self.dataset_name} with limit= reads the offline CSV: set DGL_SSM_DATA (or "
                                   "data_dir) to the offline copies")
        frame = pd.read_csv(staged / csv)
        with open(staged / split_file, "rb") as handle:
            split = pickle.load(handle)
        rows, self.split_of = [], []
        for i, key in enumerate(SPLITS):
            if self.split in (None, key):
                chosen = np.sort(np.asarray(split[key]))[: self.limit].tolist()
                rows += chosen
                self.split_of += [i] * len(chosen)
        self.split_of = torch.tensor(self.split_of, dtype=torch.long)
        if self.dataset_name == "peptides-func":
            labels = [ast.literal_eval(frame["labels"].iloc[r]) for r in rows]
        else:
            labels = _struct_targets(frame).iloc[rows].to_numpy()
        self.labels = torch.tensor(np.asarray(labels, dtype=np.float64), dtype=torch.float32)
        self.graphs = [_molecule(smiles2graph(frame["smiles"].iloc[r])) for r in rows]

    def item_label(self, index: int) -> torch.Tensor:
        return self.labels[index]

    @property
    def num_features(self) -> int:
        return 9  # ogb's atom features (embedded by the AtomEncoder)

    @property
    def num_targets(self) -> int:
        return int(self.labels.shape[1])


def atom_encoder(hidden: int):
    """ogb's ``AtomEncoder(hidden)``: embeds the 9 int64 atom features of ``ndata['feat']`` (sum of embeddings).

    Parameters
    ----------
    hidden : int
        Embedding width.

    Returns
    -------
    torch.nn.Module
        ``(N, 9)`` int64 atom features to ``(N, hidden)``.

    Raises
    ------
    ImportError
        Without ogb (the ``lrgb`` extra); the message names the install command.

    Examples
    --------
    >>> import torch
    >>> atom_encoder(16)(torch.zeros(5, 9, dtype=torch.long)).shape
    torch.Size([5, 16])
    """
    try:
        from ogb.graphproppred.mol_encoder import AtomEncoder
    except ImportError:
        raise ImportError(NEEDS_LRGB) from None
    return AtomEncoder(hidden)
