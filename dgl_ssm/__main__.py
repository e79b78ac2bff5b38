"""``python -m dgl_ssm``: what this environment gives dgl_ssm (as ``torch.utils.collect_env`` does for torch).

Prints the versions that matter (dgl_ssm, Python, torch, DGL, torchdata, NumPy), whether torch and DGL can use CUDA,
the thread pools, and where data comes from (``DGL_SSM_DATA``) and goes (``DGL_SSM_ROOT``). ``--version`` prints the
package's version only. Attach the report to a bug report.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata

__all__ = ["report", "main"]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def report() -> str:
    """The environment report, one ``name: value`` line each."""
    from . import __version__

    lines = [f"dgl_ssm: {__version__}", f"python: {sys.version.split()[0]} ({platform.platform()})"]
    lines += [f"{name}: {_version(name)}" for name in ("torch", "dgl", "torchdata", "numpy", "scipy", "hydra-core", "ogb", "rdkit")]
    try:
        from ._stack import check_stack

        check_stack()
        lines.append("torch/DGL pair: works together")
    except ImportError as err:
        lines.append(f"torch/DGL pair: BROKEN: {err}")
        return "\n".join(lines)
    import torch

    lines.append(f"CUDA in torch: {torch.cuda.is_available()} (built for {torch.version.cuda or 'CPU only'})")
    dgl_cuda = False
    if torch.cuda.is_available():
        try:
            import dgl

            dgl.graph(([0], [0])).to("cuda")
            dgl_cuda = True
        except Exception:  # noqa: BLE001 - a CPU build of DGL raises DGLError here
            dgl_cuda = False
    lines.append(f"CUDA in DGL: {dgl_cuda}")
    lines.append(f"threads: torch {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
                 f"{os.cpu_count()} cores")
    from .data.paths import USER_ROOT

    lines.append(f"data root (caches, DGL_SSM_ROOT): {os.environ.get('DGL_SSM_ROOT') or USER_ROOT.expanduser()}")
    lines.append(f"offline raw data (DGL_SSM_DATA): {os.environ.get('DGL_SSM_DATA') or 'unset: datasets are downloaded'}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dgl_ssm", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version of dgl_ssm and exit")
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return
    print(report())


if __name__ == "__main__":
    main()
