"""``python -m dgl_ssm.studies study=<name> [overrides]``: run a study from its configuration files.

Examples::

    python -m dgl_ssm.studies study=depth_quick                 # `make run`
    python -m dgl_ssm.studies study=depth study.seeds=5 'study.settings=[2,8,32]'
    python -m dgl_ssm.studies study=graphprop_quick device=cpu threads=1
    python -m dgl_ssm.studies study=depth_cora plan=true          # what would run, and for how long; runs nothing
    # a local sweep: 2 worker processes, one OpenMP thread each, sharing one results record
    python -m dgl_ssm.studies -m study=depth_quick num_shards=2 shard=0,1 hydra/launcher=joblib hydra.launcher.n_jobs=2
    # data-parallel training of every cell (graph-level studies): 2 ranks, gloo on CPU, nccl on CUDA
    torchrun --nproc_per_node 2 -m dgl_ssm.studies study=graphprop_quick

Expected errors (a bad value, an unknown key, a ``study.train`` value that
would not reach a model with its own protocol, missing data, no CUDA, an
unusable output folder, a rerun with another configuration) print one
``error:`` line and exit with status 2, before anything is written. A sitting
ended early by ``time_limit_s=<seconds>`` or by SIGTERM / SIGUSR1 (at the end of
an epoch: the running cell's checkpoint is kept, and the same command continues
it exactly) prints one ``stopped:`` line and exits with status 3::

    python -m dgl_ssm.studies study=depth_cora time_limit_s=10000   # e.g. inside a 3-hour batch job
"""
from __future__ import annotations

import shlex
import sys

try:
    import hydra
    from omegaconf import DictConfig
except ModuleNotFoundError as _missing:  # the studies extra is not installed: one line, not a traceback
    sys.exit(f'error: the study engine needs {_missing.name}: pip install "dgl_ssm[studies]"')

from ..train.distributed import exit_distributed
from . import schema  # noqa: F401  (registers the schema of conf/config.yaml)
from . import validation
from .cli import fail as _fail
from .stop import EXIT_STOPPED, StudyStopped

_HYDRA_FLAGS = {"-m", "--multirun", "-h", "--help", "--hydra-help", "-c", "--cfg", "--info", "--resolve"}


def _check_composition(argv) -> None:
    """Compose the configuration once with Hydra's compose API, so that a bad override is one ``error:`` line."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    overrides = [a for a in argv if a not in _HYDRA_FLAGS and not a.startswith("hydra")]
    if any(a in _HYDRA_FLAGS - {"-m", "--multirun"} for a in argv):
        return  # Hydra's own help and --cfg output
    if any("," in a.split("=", 1)[-1] and not a.split("=", 1)[-1].startswith("[") for a in overrides):
        overrides = [a.split("=", 1)[0] + "=" + a.split("=", 1)[1].split(",")[0] if "=" in a else a for a in overrides]
    with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    validation.validate(cfg)  # every value, before the next check, which reads them
    # a value that would change some of the models run and not others
    validation.check_overrides_reach(schema.with_selected_models(cfg).study, overrides)


@hydra.main(config_path="pkg://dgl_ssm.conf", config_name="config", version_base="1.3")
def _main(cfg: DictConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")  # an entry point chooses the backend (files only); library plot helpers never do
    from .run import run_study

    command = "python -m dgl_ssm.studies " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        _, table = run_study(cfg, command)
    except StudyStopped as stopped:  # the record and tables are written; not an error
        print(f"stopped: {stopped}", file=sys.stderr)
        sys.exit(EXIT_STOPPED)
    except (ValueError, FileNotFoundError, RuntimeError) as err:  # bad values, data, device, record conflicts
        _fail(err)
    if table:
        print(table)


def main() -> None:
    if "--version" in sys.argv[1:]:
        from .. import __version__

        print(__version__)
        return
    try:
        _check_composition(sys.argv[1:])
    except Exception as err:  # noqa: BLE001 - Hydra/OmegaConf raise several types; one line for all
        _fail(err)
    _main()
    exit_distributed(0)  # a torchrun rank ends here: gloo's teardown can hang (dgl_ssm.train.distributed)


if __name__ == "__main__":
    main()
