"""Datasets of dgl_ssm, read through DGL's dataset machinery from the data root."""
from .base import GraphListDataset, TaskInfo, collate
from .check import check_dataset_files
from .graph_property import GRAPH_PROPERTY_TASKS, GraphPropertyDataset
from .lrgb import PEPTIDES, PeptidesDataset, atom_encoder
from .node import NODE_DATASETS, grid_graph, load_node_graph, node_task_info, num_splits, split_for_seed
from .manifest import CorruptDataError, verify_offline_file
from .paths import MissingDataError, data_root, raw_source
from .pretransform import ComposePreTransform, PreTransform, apply_pre_transform, self_loops
from .ring import RingTransferDataset, ring_graph

__all__ = [
    "load_node_graph",
    "check_dataset_files",
    "node_task_info",
    "num_splits",
    "split_for_seed",
    "TaskInfo",
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
    "ComposePreTransform",
    "self_loops",
    "apply_pre_transform",
    "GraphListDataset",
    "collate",
]
