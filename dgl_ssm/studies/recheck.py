"""``python -m dgl_ssm.studies.recheck FOLDER``: recompute a record's numbers from the trained models it kept.

Each recorded cell whose model a sitting kept (``keep_models=true``) is rebuilt with it and evaluated again on its
validation and test splits (:func:`dgl_ssm.studies.trained.recheck`); the table sets each recomputed number beside
the recorded one. Exit status 0 when every difference is within its tolerance, 1 when one is not, 2 with one
``error:`` line on bad input. Writes nothing.

The losses are the sharp check: a mean of float32 losses moves by about 1e-8 when a sum is rounded in another order
(another CPU, another MKL code path), while a model other than the kept best-epoch one moves it far more. A rank or
argmax metric (average precision, accuracy) is a step function of the scores and can move by more. Measured with
``python -m dgl_ssm.studies.recheck results/lrgb_seed`` (kGCN-SSM, 2,331 test molecules; recorded on this AMD EPYC
with MKL's Intel code path) on 2026-12-08: with that path every number exactly; without it (MKL's own path for AMD)
the test AP moved by 6.3e-5 and the test loss by 6.2e-9. Hence two tolerances.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .trained import recheck

__all__ = ["main"]


def main(argv=None) -> int:
    """Parse the command line, recheck the record and print the table; exit status 0, 1 or 2 (above)."""
    r = argparse.ArgumentParser(prog="python -m dgl_ssm.studies.recheck", description=__doc__.splitlines()[0])
    r.add_argument("folder", type=Path, help="a study record, results/<study>")
    r.add_argument("--loss-tolerance", type=float, default=1e-6,
                   help="largest absolute difference of a loss taken as agreement (default 1e-6)")
    r.add_argument("--metric-tolerance", type=float, default=1e-4,
                   help="largest absolute difference of the metric taken as agreement (default 1e-4)")
    r.add_argument("--device", default="cpu")
    r.add_argument("--data-root", type=Path, help="caches (default: $DGL_SSM_ROOT, else ~/.dgl_ssm)")
    r.add_argument("--data-dir", type=Path, help="offline raw copies (default: $DGL_SSM_DATA, else DGL downloads)")
    args = r.parse_args(argv)
    for name in ("loss_tolerance", "metric_tolerance"):
        if not getattr(args, name) >= 0:
            flag = "--" + name.replace("_", "-")
            print(f"error: {flag} {getattr(args, name)} is not a non-negative number (e.g. {flag} 1e-6)", file=sys.stderr)
            return 2
    try:
        rows = recheck(args.folder, args.device, args.data_root, args.data_dir,
                       log=lambda line: print(line, file=sys.stderr))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import pandas as pd

    table = pd.DataFrame(rows)
    table["tolerance"] = [args.loss_tolerance if q.endswith("_loss") else args.metric_tolerance for q in table["quantity"]]
    table["agrees"] = table["difference"].abs() <= table["tolerance"]
    print(table.to_markdown(index=False, floatfmt=".10g"))
    bad = int((~table["agrees"]).sum())
    if bad:
        print(f"{bad} of {len(table)} numbers differ from the record by more than their tolerance: a model that is "
              "not the one the record's numbers came from, or (a metric alone, on another machine) a rank flipped by "
              "rounding", file=sys.stderr)
        return 1
    print(f"all {len(table)} numbers agree with the record within their tolerance", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
