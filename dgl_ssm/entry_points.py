"""The console scripts ``dgl-ssm-study`` and ``dgl-ssm-diagnostics``: the study engine's entry points, imported only
when its extra is installed, so that a missing one is one line naming ``pip install "dgl_ssm[studies]"`` instead of
a ``ModuleNotFoundError`` traceback."""
from __future__ import annotations

import sys

__all__ = ["study", "diagnostics", "NEEDS_STUDIES"]

#: the ``studies`` extra: Hydra and OmegaConf (configuration, sweeps), matplotlib (figures), tabulate (tables)
STUDIES_EXTRA = {"hydra", "omegaconf", "matplotlib", "tabulate", "hydra_plugins"}
NEEDS_STUDIES = 'the study engine needs {name}: pip install "dgl_ssm[studies]"'


def _entry(module: str):
    try:
        if module == "study":
            from .studies.__main__ import main
        else:
            from .studies.diagnostics import main
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in STUDIES_EXTRA:
            raise
        print(f"error: {NEEDS_STUDIES.format(name=err.name.split('.')[0])}", file=sys.stderr)
        sys.exit(2)
    return main


def study() -> None:
    """``dgl-ssm-study`` = ``python -m dgl_ssm.studies``."""
    _entry("study")()


def diagnostics() -> None:
    """``dgl-ssm-diagnostics`` = ``python -m dgl_ssm.studies.diagnostics``."""
    _entry("diagnostics")()
