"""Result tables (mean ± std in Markdown) and plots of the studies, on pandas.

Tables are :meth:`pandas.DataFrame.groupby` / :meth:`~pandas.DataFrame.pivot_table`
aggregates printed with :meth:`~pandas.DataFrame.to_markdown`; plot helpers draw
with whatever matplotlib backend the caller chose (entry points pick ``Agg``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import pandas as pd

__all__ = ["read_csv", "parse_rows", "aggregate", "markdown_table", "plot_lines"]


def read_csv(path: os.PathLike) -> List[dict]:
    """Rows of a CSV file as dicts; ``[]`` if absent or empty.

    Numbers are parsed (``"nan"`` is a float NaN), empty fields are ``None``
    (written back as empty by :func:`dgl_ssm.experiment.write_csv`), other text stays text.
    """
    path = Path(path)
    if not path.is_file() or not path.read_text().strip():  # absent, empty, or no columns (every row retired)
        return []
    return _parse(path)


def parse_rows(header: Sequence[str], rows: Iterable[Mapping]) -> List[dict]:
    """Rows given as text (``csv.DictReader``'s) parsed as :func:`read_csv` parses a file's rows.

    Examples
    --------
    >>> parse_rows(["m", "v"], [{"m": "a", "v": "1"}, {"m": "b", "v": ""}])
    [{'m': 'a', 'v': 1}, {'m': 'b', 'v': None}]
    """
    import csv
    import io

    rows = list(rows)
    if not rows:
        return []
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buffer.seek(0)
    return _parse(buffer)


def _parse(source) -> List[dict]:
    text = pd.read_csv(source, dtype=str, keep_default_na=False)
    if hasattr(source, "seek"):
        source.seek(0)
    frame = pd.read_csv(source, na_values=["", "nan", "NaN"], keep_default_na=False, float_precision="round_trip")
    numbers = frame.select_dtypes("number").columns  # integer columns with gaps read back as integers
    frame[numbers] = frame[numbers].convert_dtypes(convert_string=False, convert_boolean=False)
    frame = frame.astype(object).where(text != "", None).where(~((text == "nan") | (text == "NaN")), float("nan"))
    return frame.to_dict("records")


def _frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))


def aggregate(rows: Iterable[Mapping], keys: Sequence[str], value: str) -> Dict[tuple, tuple]:
    """``{key tuple: (mean, std, count)}`` of the finite values of ``value`` grouped by ``keys`` (sample std, 0 for one run).

    Examples
    --------
    >>> aggregate([{"m": "a", "v": 1.0}, {"m": "a", "v": 3.0}, {"m": "b", "v": float("nan")}], ["m"], "v")
    {('a',): (2.0, 1.4142135623730951, 2)}
    """
    frame = _frame(rows)
    if frame.empty or value not in frame:
        return {}
    frame = frame.assign(**{value: pd.to_numeric(frame[value], errors="coerce")})
    frame = frame[frame[value].notna() & frame[value].abs().ne(float("inf"))]
    if frame.empty:
        return {}
    stats = frame.groupby(list(keys), sort=False)[value].agg(["mean", "std", "count"])
    return {(k if isinstance(k, tuple) else (k,)): (float(m), 0.0 if pd.isna(s) else float(s), int(c))
            for k, (m, s, c) in zip(stats.index, stats.itertuples(index=False))}


def mean_std(mean: float, std: float, count: int, scale: float = 1.0, digits: int = 1) -> str:
    """``"mean ± std"`` (times ``scale``, ``digits`` decimals); the mean alone for a single run, whose std says nothing.

    Examples
    --------
    >>> mean_std(0.8123, 0.0102, 10, scale=100), mean_std(-4.71037, 0.0, 1, digits=3)
    ('81.2 ± 1.0', '-4.710')
    """
    text = f"{mean * scale:.{digits}f}"
    return text if count < 2 else f"{text} ± {std * scale:.{digits}f}"


def count_of(count: int, noun: str) -> str:
    """``"1 seed"``, ``"3 seeds"``.

    Examples
    --------
    >>> count_of(1, "seed"), count_of(3, "seed")
    ('1 seed', '3 seeds')
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
    row_label: Optional[str] = None,
    expected: Optional[int] = None,
) -> str:
    """A Markdown table of ``mean ± std`` of ``value`` (times ``scale``), rows by ``row_key``, columns by ``col_key``
    (:func:`mean_std`: the mean alone where a cell has one run).

    Rows with ``status == "diverged"`` (training diverged, see
    :meth:`dgl_ssm.train.Trainer.fit`) are left out of the mean and counted in
    the cell: ``"78.1 ± 0.4 (1 of 3 diverged)"``, or ``"diverged (3 of 3)"``.
    ``row_label`` heads the first column (default ``row_key``). With ``expected`` (runs per cell, e.g. seeds), a
    cell with fewer finished runs says so: ``"70.4 ± 1.3 (2 of 10 runs)"``.

    Examples
    --------
    >>> rows = [{"model": "gcn", "depth": 2, "acc": 0.8}, {"model": "gcn", "depth": 2, "acc": 0.7}]
    >>> print(markdown_table(rows, "model", "depth", "acc", scale=100))
    | model   | 2          |
    |:--------|:-----------|
    | gcn     | 75.0 ± 7.1 |
    """
    frame = _frame(rows)
    status = frame["status"] if "status" in frame else pd.Series("ok", index=frame.index)
    bad = frame[status == "diverged"]
    diverged = bad.groupby([row_key, col_key], sort=False).size().to_dict() if not bad.empty else {}
    stats = aggregate(frame[status != "diverged"], (row_key, col_key), value)
    keys = [*stats, *diverged]
    row_order = list(row_order) if row_order is not None else list(dict.fromkeys(k[0] for k in keys))
    col_order = list(col_order) if col_order is not None else sorted({k[1] for k in keys}, key=_sort_key)

    def cell(r, c) -> str:
        n_bad = diverged.get((r, c), 0)
        if (r, c) not in stats:
            return f"diverged ({n_bad} of {n_bad})" if n_bad else "–"
        mean, std, count = stats[(r, c)]
        note = f" ({n_bad} of {count + n_bad} diverged)" if n_bad else ""
        if expected and count + n_bad < expected:
            note += f" ({count + n_bad} of {expected} runs)"
        return f"{mean_std(mean, std, count, scale, digits)}{note}"

    table = pd.DataFrame([[r, *(cell(r, c) for c in col_order)] for r in row_order],
                         columns=[row_label or row_key, *(col_label(c) for c in col_order)])
    return table.to_markdown(index=False, disable_numparse=True)


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
    markers: bool = True,
) -> Path:
    """Plot ``{label: (xs, ys)}`` as lines (with optional error bands; ``markers`` at the points) and save a PNG."""
    import textwrap

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o" if markers else None, markersize=3, linewidth=1.5 if markers else 1.0, label=label)
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
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=9)  # long study descriptions stay inside the figure
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
