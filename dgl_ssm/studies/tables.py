"""``python -m dgl_ssm.studies.tables [FOLDER ...]``: regenerate every study's ``results.md`` from its record.

Without arguments, every ``results/*/`` folder with a ``results.csv`` and a
``provenance.json``; ``--readme README.md`` also fills the README's generated
result blocks. The study configuration is the latest sitting's (from
``provenance.json``), except ``published``, ``choose_setting`` (when the file turns it on) and the row order: the
numbers to compare with and the tables to show are not part of how a result was made, so they come from the
study's current configuration file (``dgl_ssm/conf/study/<name>.yaml``) when
it exists, and rows follow its model order. ``--check`` writes nothing and exits 1 if a committed
table differs from what its record gives (the test suite runs this).
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path

from omegaconf import OmegaConf

from .identity import IMPLICIT_PROTOCOL
from .schema import StudyConfig, check_published

__all__ = ["record_study", "regenerate", "main"]


def record_study(folder: Path):
    """The study of a record: the last sitting's configuration, with the models, datasets and settings of every
    sitting (a sitting may run a part of the grid, e.g. ``~study.models.gcn 'study.settings=[64]'``) and the most
    seeds any sitting asked for (a sitting may run fewer, e.g. ``study.seeds=1``). A model's entry
    is its latest one; rows follow the packaged configuration's model order (else the order in which sittings first
    named them), and ``published`` is the packaged configuration's. A model's label (presentation, not part of a
    cell's identity) is the packaged configuration's while it still has the model, so that a relabelled row still
    meets its published numbers. A model that the packaged configuration no longer has and that has no row left in
    ``results.csv`` (all retired) is not a row. A protocol key that a sitting's configuration lacks (it was recorded
    before the key existed) takes the value :data:`~dgl_ssm.studies.identity.IMPLICIT_PROTOCOL` gives it, the
    behaviour of that sitting's code."""
    from ..report import read_csv

    sittings = json.loads((folder / "provenance.json").read_text())["sittings"]
    config = dict(sittings[-1]["config"])
    models, datasets, settings, seeds = {}, [], set(), 1
    for sitting in sittings:
        part = sitting["config"]
        models.update(part.get("models", {}))  # a key keeps its first position, takes its latest value
        datasets += [d for d in part.get("datasets", []) if d not in datasets]
        settings |= set(part.get("settings", []))
        seeds = max(seeds, int(part.get("seeds", 1)))
    current = _current_study(config.get("name", ""))
    if current is not None:  # rows in the configuration's order; the numbers to compare with as configured now
        check_published(current)
        recorded = {str(r.get("model")) for r in read_csv(folder / "results.csv")} if (folder / "results.csv").is_file() else set()
        order = [k for k in current.models if k in models] + [k for k in models if k not in current.models and k in recorded]
        models = {k: models[k] for k in order}
        for key in models.keys() & current.models.keys():
            if current.models[key].label:
                models[key] = {**models[key], "label": current.models[key].label}
        config["published"] = OmegaConf.to_container(current.published)
        config["compare_published"] = current.compare_published
        config["unavailable"] = OmegaConf.to_container(current.unavailable)  # presentation, as configured now
        if current.choose_setting:  # presentation: the table of the setting chosen on validation, as configured now
            config.update(choose_setting=True, select_metric=current.select_metric,
                          select_higher_is_better=current.select_higher_is_better)
    config.update(models=models, datasets=datasets, settings=sorted(settings), seeds=seeds)
    # a sitting recorded before a protocol key existed ran with the value that key now leaves implicit
    config["train"] = {**IMPLICIT_PROTOCOL, **config.get("train", {})}
    return OmegaConf.merge(OmegaConf.structured(StudyConfig), config)


@functools.lru_cache(maxsize=None)  # a sitting asks after every cell; the packaged file does not change meanwhile
def _current_study(name: str):
    """The packaged study configuration ``name`` (``dgl_ssm/conf/study/<name>.yaml``), or ``None`` if there is none."""
    from importlib.resources import files

    if not name or not files("dgl_ssm.conf").joinpath("study", f"{name}.yaml").is_file():
        return None
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra application (a study sitting): its search path
        return compose("config", overrides=[f"study={name}"]).study
    with initialize_config_module("dgl_ssm.conf", version_base="1.3"):
        return compose("config", overrides=[f"study={name}"]).study


def regenerate(folder: Path, write: bool = True) -> str:
    """The ``results.md`` text of the study in ``folder`` (written, with the plots, unless ``write`` is false)."""
    from ..report import read_csv
    from .run import write_plots, write_tables

    folder = Path(folder)
    study = record_study(folder)
    rows = read_csv(folder / "results.csv")
    if write:
        write_plots(study, rows, folder)
        return write_tables(study, rows, folder)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return write_tables(study, rows, Path(tmp))


def readme_blocks(readme: Path, results: Path) -> str:
    """``readme`` with every ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->`` block set to ``results/NAME/results.md``."""
    text = readme.read_text()

    def fill(match):
        name = match.group(1)
        table = (results / name / "results.md").read_text().strip()
        return f"<!-- results:{name} -->\n{table}\n<!-- /results:{name} -->"

    return re.sub(r"<!-- results:([\w-]+) -->.*?<!-- /results:\1 -->", fill, text, flags=re.S)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", type=Path)
    p.add_argument("--check", action="store_true", help="compare with the committed results.md instead of writing")
    p.add_argument("--readme", type=Path, default=None,
                   help="also fill the <!-- results:NAME --> blocks of this Markdown file from results/NAME/results.md")
    args = p.parse_args(argv)
    folders = args.folders or sorted(f.parent for f in Path("results").glob("*/results.csv"))  # studies, not diagnostics
    stale = []
    for folder in folders:
        text = regenerate(folder, write=not args.check)
        committed = folder / "results.md"
        if args.check and (not committed.is_file() or committed.read_text() != text):
            stale.append(str(folder))
    if args.readme is not None:
        filled = readme_blocks(args.readme, Path("results") if not args.folders else args.folders[0].parent)
        if args.check and filled != args.readme.read_text():
            stale.append(str(args.readme))
        elif not args.check:
            args.readme.write_text(filled)
    if stale:
        print(f"error: results.md differs from its record in {', '.join(stale)}; run python -m dgl_ssm.studies.tables")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
