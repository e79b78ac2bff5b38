"""Datasets of dgl_ssm, read through DGL's dataset machinery from the data root."""
from .node import NODE_DATASETS, grid_graph, load_node_graph
from .paths import MissingDataError, data_root, raw_source

__all__ = ["load_node_graph", "grid_graph", "NODE_DATASETS", "data_root", "raw_source", "MissingDataError"]
