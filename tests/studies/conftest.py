"""What the study-engine tests share: the tiny study they run and the count of the cells trained."""
import pytest

@pytest.fixture
def fits(monkeypatch):
    """The cells trained: every cell goes through the one cell path, dgl_ssm.train.cell.fit_cell."""
    import dgl_ssm.train.cell

    calls = []
    real = dgl_ssm.train.cell.fit_cell

    def counted(*args, **kwargs):
        calls.append(args[:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(dgl_ssm.train.cell, "fit_cell", counted)
    return calls
