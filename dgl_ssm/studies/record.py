"""The results record of a study: a long-format CSV that only grows, and the provenance of every sitting.

``results/<study>/`` holds

* ``results.csv``: one row per cell and seed (the cell's key columns, ``status``,
  best epoch, epochs run, training time (``train_time_s``, wall-clock; ``train_cpu_s``,
  CPU seconds, empty in rows recorded before it), every metric, and ``config_hash``, the
  hash of the cell's resolved configuration);
* ``cells.json``: ``config_hash -> resolved cell configuration``;
* ``provenance.json``: one entry per sitting (git commit, exact command,
  resolved study configuration, date, machine, versions, wall time, cells run),
  and ``row_digests``, each row's digest (:mod:`~dgl_ssm.studies.integrity`: a row
  edited by hand, cut short or missing is named and rerun, never counted);
* ``retired.csv``: rows taken out of the record by :meth:`ResultsRecord.retire`
  (a protocol fixed after they were made), each with the date, commit and reason.

A cell is identified by its key (model, dataset, setting, seed) *and* its
configuration: a rerun skips the cells whose row has the same configuration
hash, runs the missing ones, and refuses a cell whose key is recorded with
another configuration, naming the keys that differ. Every file is written under
the record's lock (``flock``) as a temporary file renamed into place, so that
parallel workers (a sweep) can share one record; a sitting announces its cells
while it runs (:meth:`ResultsRecord.sitting_registered`), and one that would run
a cell of another running sitting with another configuration is refused at its start. To rerun
cells with a corrected configuration in the same record, retire their rows
first (``python -m dgl_ssm.studies.retire FOLDER --model KEY --reason
TEXT``): they move to ``retired.csv``, nothing is deleted.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

from .._io import atomic_write, write_csv
from .identity import flatten
from .integrity import DIGESTS, Integrity, digests_of, inspect_rows, read_raw
from .provenance import (_git, _package_version, cells_of, machine_info, packaged_study,  # noqa: F401 (re-exported)
                         record_study, uncommitted_changes)

__all__ = ["ResultsRecord", "config_hash", "RecordConflict", "machine_info", "record_study", "packaged_study"]


class RecordConflict(ValueError):
    """A cell is already recorded with another configuration; the message names the keys that differ."""


def config_hash(config: Mapping) -> str:
    """A 16-hex hash of a JSON-able configuration (key order does not matter)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _try_lock(handle) -> bool:
    """Take the exclusive ``flock`` of an open claim file without waiting; ``False`` if another process holds it."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class ResultsRecord:
    """The record of one study in ``folder``.

    Parameters
    ----------
    folder : path
        ``results/<study>/``; created on the first write.
    keys : sequence of str
        The key columns of a cell (e.g. ``("model", "dataset", "depth", "seed")``).

    Examples
    --------
    >>> import tempfile
    >>> rec = ResultsRecord(tempfile.mkdtemp(), ("model", "seed"))
    >>> cell = {"model": "gcn", "seed": 0}
    >>> rec.status(cell, {"lr": 0.01})
    'pending'
    >>> rec.append(cell, {"lr": 0.01}, {"test_accuracy": 0.8})
    >>> rec.status(cell, {"lr": 0.01})
    'done'
    >>> rec.status(cell, {"lr": 0.02})
    Traceback (most recent call last):
    ...
    dgl_ssm.studies.record.RecordConflict: cell model=gcn, seed=0 is recorded in ... with another configuration (lr: 0.01 -> 0.02); ...
    """

    def __init__(self, folder: os.PathLike, keys: Sequence[str]):
        self.folder, self.keys = Path(folder), tuple(keys)
        self.csv, self.cells_json, self.provenance = (self.folder / n for n in ("results.csv", "cells.json", "provenance.json"))

    # ------------------------------------------------------------------ reading
    def rows(self) -> List[dict]:
        """Every intact recorded row (values as read from the CSV: numbers parsed); a damaged row
        (:mod:`~dgl_ssm.studies.integrity`: edited, cut short, unparsable) is left out, so it never counts as done."""
        from ..report import parse_rows

        found = self.integrity()  # one read of the file
        return parse_rows(found.header, found.intact)

    def integrity(self) -> Integrity:
        """The record's rows sorted into intact and damaged, and the recorded rows the file no longer has
        (:func:`~dgl_ssm.studies.integrity.inspect_rows`)."""
        header, raw = read_raw(self.csv)
        return inspect_rows(header, raw, self._configs(), self._document().get(DIGESTS, {}))

    def _configs(self) -> dict:
        return cells_of(self.folder)

    def _document(self) -> dict:
        """``provenance.json`` (``{}`` if absent or unreadable: :meth:`check_provenance` refuses that before a write)."""
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(self.provenance.read_text())
            if isinstance(doc, dict):
                return doc
        return {}

    def _key(self, row: Mapping) -> tuple:
        return tuple(str(row.get(k)).strip() for k in self.keys)

    def status(self, cell: Mapping, config: Mapping, rows: Optional[List[dict]] = None) -> str:
        """``"done"`` if the cell is recorded with this configuration, ``"pending"`` if not recorded.

        ``rows``: the record's rows when the caller has read them already (one read for a whole grid).

        Raises
        ------
        RecordConflict
            If the cell is recorded with another configuration.
        """
        digest, key = config_hash(config), self._key(cell)
        recorded = [r for r in (self.rows() if rows is None else rows) if self._key(r) == key]
        if not recorded:
            return "pending"
        if any(str(r.get("config_hash")) == digest for r in recorded):
            return "done"
        old = self._configs().get(str(recorded[0].get("config_hash")), {})
        a, b = flatten(old), flatten(dict(config))
        changed = ", ".join(f"{k}: {a.get(k)} -> {b.get(k)}" for k in sorted({*a, *b}) if a.get(k) != b.get(k))
        label = ", ".join(f"{k}={cell[k]}" for k in self.keys)
        raise RecordConflict(
            f"cell {label} is recorded in {self.csv} with another configuration ({changed or 'unknown'}); "
            "run the changed study into another folder (out=...), give it another study.name, or retire the old rows "
            f"(python -m dgl_ssm.studies.retire {self.folder} --model {cell.get('model', 'KEY')} --reason ...)"
        )

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _locked(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def claim(self, cell: Mapping):
        """Hold ``cell`` for this process while it runs; yields ``False`` if another process holds it.

        Sittings of one study started side by side (the same command on two cores, say) then share the pending cells
        instead of running the same one twice. The claim is an ``flock`` on ``<folder>/.claims/<cell>.lock``, which
        the operating system releases when the process ends, so a killed sitting leaves no stale claim.

        Examples
        --------
        >>> import tempfile
        >>> record = ResultsRecord(tempfile.mkdtemp(), ("model", "seed"))
        >>> with record.claim({"model": "gcn", "seed": 0}) as mine:
        ...     with ResultsRecord(record.folder, ("model", "seed")).claim({"model": "gcn", "seed": 0}) as theirs:
        ...         mine, theirs
        (True, False)
        """
        path = self._claim_path(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as handle:
            held = _try_lock(handle)
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def held(self, cell: Mapping) -> bool:
        """Whether another process holds ``cell``'s claim now (:meth:`claim`); writes nothing."""
        path = self._claim_path(cell)
        if not path.is_file():
            return False
        with open(path) as handle:
            if not _try_lock(handle):
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def _claim_path(self, cell: Mapping) -> Path:
        from .labels import slug

        return self.folder / ".claims" / f"{slug({k: cell[k] for k in self.keys})}.lock"

    @contextlib.contextmanager
    def sitting_registered(self, cells: Mapping[str, str], study_config: Mapping, command: str):
        """Announce a sitting's cells (``{cell label: config_hash}``) for as long as it runs, refusing to start when
        a running sitting of this record would run one of them with another configuration.

        Sittings that split one grid (``~study.models.gcn``, ``study.settings=[64]``) or run the same grid side by
        side share the record; two that would record one cell under two configurations do not: without this check
        both ran their cells, the record held a mix (seed 0 at one learning rate, seed 1 at another) averaged into
        one row, and the clash was found only when they recorded. The announcement is
        ``<folder>/.sittings/<pid>.json``, held with an ``flock`` that the operating system releases when the
        process ends: a killed sitting's announcement is stale and is removed by the next sitting.

        Raises
        ------
        RecordConflict
            Naming the first clashing cell, the other sitting's command and the study keys that differ.
        """
        registry = self.folder / ".sittings"
        mine = registry / f"{os.getpid()}-{time.time_ns()}.json"
        with self._locked():
            registry.mkdir(parents=True, exist_ok=True)
            for path in sorted(registry.glob("*.json")):
                with open(path) as handle:
                    if _try_lock(handle):  # nobody holds it: that sitting ended without removing it
                        path.unlink(missing_ok=True)
                        continue
                    try:
                        other = json.loads(handle.read() or "{}")
                    except ValueError:  # being written: a sitting writes its announcement under the record's lock
                        continue
                    clash = next((label for label, h in other.get("cells", {}).items()
                                  if label in cells and cells[label] != h), None)
                    if clash:
                        a, b = flatten(other.get("study", {})), flatten(dict(study_config))
                        changed = ", ".join(f"{k}: {a.get(k)} -> {b.get(k)}" for k in sorted({*a, *b})
                                            if a.get(k) != b.get(k) and k != "name")
                        raise RecordConflict(
                            f"another sitting (pid {other.get('pid')}: {other.get('command')}) is running {self.folder} "
                            f"with another configuration of cell {clash} ({changed or 'cells differ'}); wait for it "
                            "to end, or run this configuration into another folder (out=...)")
            handle = open(mine, "w")
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps({"pid": os.getpid(), "command": command, "study": dict(study_config),
                                     "cells": dict(cells)}, default=str))
            handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                mine.unlink()
            handle.close()

    def append(self, cell: Mapping, config: Mapping, metrics: Mapping) -> None:
        """Add the row of a finished cell (never overwriting another), its configuration and its digest, under the
        lock. Damaged rows (:meth:`integrity`) move to ``retired.csv`` with the reason, and intact rows without a
        digest (written before digests) get theirs."""
        digest = config_hash(config)
        with self._locked():
            configs = self._configs()
            configs[digest] = dict(config)
            atomic_write(self.cells_json, lambda tmp: Path(tmp).write_text(json.dumps(configs, indent=1, sort_keys=True, default=str)))
            found = self.integrity()
            if any(self._key(r) == self._key(cell) and (r.get("config_hash") or "").strip() == digest for r in found.intact):
                return
            row = {k: "" if v is None else str(v) for k, v in {**cell, **metrics, "config_hash": digest}.items()}
            self._rewrite(found, found.intact + [row])

    def _rewrite(self, found: Integrity, keep: List[dict], retired: Sequence[tuple] = ()) -> None:
        """Under the lock: write ``keep`` (rows as text) to ``results.csv``; move ``retired`` (``(row, reason)``) and
        every damaged row to ``retired.csv``; set the digests of the rows kept and drop those of the rows moved."""
        moved = [(row, f"damaged: {why}") for row, why in found.damaged] + list(retired)
        if moved:
            stamp = {"retired_on": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "retired_at_commit": _git("rev-parse", "HEAD")}
            path = self.folder / "retired.csv"
            old = read_raw(path)[1]
            write_csv(path, old + [{**{k: v for k, v in row.items() if k is not None}, **stamp, "reason": why}
                                   for row, why in moved])
        write_csv(self.csv, keep)
        doc = self._document()
        digests = {h: d for h, d in doc.get(DIGESTS, {}).items()
                   if h not in {(r.get("config_hash") or "").strip() for r, _ in retired}}
        digests.update(digests_of(keep))
        doc = {"sittings": doc.get("sittings", []), **{k: v for k, v in doc.items() if k != "sittings"}, DIGESTS: digests}
        atomic_write(self.provenance, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1, default=str)))

    def seal(self) -> int:
        """Record the digest of every intact row that has none (rows written before digests existed); returns how
        many. A sitting does this at each write; committed records were sealed once from their committed files."""
        with self._locked():
            found = self.integrity()
            digests = self._document().get(DIGESTS, {})
            new = [r for r in found.intact if (r.get("config_hash") or "").strip() not in digests]
            if new or found.damaged:
                self._rewrite(found, found.intact)
            return len(new)

    def append_rows(self, name: str, rows: List[Mapping]) -> None:
        """Append ``rows`` to the record's side table ``<folder>/<name>`` (``layers.csv``, ``gradients.csv``) under the
        record's lock, written to a temporary file and renamed: sittings side by side never lose each other's rows
        (they did, reading and rewriting the file unlocked: 701 of 720 rows with two sittings)."""
        from ..report import read_csv

        if not rows:
            return
        with self._locked():
            path = self.folder / name
            write_csv(path, read_csv(path) + list(rows))

    def retire(self, reason: str, **match) -> int:
        """Move the rows whose columns equal ``match`` (e.g. ``model="gat"``) to ``retired.csv``; returns how many.

        For a protocol fixed after the rows were made: the next sitting reruns those cells with the corrected
        configuration, and the retired rows stay on record with the date, the commit and ``reason``. A retired
        row's per-epoch history (``histories/<cell>.csv``, which the rerun writes anew) moves to
        ``histories/retired/<cell>-<config_hash>.csv``.

        Raises
        ------
        ValueError
            If ``reason`` is empty, ``match`` is empty, or no row matches (the message lists the values present).
        """
        if not reason.strip() or not match:
            raise ValueError("retire needs a reason and at least one column to match (e.g. model='gat')")
        with self._locked():
            found = self.integrity()
            rows = found.intact
            hit = [r for r in rows if all(str(r.get(k)).strip() == str(v) for k, v in match.items())]
            if not hit:
                present = {k: sorted({str(r.get(k)) for r in rows}) for k in match}
                raise ValueError(f"no row of {self.csv} matches {match}; present: {present}")
            self._rewrite(found, [r for r in rows if r not in hit], [(r, reason.strip()) for r in hit])
            self._retire_histories(found.header, hit)
        return len(hit)

    def _retire_histories(self, header: Sequence[str], rows: List[dict]) -> None:
        """Move each row's history to ``histories/retired/``; a row's cell is its first four columns, as
        :func:`~dgl_ssm.studies.run.run_study` writes them (model, dataset, setting, seed) and names its history."""
        from .labels import slug

        for row in rows:
            src = self.folder / "histories" / f"{slug({k: str(row.get(k)).strip() for k in header[:4]})}.csv"
            if src.is_file():
                dst = src.parent / "retired" / f"{src.stem}-{str(row.get('config_hash')).strip()}.csv"
                dst.parent.mkdir(exist_ok=True)
                os.replace(src, dst)

    def check_provenance(self) -> None:
        """Refuse a record whose rows have lost their provenance: a sitting would write a ``provenance.json`` with
        only its own entry, and the old rows' commits, commands and machines would be gone without a word.

        Raises
        ------
        RecordConflict
            If ``results.csv`` has rows and ``provenance.json`` is missing or unreadable.
        """
        rows = self.rows() if self.csv.is_file() else []
        if not rows:
            return
        try:
            json.loads(self.provenance.read_text())["sittings"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            state = "is missing" if not self.provenance.is_file() else f"is unreadable ({type(err).__name__})"
            raise RecordConflict(f"{self.csv} holds {len(rows)} rows but {self.provenance} {state}: a sitting would "
                                 "record only its own provenance and lose theirs; restore it (git checkout -- "
                                 f"{self.provenance}) or move the record away") from None

    def start_sitting(self, study_config: Mapping, command: str, cells_planned: int) -> str:
        """Record a sitting's provenance before its first cell (commit, command, configuration, date, machine,
        versions); :meth:`update_sitting` adds the cells run and the wall time as they finish, so that a sitting
        that is interrupted still explains its rows. Returns the sitting's id."""
        commit = _git("rev-parse", "HEAD")
        entry = {
            "id": f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
            # an installed package has no checkout: its version (machine.dgl_ssm) is what identifies the code
            "commit": commit or f"none: installed package dgl_ssm {_package_version()}, not a git checkout",
            "uncommitted_changes": uncommitted_changes(self.folder),  # the record's own files aside
            "command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "wall_time_s": 0.0,
            "cells_planned": cells_planned, "cells_run": 0, "finished": False, "machine": machine_info(),
            "config": dict(study_config),
        }
        self._edit_sittings(lambda sittings: sittings.append(entry))
        return entry["id"]

    def update_sitting(self, sitting: str, cells_run: int, wall_time_s: float, finished: bool = False,
                       stopped: Optional[str] = None) -> None:
        """Set the cells run and wall time of sitting ``sitting`` (and whether it finished; ``stopped``: why it
        ended before its last cell, :mod:`dgl_ssm.studies.stop`)."""

        def edit(sittings):
            for entry in sittings:
                if entry.get("id") == sitting:
                    entry.update(cells_run=cells_run, wall_time_s=round(wall_time_s, 1), finished=finished)
                    if stopped:
                        entry["stopped"] = stopped

        self._edit_sittings(edit)

    def _edit_sittings(self, change) -> None:
        with self._locked():
            doc = json.loads(self.provenance.read_text()) if self.provenance.is_file() else {"sittings": []}
            change(doc["sittings"])  # the other keys (the row digests) as they are
            atomic_write(self.provenance, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=1, default=str)))
