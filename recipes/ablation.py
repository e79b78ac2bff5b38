"""Ablation suites: named grids of models x tasks x settings x seeds, one Markdown table (mean ± std) each.

Suites (see dgl_ssm.ablation.SUITES):
  depth      Cora and Texas accuracy vs depth for GCN, ResGCN, Lipschitz-normalized
             ResGCN, GCNII and GCN-SSM; per-layer gradient norms at initialization
  graphprop  diameter, SSSP, eccentricity (log10 MSE) for GCN, GCN-SSM (random Λ and
             eig(Λ) ≈ 1), kGCN-SSM, DRew-GCN ± delay
  peptides   Peptides-func AP at 17 and 40 layers for GCN, GCN-SSM, kGCN-SSM within
             500k parameters, plus one GCN-SSM above the budget (flagged)
  ring       RingTransfer accuracy vs ring size for GCN, GCN-SSM λ ∈ {0.5, 0.75, 1}, kGCN-SSM

Writes to the run folder:
  results.csv            one row per (model, task, setting, seed)
  results.md             mean ± std of the suite's metric, rows by model, columns by task and setting
  (depth) gradients.csv  per-layer gradient norms at initialization; gradients_<task>.png (log scale)
  (graph suites) cells/<cell>/checkpoint.pt, history.csv: an interrupted cell resumes from its checkpoint

Rerunning with the same --out skips the cells already in results.csv.

    python recipes/ablation.py --suite depth --quick
    python recipes/ablation.py --suite depth --quick --depths 2 8 --seeds 2 --models GCN GCN-SSM
    python recipes/ablation.py --suite ring --quick --ring-sizes 4 8 12
"""
from __future__ import annotations

import sys

from dgl_ssm import experiment
from dgl_ssm.ablation import SUITES, get_suite, run_suite


def main(argv=None) -> list:
    p = experiment.parser(__doc__.splitlines()[0])
    p.add_argument("--suite", required=True, choices=list(SUITES), help="which ablation grid to run")
    p.add_argument("--settings", "--depths", "--ring-sizes", "--layers", dest="settings", type=int, nargs="+", default=None,
                   help="values of the swept setting (depths, ring sizes, layers); default: the suite's")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the suite's)")
    p.add_argument("--epochs", type=int, default=None, help="max epochs (patience is capped at it)")
    p.add_argument("--models", nargs="+", default=None, help="subset of the suite's model labels")
    p.add_argument("--tasks", nargs="+", default=None, help="subset of the suite's tasks")
    args = p.parse_args(argv)
    try:
        suite = get_suite(args.suite).variant(args.quick, settings=args.settings, seeds=args.seeds, epochs=args.epochs, models=args.models, tasks=args.tasks)
    except ValueError as err:
        p.error(str(err))
    run = experiment.start(args, f"ablation-{suite.name}")
    rows, table = run_suite(
        suite, run.dir, first_seed=args.seed, device=run.device, data_dir=args.data_dir, data_root=args.data_root,
        progress=not args.no_progress,
    )
    print(f"\n{table}\n\nwrote {run.dir}/results.csv, results.md")
    return rows


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:  # missing data, bad options: one line with the fix
        sys.exit(f"error: {err}")
