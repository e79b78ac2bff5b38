"""Signal-propagation diagnostics of deep GNNs: over-smoothing, Jacobian spectra, over-squashing, gradient flow.

======================================  ==================================================================
:func:`dirichlet_energy`                :math:`\\frac1N\\sum_{(u,v)\\in\\mathcal E}\\lVert h_u-h_v\\rVert^2` (or normalized)
:func:`feature_norm`,                   :math:`\\lVert H\\rVert_F` and :math:`\\mu(H)=\\lVert H-\\mathbf 1\\gamma^\\top\\rVert_F`
:func:`mean_deviation`
:func:`orthogonal_ratio`                share of a signal outside :math:`\\hat A`'s dominant eigenspace :math:`D^{1/2}\\mathbf 1`
:func:`layer_jacobian`                  dense :math:`(Nd_{out})\\times(Nd_{in})` Jacobian of one layer
:func:`jacobian_singular_values`,       its spectrum; :func:`edge_of_chaos_distance` :math:`=\\mathrm{mean}|1-\\sigma|`
:func:`jacobian_eigenvalues`
:func:`estimate_singular_values`,       matrix-free extreme singular values / spectral radius (large graphs)
:func:`estimate_spectral_radius`         (:class:`ConvergenceWarning` when σ_min is an upper bound only)
:func:`calibrate_edge_of_chaos`         scale :math:`\\Lambda` or :math:`B` of a GNN-SSM layer so that :math:`\\rho(J)\\approx1`
:func:`sensitivity`                     :math:`\\lVert\\partial h_v^{(L)}/\\partial x_u\\rVert_F` and its mean by hop distance
:func:`resistance_distances`,           effective resistance :math:`R(u,v)` and its sum over pairs (over-squashing's topology)
:func:`total_effective_resistance`
:func:`spectral_gap`                    :math:`\\lambda_1` of the normalised Laplacian (expansion; Cheeger's inequality)
:func:`gradient_flow`                   per-layer weight gradients and backpropagated errors :math:`B_\\ell`
:func:`node_gradient_similarity`        mean cosine similarity of the per-node weight gradients :math:`m_i\\delta_i^\\top`
:func:`layer_node_gradients`            their factors :math:`(\\hat A X_\\ell, \\partial\\mathcal L/\\partial Y_\\ell)` per GCN layer
:class:`SignalProbe`                    all of the forward/backward statistics per layer and step, via hooks
======================================  ==================================================================

Every measurement takes a (possibly batched) ``dgl.DGLGraph`` and runs on the
device of its tensors.
"""
from .dominant import dominant_eigenvectors, orthogonal_part, orthogonal_ratio
from .energy import dirichlet_energy, feature_norm, mean_deviation, node_graph_ids, signal_stats
from .gradients import backward_errors, gradient_flow
from .node_gradients import layer_node_gradients, node_gradient_similarity
from .jacobian import (
    edge_of_chaos_distance,
    jacobian_eigenvalues,
    jacobian_singular_values,
    layer_jacobian,
)
from .probe import SignalProbe
from .expansion import spectral_gap
from .resistance import resistance_distances, total_effective_resistance
from .sensitivity import hop_distances, sensitivity, sensitivity_by_distance
from .spectral import (
    Calibration,
    ConvergenceWarning,
    calibrate_edge_of_chaos,
    estimate_singular_values,
    estimate_spectral_radius,
    jacobian_operator,
)

__all__ = [
    "dirichlet_energy",
    "dominant_eigenvectors",
    "orthogonal_part",
    "orthogonal_ratio",
    "feature_norm",
    "mean_deviation",
    "signal_stats",
    "node_graph_ids",
    "layer_jacobian",
    "jacobian_singular_values",
    "jacobian_eigenvalues",
    "edge_of_chaos_distance",
    "jacobian_operator",
    "estimate_singular_values",
    "estimate_spectral_radius",
    "calibrate_edge_of_chaos",
    "Calibration",
    "ConvergenceWarning",
    "sensitivity",
    "sensitivity_by_distance",
    "hop_distances",
    "resistance_distances",
    "total_effective_resistance",
    "spectral_gap",
    "backward_errors",
    "gradient_flow",
    "node_gradient_similarity",
    "layer_node_gradients",
    "SignalProbe",
]
