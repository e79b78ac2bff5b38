"""``python -m dgl_ssm.studies.retire FOLDER --model KEY --reason TEXT``: move rows of a fixed protocol to retired.csv.

When a protocol is corrected after its rows were made, the record refuses the corrected cells (another
configuration). Retiring the old rows (:meth:`dgl_ssm.studies.record.ResultsRecord.retire`) moves them to
``retired.csv`` with the date, the commit and the reason; the next sitting then reruns those cells. Other columns
can be matched with ``--column NAME=VALUE`` (e.g. ``--column depth=256``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .record import ResultsRecord

__all__ = ["main"]


def main(argv=None) -> int:
    """Parse the command line and retire the matching rows; exit status 0, or 2 with one ``error:`` line."""
    r = argparse.ArgumentParser(prog="python -m dgl_ssm.studies.retire", description=__doc__.splitlines()[0])
    r.add_argument("folder", type=Path)
    r.add_argument("--model", help="the model key (results.csv column 'model')")
    r.add_argument("--column", action="append", default=[], metavar="NAME=VALUE", help="another column to match")
    r.add_argument("--reason", required=True)
    args = r.parse_args(argv)
    bad = [c for c in args.column if "=" not in c]
    if bad:
        print(f"error: --column {bad[0]!r} is not NAME=VALUE (e.g. --column depth=256)", file=sys.stderr)
        return 2
    match = dict(c.split("=", 1) for c in args.column)
    if args.model:
        match["model"] = args.model
    if not (args.folder / "results.csv").is_file():
        print(f"error: {args.folder / 'results.csv'} does not exist; give the folder of a study record", file=sys.stderr)
        return 2
    try:
        n = ResultsRecord(args.folder, ()).retire(args.reason, **match)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{n} row(s) of {args.folder / 'results.csv'} moved to {args.folder / 'retired.csv'}; regenerate the tables "
          "with python -m dgl_ssm.studies.tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
