"""Checks of the committed records in results/: tables, hashes, published rows, and the choices the graph property studies made."""
import json
from pathlib import Path

from dgl_ssm.report import read_csv
from dgl_ssm.studies.tables import main as tables_main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_tables_match_their_records(monkeypatch):
    """results/<study>/results.md and the README's generated blocks equal what the records give, checked by the
    documented command itself (no folders: every study of results/, not the diagnostics beside them)."""
    assert list((ROOT / "results").glob("*/results.csv")), "no committed study records"
    assert [p for p in (ROOT / "results").glob("*/provenance.json") if not (p.parent / "results.csv").is_file()], \
        "the diagnostics records (provenance, no results.csv) this test keeps the command honest about"
    monkeypatch.chdir(ROOT)
    assert tables_main(["--check", "--readme", "README.md"]) == 0


def test_every_packaged_study_names_real_published_rows_and_columns(compose_config):
    """The published numbers of every packaged study sit in a row and a column of its table (checked at report time)."""
    from importlib.resources import files

    from dgl_ssm.studies.schema import check_published

    names = sorted(p.name[:-5] for p in files("dgl_ssm.conf").joinpath("study").iterdir() if p.name.endswith(".yaml"))
    assert "depth_cora" in names
    for name in names:
        check_published(compose_config("config", f"study={name}").study)

def test_committed_records_keep_their_configuration_hashes(compose_config):
    """Protocol keys added later (monitor, weight_decay_groups) at their former implicit values change no hash:
    every committed cell of the committed studies is still 'done', none pending, none in conflict."""
    from dgl_ssm.studies.record import ResultsRecord
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.grid import study_cells

    for name in ("graphprop_quick", "ring_quick", "peptides_quick"):
        study = compose_config("config", f"study={name}").study
        record = ResultsRecord(ROOT / "results" / name, ["model", "dataset", study.setting_name, "seed"])
        rows = record.rows()
        assert rows and all(record.status(c, cell_config(study, c), rows) == "done" for c in study_cells(study))

def _budget_choices(columns):
    """graphprop_budget's study from its committed record and its choice per (row, column) on validation."""
    from dgl_ssm.studies.selection import selection_choices
    from dgl_ssm.studies.record import record_study

    folder = ROOT / "results" / "graphprop_budget"
    budget = record_study(folder)
    return budget, selection_choices(budget, read_csv(folder / "results.csv"), columns)

def _group_with_preset(study, presets: set, of: str) -> str:
    """The one ``select`` group of ``study`` whose members all have the presets ``presets`` (``of``: for the message)."""
    groups = [g for g, ms in study.select.items() if {study.models[m].preset for m in ms} == presets]
    assert len(groups) == 1, f"{of}: no single {study.name} row with preset {presets}"
    return groups[0]

def _entry_spec(model, without=()):
    """What a study entry trains: preset, train entries (less ``without``), options."""
    from omegaconf import OmegaConf

    train = {k: v for k, v in OmegaConf.to_container(model.train or {}).items() if k not in without}
    return model.preset, train, OmegaConf.to_container(model.options)

def test_graphprop_full_runs_the_budget_tables_choices(compose_config):
    """Issue 19: every entry of graphprop_full is, for its task, the width / λ that graphprop_budget chose on
    validation in the committed record (a final choice: every member has run the selection seeds), and every row
    has its entry on every task."""
    full = compose_config("config", "study=graphprop_full").study
    columns = {f"{d} {s}" for d in full.datasets for s in full.settings}
    budget, choices = _budget_choices(columns)

    checked = set()
    for group, members in full.select.items():
        if group.endswith(RADIUS_GROUP):  # checked against graphprop_hops below
            continue
        assert group in budget.select, f"{group!r} is not a row of graphprop_budget"
        for member in members:
            datasets = list(full.models[member].datasets)
            assert len(datasets) == 1, f"{member}: one entry per row and task"
            column = f"{datasets[0]} {full.settings[0]}"
            assert (group, column) not in checked, f"{group} has two entries for {column}"
            checked.add((group, column))
            chosen = choices[(group, column)]
            assert chosen is not None, f"{member}: graphprop_budget's choice for {group} on {column} is not final"
            assert _entry_spec(full.models[member]) == _entry_spec(budget.models[chosen]), (member, chosen)
    missing = {(group, column) for group in full.select if not group.endswith(RADIUS_GROUP) for column in columns}
    assert not missing - checked, f"rows and tasks without their budget choice: {sorted(missing - checked)}"

#: graphprop_full's rows that rerun a k-hop model at the radius graphprop_hops chose
RADIUS_GROUP = ", max_hop chosen on validation"

def test_graphprop_full_radius_rows_run_the_radius_graphprop_hops_chose(compose_config):
    """Issue 19: a "max_hop chosen on validation" row of graphprop_full runs, per task, exactly the entry (width, λ
    and max_hop) that graphprop_hops chose on validation for that model in its committed record; the choice must be
    final. Tasks whose radius is not chosen yet have no entry (they are added when it is)."""
    from dgl_ssm.studies.selection import selection_choices

    full = compose_config("config", "study=graphprop_full").study
    hops = compose_config("config", "study=graphprop_hops").study
    columns = [f"{d} {s}" for d in hops.datasets for s in hops.settings]
    choices = selection_choices(hops, read_csv(ROOT / "results" / "graphprop_hops" / "results.csv"), columns)

    groups = [g for g in full.select if g.endswith(RADIUS_GROUP)]
    assert len(groups) == 2, groups
    for group in groups:
        members = full.select[group]
        hop_group = _group_with_preset(hops, {full.models[m].preset for m in members}, group)
        tasks = [full.models[m].datasets[0] for m in members]
        assert len(tasks) == len(set(tasks)), f"{group}: one entry per task"
        for member in members:
            (task,) = full.models[member].datasets
            chosen = choices[(hop_group, f"{task} 10")]
            assert chosen is not None, f"{member}: graphprop_hops' choice on {task} is not final"
            assert _entry_spec(full.models[member]) == _entry_spec(hops.models[chosen]), (member, chosen)

def test_graphprop_hops_varies_only_the_radius_of_the_budget_tables_choice(compose_config):
    """Issue 19: every entry of graphprop_hops is, for its one task, the choice of graphprop_budget (committed
    record) for the row with its preset, with only ``max_hop`` changed; each group runs the radii 3, 5 and 10 on
    every task."""
    hops = compose_config("config", "study=graphprop_hops").study
    budget, choices = _budget_choices([f"{d} {s}" for d in hops.datasets for s in hops.settings])

    assert list(hops.settings) == [10]
    for group, members in hops.select.items():
        presets = {hops.models[m].preset for m in members}
        assert len(presets) == 1, f"{group}: one model per group, only the radius varies"
        row = _group_with_preset(budget, presets, group)
        radii = {}
        for member in members:
            model = hops.models[member]
            assert len(model.datasets) == 1, f"{member}: one task per entry"
            task = model.datasets[0]
            radii.setdefault(task, []).append(model.train.max_hop)
            chosen = choices[(row, f"{task} 10")]
            assert chosen is not None, f"graphprop_budget's {task} choice for {row} is not final"
            assert _entry_spec(model, without=("max_hop",)) == _entry_spec(budget.models[chosen]), (member, chosen)
        assert {t: sorted(r) for t, r in radii.items()} == {t: [3, 5, 10] for t in hops.datasets}, group


def test_every_committed_record_keeps_its_cell_hashes():
    """Each committed cell's identity, recomputed from its record's configuration (every sitting's, migrated by
    record_study) with the current code, is the hash the record holds: no protocol change re-runs or refuses it."""
    from dgl_ssm.report import read_csv
    from dgl_ssm.studies.identity import cell_config
    from dgl_ssm.studies.record import config_hash
    from dgl_ssm.studies.record import record_study

    folders = [f.parent for f in sorted((ROOT / "results").glob("*/cells.json")) if (f.parent / "provenance.json").is_file()]
    assert len(folders) >= 15
    checked = 0
    for folder in folders:
        study = record_study(folder)
        for row in read_csv(folder / "results.csv"):
            cell = {"model": row["model"], "dataset": row["dataset"], study.setting_name: int(row[study.setting_name]),
                    "seed": int(row["seed"])}
            assert config_hash(cell_config(study, cell)) == str(row["config_hash"]), (folder.name, cell)
            checked += 1
    assert checked > 1400


def test_every_committed_row_is_intact_and_sealed():
    """Every committed row matches the digest kept for it in provenance.json, and no recorded row is missing: a value
    edited by hand in results/ fails here, in CI, as it would be named and rerun by the next sitting."""
    from dgl_ssm.studies.integrity import DIGESTS
    from dgl_ssm.studies.record import ResultsRecord

    folders = [f.parent for f in sorted((ROOT / "results").glob("*/cells.json")) if (f.parent / "provenance.json").is_file()]
    rows = 0
    for folder in folders:
        found = ResultsRecord(folder, ()).integrity()
        assert not found.damaged and not found.missing, found.report(folder / "results.csv")
        digests = json.loads((folder / "provenance.json").read_text()).get(DIGESTS, {})
        assert {r["config_hash"] for r in found.intact} <= set(digests), f"{folder.name}: rows without a digest"
        rows += len(found.intact)
    assert rows > 1400



def _stale_checkpoints(results: Path) -> list[str]:
    """The checkpoints under ``results/<study>/.checkpoints/`` whose cell the study's record holds, or with no
    ``history.csv`` beside them, each named with the fix."""
    found = []
    for ckpt in sorted(results.glob("*/.checkpoints/*/checkpoint.pt")):
        folder, run = ckpt.parents[2], ckpt.parent.name
        recorded = {r["config_hash"] for r in read_csv(folder / "results.csv")} if (folder / "results.csv").is_file() \
            else set()
        if run.rsplit("-", 1)[1] in recorded:
            found.append(f"{ckpt}: its cell is recorded; git rm -r {ckpt.parent}")
        if not (ckpt.parent / "history.csv").is_file():
            found.append(f"{ckpt}: no history.csv beside it")
    return found


def test_a_carried_checkpoint_is_of_a_cell_still_running(tmp_path):
    """A checkpoint under results/<study>/.checkpoints/ (carried in git between sittings on different machines, as
    tier 2 of the LRGB study does) belongs to a cell its record does not hold yet: once the cell is recorded, the
    sitting deletes its checkpoint, and a committed one left behind is stale weight in the repository. Each carries
    its history beside it. The check itself is tried on a made-up record first."""
    run = tmp_path / "study" / ".checkpoints" / "gcn-cora-2-0-0123456789abcdef"
    run.mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"")
    (run / "history.csv").write_text("epoch\n")
    assert _stale_checkpoints(tmp_path) == []
    (tmp_path / "study" / "results.csv").write_text("model,config_hash\ngcn,0123456789abcdef\n")
    (run / "history.csv").unlink()
    assert [m.split(": ")[1] for m in _stale_checkpoints(tmp_path)] == [f"its cell is recorded; git rm -r {run}",
                                                                         "no history.csv beside it"]
    assert _stale_checkpoints(ROOT / "results") == []


def _stray_models(results: Path) -> list[str]:
    """The kept models under ``results/<study>/.models/`` (carried in git by ``make carry``) that are not a recorded
    cell's trained model of this format under its own name, each named with the fix."""
    from dgl_ssm.train.trained import load_trained

    found = []
    for path in sorted(results.glob("*/.models/*.pt")):
        folder = path.parents[1]
        recorded = {r["config_hash"] for r in read_csv(folder / "results.csv")} if (folder / "results.csv").is_file() \
            else set()
        if path.stem.rsplit("-", 1)[-1] not in recorded:
            found.append(f"{path}: no recorded cell of {folder.name} has this identity; git rm {path}")
            continue
        try:
            load_trained(path, identity=path.stem)
        except ValueError as err:
            found.append(f"{path}: {err}")
    return found


def test_a_carried_model_is_a_recorded_cells_trained_model(tmp_path):
    """A kept model under results/<study>/.models/ (carried in git so that a diagnostic of trained models can run in
    a later sitting, on another machine) is the trained model of a cell the record holds, under its own name. Tried
    on a made-up record first."""
    import torch

    from dgl_ssm.train.trained import save_trained

    models = tmp_path / "study" / ".models"
    (tmp_path / "study" / "results.csv").parent.mkdir(parents=True)
    (tmp_path / "study" / "results.csv").write_text("model,config_hash\ngcn,0123456789abcdef\n")
    save_trained(models / "gcn-cora-2-0-0123456789abcdef.pt", torch.nn.Linear(2, 1),
                 identity="gcn-cora-2-0-0123456789abcdef")
    assert _stray_models(tmp_path) == []
    (models / "gcn-cora-2-0-0123456789abcdef.pt").rename(models / "gcn-cora-4-0-0123456789abcdef.pt")
    save_trained(models / "gat-cora-2-0-fedcba9876543210.pt", torch.nn.Linear(2, 1))
    assert [m.split(": ", 1)[1].split(" (")[0] for m in _stray_models(tmp_path)] == [
        f"no recorded cell of study has this identity; git rm {models / 'gat-cora-2-0-fedcba9876543210.pt'}",
        f"{models / 'gcn-cora-4-0-0123456789abcdef.pt'} is the model of 'gcn-cora-2-0-0123456789abcdef', not of "
        "'gcn-cora-4-0-0123456789abcdef': it was copied or moved; put it back under its own name"]
    assert _stray_models(ROOT / "results") == []


def test_the_documented_tier_2_command_runs_its_two_cells_one_per_worker(compose_config):
    """docs/results.md's tier-2 command (issue 40), as written there, gives exactly kGCN-SSM and DRew-GCN + delay at 17
    layers, seed 0, with keep_models, and shard 0 of 2 runs the first, shard 1 the second (the order of the grid)."""
    import re
    import shlex

    from dgl_ssm.studies.grid import study_cells
    from dgl_ssm.studies.schema import with_selected_models

    text = (ROOT / "docs" / "results.md").read_text()
    block = re.search(r"\n    (python -m dgl_ssm\.studies study=lrgb_seed .*?)\n\n", text, flags=re.S).group(1)
    args = shlex.split(block.replace("\\\n", " "))[3:]
    assert "keep_models=true" in args and "num_shards=2" in args
    cfg = with_selected_models(compose_config("config", *args))
    cells = study_cells(cfg.study)
    assert [(c["model"], c["layers"], c["seed"]) for c in cells] == [("kgcn_ssm", 17, 0), ("drew_gcn_delay", 17, 0)]
    assert cfg.study.train.epochs == 300 and cfg.shard == 0
