"""Datasets of dgl_ssm, read through DGL's dataset machinery from the data root."""
from .base import GraphListDataset, collate
from .graph_property import GRAPH_PROPERTY_TASKS, GraphPropertyDataset
from .lrgb import PEPTIDES, PeptidesDataset, atom_encoder
from .node import NODE_DATASETS, grid_graph, load_node_graph
from .manifest import CorruptDataError, verify_offline_file
from .paths import MissingDataError, data_root, raw_source
from .pretransform import PreTransform, apply_pre_transform
from .ring import RingTransferDataset, ring_graph

__all__ = [
    "load_node_graph",
    "grid_graph",
    "NODE_DATASETS",
    "data_root",
    "raw_source",
    "MissingDataError",
    "CorruptDataError",
    "verify_offline_file",
    "GraphPropertyDataset",
    "GRAPH_PROPERTY_TASKS",
    "RingTransferDataset",
    "ring_graph",
    "PeptidesDataset",
    "PEPTIDES",
    "atom_encoder",
    "PreTransform",
    "apply_pre_transform",
    "GraphListDataset",
    "collate",
]
