"""Studies as data: configuration files (Hydra / OmegaConf), one engine, a committed results record.

``python -m dgl_ssm.studies study=depth_quick`` runs a study from the
configuration files in ``dgl_ssm/conf/`` and records it in
``results/<study>/``; see :func:`~dgl_ssm.studies.run.run_study`.
"""
from .record import RecordConflict, ResultsRecord
from .run import run_study
from .schema import ConfigError, RunConfig, StudyConfig
from .stop import StudyStopped

__all__ = ["run_study", "ResultsRecord", "RecordConflict", "ConfigError", "RunConfig", "StudyConfig", "StudyStopped"]
