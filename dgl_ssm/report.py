"""Result tables (mean ± std in Markdown) and plots shared by the studies and recipes."""
from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

__all__ = ["read_csv", "aggregate", "markdown_table", "plot_lines"]


def read_csv(path: os.PathLike) -> List[dict]:
    """Rows of a CSV file as dicts, numbers converted to float/int where they parse; ``[]`` if absent."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except (TypeError, ValueError):
            pass
    return value


def aggregate(rows: Iterable[Mapping], keys: Sequence[str], value: str) -> Dict[tuple, tuple]:
    """``{key tuple: (mean, std, count)}`` of ``value`` over rows grouped by ``keys`` (sample std, 0 for one run)."""
    groups = defaultdict(list)
    for row in rows:
        v = row.get(value)
        if isinstance(v, (int, float)) and math.isfinite(v):
            groups[tuple(row[k] for k in keys)].append(float(v))
    out = {}
    for key, vals in groups.items():
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        out[key] = (mean, std, len(vals))
    return out


def markdown_table(
    rows: Iterable[Mapping],
    row_key: str,
    col_key: str,
    value: str,
    scale: float = 1.0,
    digits: int = 1,
    row_order: Optional[Sequence] = None,
    col_order: Optional[Sequence] = None,
    col_label: Callable[[object], str] = str,
) -> str:
    """A Markdown table of ``mean ± std`` of ``value`` (times ``scale``), rows by ``row_key``, columns by ``col_key``.

    Rows with ``status == "diverged"`` (training diverged, see
    :meth:`dgl_ssm.train.Trainer.fit`) are left out of the mean and counted in
    the cell: ``"78.1 ± 0.4 (1 of 3 diverged)"``, or ``"diverged (3 of 3)"``.

    Examples
    --------
    >>> rows = [{"model": "gcn", "depth": 2, "acc": 0.8}, {"model": "gcn", "depth": 2, "acc": 0.7}]
    >>> print(markdown_table(rows, "model", "depth", "acc", scale=100))
    | model | 2 |
    |---|---|
    | gcn | 75.0 ± 7.1 |
    """
    rows = list(rows)
    diverged = defaultdict(int)
    for row in rows:
        if row.get("status") == "diverged":
            diverged[(row[row_key], row[col_key])] += 1
    stats = aggregate([r for r in rows if r.get("status") != "diverged"], (row_key, col_key), value)
    keys = [*stats, *diverged]
    row_order = list(row_order) if row_order is not None else list(dict.fromkeys(k[0] for k in keys))
    col_order = list(col_order) if col_order is not None else sorted({k[1] for k in keys}, key=_sort_key)
    lines = [f"| {row_key} | " + " | ".join(col_label(c) for c in col_order) + " |", "|---" * (len(col_order) + 1) + "|"]
    for r in row_order:
        cells = []
        for c in col_order:
            bad = diverged.get((r, c), 0)
            if (r, c) in stats:
                mean, std, count = stats[(r, c)]
                note = f" ({bad} of {count + bad} diverged)" if bad else ""
                cells.append(f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}{note}")
            else:
                cells.append(f"diverged ({bad} of {bad})" if bad else "–")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def plot_lines(
    series: Mapping[str, tuple],
    path: os.PathLike,
    xlabel: str,
    ylabel: str,
    title: str = "",
    logx: bool = False,
    logy: bool = False,
    errors: Optional[Mapping[str, Sequence[float]]] = None,
) -> Path:
    """Plot ``{label: (xs, ys)}`` as lines (with optional error bands) and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
        if errors and label in errors:
            lo = [y - e for y, e in zip(ys, errors[label])]
            hi = [y + e for y, e in zip(ys, errors[label])]
            ax.fill_between(xs, lo, hi, alpha=0.2)
    if logx:
        ax.set_xscale("log", base=2)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
