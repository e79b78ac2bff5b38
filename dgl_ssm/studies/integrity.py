"""The integrity of a record's rows: a digest per row, kept in ``provenance.json``, and the checks that find a row that
was edited by hand, cut short or made unparsable.

A row's digest is taken over its fields as text, each number written in one canonical form (``5``, ``5.0`` and
``5.00`` are one value), so that reading and rewriting the CSV never changes it, while any edit of a value does. A
row is named by its ``config_hash``, which covers the cell's key and seed (:func:`~dgl_ssm.studies.identity.cell_config`).

A row is *damaged*, and never counted as done, if

* it has fewer or more fields than the header (the file was cut, or a line edited);
* it has no ``config_hash``, or one that ``cells.json`` does not hold (checked where the header has the column and
  ``cells.json`` has entries: a table written by hand names no identities);
* its digest is recorded and differs from the row's (a value was edited);
* it has no recorded digest (rows written before digests existed) and a value that is not a number in a column
  where some row has a number (``test_accuracy=abc``; a record's text columns, such as ``model`` and ``status``,
  never hold one);
* an earlier row has the same ``config_hash``.

A digest recorded for a row that is no longer in the file names a *missing* row (a truncated or edited
``results.csv``): it is rerun by the next sitting.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

__all__ = ["DIGESTS", "canonical", "row_digest", "read_raw", "inspect_rows", "digests_of", "Integrity"]

#: the key of ``provenance.json`` that maps each row's ``config_hash`` to its digest
DIGESTS = "row_digests"


def canonical(value) -> Optional[str]:
    """One text form of a CSV field: ``None`` if empty, a number's ``repr`` as a float, other text stripped.

    Examples
    --------
    >>> canonical("5"), canonical("5.0"), canonical(" NaN"), canonical(""), canonical("abc")
    ('5.0', '5.0', 'nan', None, 'abc')
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return repr(float(text))
    except ValueError:
        return text


def row_digest(row: Mapping) -> str:
    """A 16-hex digest of a row's non-empty fields (:func:`canonical`; ``config_hash`` as written).

    Examples
    --------
    >>> row_digest({"a": "0.50", "b": "", "config_hash": "12"}) == row_digest({"a": 0.5, "config_hash": "12"})
    True
    """
    clean = {}
    for key, value in row.items():
        if key is None:
            continue
        text = (str(value).strip() or None) if key == "config_hash" and value is not None else canonical(value)
        if text is not None:
            clean[str(key)] = text
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:16]


def read_raw(path: Path) -> Tuple[List[str], List[dict]]:
    """The header and the rows of a CSV file as text (``[], []`` if absent or empty). A short row has ``None`` for
    its missing fields, a long one its extra fields under the key ``None`` (:class:`csv.DictReader`)."""
    path = Path(path)
    if not path.is_file():
        return [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@dataclass
class Integrity:
    """What :func:`inspect_rows` found: the intact rows (as text), the damaged ones with the reason, the
    ``config_hash`` of every recorded row that the file no longer has, and the file's header."""

    intact: List[dict] = field(default_factory=list)
    damaged: List[Tuple[dict, str]] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    header: List[str] = field(default_factory=list)

    def report(self, csv_path: Path, keys=("model", "dataset", "seed")) -> Optional[str]:
        """One line naming the damaged and missing rows and what happens to them; ``None`` if there are none."""
        if not self.damaged and not self.missing:
            return None
        parts = []
        if self.damaged:
            named = "; ".join(f"{_label(row, keys)}: {why}" for row, why in self.damaged[:4])
            more = f" (and {len(self.damaged) - 4} more)" if len(self.damaged) > 4 else ""
            parts.append(f"{len(self.damaged)} damaged row{'s' * (len(self.damaged) != 1)} ({named}{more})")
        if self.missing:
            parts.append(f"{len(self.missing)} recorded row{'s' * (len(self.missing) != 1)} missing "
                         f"(config_hash {', '.join(self.missing[:4])}{' ...' if len(self.missing) > 4 else ''})")
        return (f"{csv_path}: {' and '.join(parts)}; they do not count as done: restore the file "
                f"(git checkout -- {csv_path}) or let the next sitting rerun those cells")


def _label(row: Mapping, keys) -> str:
    shown = [f"{k}={row.get(k)}" for k in keys if row.get(k) not in (None, "")]
    return ", ".join(shown) or f"config_hash={row.get('config_hash')}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def inspect_rows(header: List[str], rows: List[dict], configs: Mapping, digests: Mapping[str, str]) -> Integrity:
    """Sort ``rows`` (text, :func:`read_raw`) into intact and damaged (the module's rules) and name the missing.

    Examples
    --------
    >>> header = ["model", "test_accuracy", "config_hash"]
    >>> good, bad = {"model": "gcn", "test_accuracy": "0.8", "config_hash": "a"}, {"model": "gcn", "test_accuracy": "abc", "config_hash": "b"}
    >>> found = inspect_rows(header, [good, bad], {"a": {}, "b": {}}, {})
    >>> [r["config_hash"] for r in found.intact], found.damaged[0][1]
    (['a'], "test_accuracy='abc' is not a number")
    >>> inspect_rows(header, [good], {"a": {}}, {"a": row_digest({**good, "test_accuracy": "0.99"})}).damaged[0][1]
    'differs from the row as recorded (its digest): a value was edited'
    """
    numeric = {}
    for column in header:
        values = [r.get(column) for r in rows if r.get(column) not in (None, "")]
        numeric[column] = column != "config_hash" and any(isinstance(v, str) and _is_number(v) for v in values)
    found, seen = Integrity(header=list(header)), set()
    for row in rows:
        why = _damage(row, header, configs, digests, numeric, seen)
        if why:
            found.damaged.append((row, why))
        else:
            found.intact.append(row)
        seen.add((row.get("config_hash") or "").strip())
    present = {(r.get("config_hash") or "").strip() for r in rows}
    found.missing = sorted(h for h in digests if h not in present)
    return found


def _damage(row: dict, header, configs, digests, numeric, seen) -> Optional[str]:
    if None in row or any(row.get(c) is None for c in header):
        given = sum(row.get(c) is not None for c in header) + len(row.get(None) or [])
        return f"has {given} of {len(header)} fields (the file was cut short or a line edited)"
    digest = (row.get("config_hash") or "").strip()
    if "config_hash" in header:  # a table without the column (written by hand, not by a sitting) names no identities
        if not digest:
            return "has no config_hash"
        if digest in seen:
            return f"repeats config_hash {digest} of an earlier row"
        if configs and digest not in configs:
            return f"its configuration {digest} is not in cells.json"
    if digest and digest in digests:
        if digests[digest] != row_digest(row):
            return "differs from the row as recorded (its digest): a value was edited"
        return None
    for column in header:
        value = row.get(column)
        if numeric.get(column) and value not in (None, "") and not _is_number(value):
            return f"{column}={value!r} is not a number"
    return None


def digests_of(rows: List[dict]) -> Dict[str, str]:
    """``{config_hash: digest}`` of rows as text."""
    return {(r.get("config_hash") or "").strip(): row_digest(r) for r in rows}
