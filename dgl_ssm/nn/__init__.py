"""Graph layers of dgl_ssm."""
from .khop import KHopConv
from .ssm import SSMConv, StateSpaceMatrices, make_input_matrix, make_state_transition, spectral_radius

__all__ = ["SSMConv", "StateSpaceMatrices", "KHopConv", "make_state_transition", "make_input_matrix", "spectral_radius"]
