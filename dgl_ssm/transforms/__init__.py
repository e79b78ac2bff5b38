"""Graph transforms of dgl_ssm: k-hop rewiring (:class:`KHopRewire`) and its dataset helpers."""
from .khop import KHopRewire, cached_rewire, khop_pairs, rewire_dataset

__all__ = ["KHopRewire", "khop_pairs", "rewire_dataset", "cached_rewire"]
