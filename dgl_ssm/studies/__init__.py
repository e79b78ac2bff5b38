"""Studies as data: configuration files (Hydra / OmegaConf), one engine, a committed results record.

``python -m dgl_ssm.studies study=depth_quick`` runs a study from the
configuration files in ``dgl_ssm/conf/`` and records it in
``results/<study>/``; see :func:`~dgl_ssm.studies.run.run_study`.
"""
from .record import RecordConflict, ResultsRecord
from .schema import ConfigError, RunConfig, StudyConfig
from .stop import StudyStopped


def __getattr__(name):
    """``run_study`` on first use: importing the package does not import the engine's modules, so that
    ``python -m dgl_ssm.studies.tables`` runs its module once (runpy warns about a module imported before it runs)."""
    if name == "run_study":
        from .run import run_study

        return run_study
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["run_study", "ResultsRecord", "RecordConflict", "ConfigError", "RunConfig", "StudyConfig", "StudyStopped"]
