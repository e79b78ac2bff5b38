"""A study's figures: validation curves when every model runs at one setting (even two different ones, as the rows
of lrgb_seed do), the metric against the setting otherwise."""
import pytest

from dgl_ssm.studies.plots import write_plots


def _rows(tmp_path, cells):
    (tmp_path / "histories").mkdir()
    rows = []
    for model, layers in cells:
        rows.append({"model": model, "dataset": "peptides-func", "layers": layers, "seed": 0, "status": "ok",
                     "test_ap": 0.4})
        (tmp_path / "histories" / f"{model}-peptides-func-{layers}-0.csv").write_text(
            "epoch,val_ap\n1,0.2\n2,0.3\n3,0.35\n")
    return rows


@pytest.mark.parametrize("cells, curves", [
    ([("gcn", 17), ("gcn_lrgb", 5)], True),               # one setting per model, two settings in all
    ([("gcn", 17), ("kgcn_ssm", 17)], True),
    ([("gcn", 17), ("gcn", 5), ("kgcn_ssm", 17)], False),  # a model at two settings: the metric against the setting
])
def test_validation_curves_when_every_model_runs_at_one_setting(tmp_path, compose_config, cells, curves):
    study = compose_config("config", "study=lrgb_seed_60").study
    written = write_plots(study, _rows(tmp_path, cells), tmp_path)
    assert ("validation_curves_peptides-func.png" in written) == curves
    assert (tmp_path / "validation_curves_peptides-func.png").exists() == curves
    assert (tmp_path / "test_ap_peptides-func.png").exists() == (not curves)
