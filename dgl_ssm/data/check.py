"""The offline raw files of a dataset, checked before a long job starts (a study sitting), without loading it."""
from __future__ import annotations

import os
from typing import Optional

__all__ = ["check_dataset_files"]


def check_dataset_files(name: str, root: Optional[os.PathLike] = None, data_dir: Optional[os.PathLike] = None) -> None:
    """Check that the offline raw files of dataset ``name`` are present and are the recorded ones, and stage them
    for DGL (idempotent, cheap: no processing). Generated datasets (graph property tasks, RingTransfer, grids) and
    runs without offline copies (DGL downloads) have nothing to check.

    Parameters
    ----------
    name : str
        A node dataset (``"cora"``, ``"texas"``, ...) or a graph-level one (``"peptides-func"``, ``"sssp"``, ...).
    root, data_dir : path, optional
        The data root and the offline copies (:func:`~dgl_ssm.data.paths.data_root`,
        :func:`~dgl_ssm.data.paths.raw_source`).

    Raises
    ------
    dgl_ssm.data.errors.MissingDataError
        A file is missing or empty, or ``data_dir`` does not exist; the message names the file and where it goes.
    dgl_ssm.data.errors.CorruptDataError
        A file differs from the recorded one (size, SHA-256).

    Examples
    --------
    >>> check_dataset_files("sssp")   # generated: nothing to check
    """
    from .lrgb import PEPTIDES, stage_peptides
    from .node import stage_node_dataset

    if name in PEPTIDES:
        stage_peptides(name, root, data_dir)
    else:
        stage_node_dataset(name, root, data_dir)
