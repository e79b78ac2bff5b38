"""Graph transforms of dgl_ssm: k-hop rewiring (:class:`KHopRewire`) and its dataset helpers; the largest connected
component (:class:`LargestComponent`)."""
from .components import LargestComponent
from .khop import KHopRewire, cached_rewire, khop_pairs, rewire_dataset

__all__ = ["KHopRewire", "LargestComponent", "khop_pairs", "rewire_dataset", "cached_rewire"]
