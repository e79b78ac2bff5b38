"""The eigenvalue range of a uniform state transition matrix is honoured where it applies and refused elsewhere."""
import pytest
import torch

from dgl_ssm.models import build_model
from dgl_ssm.nn import StateSpaceMatrices, make_state_transition


@pytest.mark.parametrize("spec", [0.5, [1.0, 0.5], torch.eye(2)])
def test_a_range_beside_a_state_transition_it_does_not_shape_is_refused(spec):
    with pytest.raises(ValueError, match=r"r_min=0.95 set the eigenvalue range of state_transition='uniform'; with "
                                         r"state_transition=.* they would be ignored"):
        make_state_transition(2, spec, r_min=0.95)
    with pytest.raises(ValueError, match="r_min=0.9 and r_max=1.0 set the eigenvalue range"):  # the defaults, given
        StateSpaceMatrices(2, spec, r_min=0.9, r_max=1.0)


def test_the_range_shapes_a_uniform_state_transition_and_reaches_it_from_a_preset():
    eig = make_state_transition(256, "uniform", r_min=0.2, r_max=0.3, seed=0).diagonal()
    assert 0.2 <= float(eig.min()) and float(eig.max()) <= 0.3
    eig = make_state_transition(256, "uniform", seed=0).diagonal()  # default range 0.9..1.0
    assert 0.9 <= float(eig.min()) and float(eig.max()) <= 1.0
    model = build_model("gcn-ssm", 3, 64, 2, num_layers=2,
                        block_options={"state_transition": "uniform", "r_min": 0.5, "r_max": 0.6})
    eig = model.ssm_matrices.state_transition.diagonal()
    assert 0.5 <= float(eig.min()) and float(eig.max()) <= 0.6
    with pytest.raises(ValueError, match="r_max=0.6 set the eigenvalue range"):
        build_model("gcn-ssm", 3, 64, 2, num_layers=2, block_options={"state_transition": 1.0, "r_max": 0.6})
