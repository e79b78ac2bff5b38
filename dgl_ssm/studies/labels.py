"""How a study's cells and rows are named: a cell's file-name slug, table row labels, columns (``"<dataset> <setting>"``
or the setting)."""
from __future__ import annotations

import re
from typing import Dict

__all__ = ["labels", "labelled", "column_of", "setting_of", "slug"]


def slug(cell: Dict) -> str:
    """A file-name-safe name of a cell (its key's values joined by ``-``).

    Examples
    --------
    >>> slug({"model": "gcn_ssm", "dataset": "cora", "depth": 8, "seed": 0})
    'gcn_ssm-cora-8-0'
    """
    return re.sub(r"[^A-Za-z0-9.=_+-]+", "_", "-".join(f"{v}" for v in cell.values()))


def column_of(study, row: dict, multi: bool):
    """A row's table column: ``"<dataset> <setting>"`` if ``multi`` (the study has several datasets), else the setting."""
    return f"{row['dataset']} {row[study.setting_name]}" if multi else row[study.setting_name]

def labelled(study, rows, multi: bool) -> list:
    """Record rows with ``model`` as its table label and their ``column``."""
    names = labels(study)
    return [{**r, "column": column_of(study, r, multi), "model": names.get(r["model"], r["model"])} for r in rows]

def labels(study) -> dict:
    """``{model key: table row label}`` (the label, else the key)."""
    return {key: spec.label or key for key, spec in study.models.items()}

def setting_of(column) -> str:
    """The setting of a table column (``"<dataset> <setting>"`` or the setting itself)."""
    return str(column).rsplit(" ", 1)[-1]
