"""Fault injection (issue 14): corrupt offline files and caches; the error names the file, nothing poisoned stays, a fix heals.

Each test copies the offline files it needs into a temporary folder, damages
one, and uses a temporary data root: never the shared data or a shared cache.
"""
import pickle
import shutil
import warnings

import dgl
import numpy as np
import pytest
import torch

from dgl_ssm.data import CorruptDataError, MissingDataError, PeptidesDataset, RingTransferDataset, load_node_graph
from dgl_ssm.data.pretransform import apply_pre_transform
from dgl_ssm.graphcache import graphs_fingerprint
from dgl_ssm.transforms import KHopRewire, cached_rewire

CORA = [f"planetoid/ind.cora.{p}" for p in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")]
TEXAS = ["geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt",
         *[f"geom_gcn/splits/texas_split_0.6_0.2_{i}.npz" for i in range(10)]]


def copy_offline(source, tmp_path, files):
    offline = tmp_path / "offline"
    for rel in files:
        (offline / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / rel, offline / rel)
    return offline


def processed_files(root):
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_wrong_but_parseable_cora_labels_are_refused_and_a_fix_heals(raw_data, tmp_path):
    """Regression: an ind.cora.ally with every label 0 used to poison the data root (train labels stayed [140])."""
    offline = copy_offline(raw_data(*CORA), tmp_path, CORA)
    good = (offline / "planetoid/ind.cora.ally").read_bytes()
    ally = pickle.loads(good, encoding="latin1")
    ally[:] = 0
    ally[:, 0] = 1
    (offline / "planetoid/ind.cora.ally").write_bytes(pickle.dumps(ally))
    root = tmp_path / "root"
    with pytest.raises(CorruptDataError, match=r"ind\.cora\.ally .*good copy from kimiyoung/planetoid") as err:
        load_node_graph("cora", root=root, data_dir=offline)
    assert "\n" not in str(err.value)
    assert processed_files(root) == []  # nothing was processed or cached from the bad file
    (offline / "planetoid/ind.cora.ally").write_bytes(good)
    g = load_node_graph("cora", root=root, data_dir=offline)
    train = g.ndata["label"][g.ndata["train_mask"]]
    assert torch.bincount(train).tolist() == [20] * 7


def test_truncated_cora_features_name_the_file(raw_data, tmp_path):
    offline = copy_offline(raw_data(*CORA), tmp_path, CORA)
    data = (offline / "planetoid/ind.cora.x").read_bytes()
    (offline / "planetoid/ind.cora.x").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match=r"ind\.cora\.x has \d+ bytes, expected 22119"):
        load_node_graph("cora", root=tmp_path / "root", data_dir=offline)


def test_a_poisoned_dgl_cache_is_rebuilt(raw_data, tmp_path):
    offline = copy_offline(raw_data(*CORA), tmp_path, CORA)
    root = tmp_path / "root"
    full = load_node_graph("cora", root=root, data_dir=offline, self_loop=False)
    caches = [p for p in root.rglob("*.bin")]
    assert caches, "DGL should have cached the processed graph"
    poisoned = dgl.edge_subgraph(full, torch.arange(5000), relabel_nodes=False)  # loadable, but 5000 edges
    for path in caches:  # e.g. written by an older, broken version from bad raw files
        dgl.save_graphs(str(path), [poisoned])
    with pytest.warns(RuntimeWarning, match="rebuilding it"):
        g = load_node_graph("cora", root=root, data_dir=offline, self_loop=False)
    assert g.num_edges() == 10556


@pytest.mark.parametrize("damage", ["cut at a line boundary", "no final newline", "features edited", "split truncated"])
def test_damaged_texas_files_are_named(raw_data, tmp_path, damage):
    """Regression: a cut edges file used to load with 149 of 325 edges, one without its newline with 324."""
    offline = copy_offline(raw_data(*TEXAS), tmp_path, TEXAS)
    edges = offline / TEXAS[0]
    if damage == "cut at a line boundary":
        lines = edges.read_text().splitlines(keepends=True)
        edges.write_text("".join(lines[:150]))
        name = "out1_graph_edges.txt"
    elif damage == "no final newline":
        edges.write_text(edges.read_text().rstrip("\n"))
        name = "out1_graph_edges.txt"
    elif damage == "features edited":
        feats = offline / TEXAS[1]
        text = feats.read_text()
        feats.write_text(text.replace("\t0,", "\t1,", 1))
        name = "out1_node_feature_label.txt"
    else:
        split = offline / TEXAS[5]
        split.write_bytes(split.read_bytes()[:200])
        name = "texas_split_0.6_0.2_3.npz"
    root = tmp_path / "root"
    with pytest.raises(CorruptDataError, match=name):
        load_node_graph("texas", root=root, data_dir=offline)
    assert processed_files(root) == []
    shutil.copy(raw_data(*TEXAS) / TEXAS[TEXAS.index(next(r for r in TEXAS if r.endswith(name)))],
                offline / next(r for r in TEXAS if r.endswith(name)))
    g = load_node_graph("texas", root=root, data_dir=offline, self_loop=False)
    assert (g.num_nodes(), g.num_edges()) == (183, 325)


def test_missing_texas_file_points_at_the_data_readme(raw_data, tmp_path):
    offline = copy_offline(raw_data(*TEXAS), tmp_path, TEXAS)
    (offline / TEXAS[1]).unlink()
    with pytest.raises(MissingDataError, match=rf"out1_node_feature_label\.txt is missing.*{offline}/README\.md"):
        load_node_graph("texas", root=tmp_path / "root", data_dir=offline)


def test_corrupt_peptides_split_is_named_before_processing(raw_data, tmp_path):
    files = ["lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz", "lrgb/Peptides-func/splits_random_stratified_peptide.pickle"]
    offline = copy_offline(raw_data(*files), tmp_path, files)
    split = offline / files[1]
    split.write_bytes(split.read_bytes()[:-10] + b"0123456789")  # same size, other content
    with pytest.raises(CorruptDataError, match=r"splits_random_stratified_peptide\.pickle has SHA-256"):
        PeptidesDataset("peptides-func", "train", root=tmp_path / "root", data_dir=offline)
    assert not list((tmp_path / "root").rglob("*.bin"))


def test_a_corrupt_khop_cache_heals(tmp_path):
    """Regression: a damaged pre_khop-*.bin made every later k-hop run crash with 'Invalid DGLArray file format'."""
    kwargs = dict(num_graphs=20, num_classes=2, root=tmp_path, pre_transform=KHopRewire(3))
    first = RingTransferDataset(8, **kwargs)
    (cache,) = list(tmp_path.rglob("pre_khop-*.bin"))
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match=r"pre_khop-max_hop3-r2\.bin differs from the digest.*rebuilding it"):
        again = RingTransferDataset(8, **kwargs)
    assert [g.num_edges() for g, _ in again] == [g.num_edges() for g, _ in first]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # healed: the next load is silent
        RingTransferDataset(8, **kwargs)


def test_a_cache_of_other_inputs_is_rebuilt(tmp_path):
    a = [dgl.graph(([0, 1], [1, 2]))]
    b = [dgl.graph(([0, 2], [1, 1]), num_nodes=3)]  # same counts, other edges
    assert graphs_fingerprint(a) != graphs_fingerprint(b)
    hook = KHopRewire(2)
    apply_pre_transform(a, hook, tmp_path)
    with pytest.warns(RuntimeWarning, match="made from other inputs"):
        out = apply_pre_transform(b, hook, tmp_path)
    assert out[0].edges()[0].tolist() == KHopRewire(2)(b[0]).edges()[0].tolist()
    path = tmp_path / "khop.bin"
    cached_rewire(a, 2, path)
    path.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="differs from the digest"):
        assert cached_rewire(a, 2, path)[0].num_edges() == 6
    feats = [dgl.graph(([0, 1], [1, 2]))]
    feats[0].ndata["feat"] = torch.ones(3, 1)
    assert graphs_fingerprint(feats) != graphs_fingerprint(a)  # node data is part of the content


def test_offline_manifest_covers_every_shared_file(raw_data):
    from dgl_ssm.data.manifest import OFFLINE_FILES, verify_offline_file

    source = raw_data(CORA[0])
    present = [rel for rel in OFFLINE_FILES if (source / rel).is_file()]
    assert len(present) >= 80
    for rel in present:
        verify_offline_file(source / rel, rel)
    npz = np.load(source / "heterophilous_graphs/chameleon_filtered.npz")
    assert npz["node_features"].shape == (890, 2325)


@pytest.mark.parametrize("name", ["cora", "texas"])
def test_no_offline_data_and_no_network_is_one_line_naming_dgl_ssm_data(tmp_path, monkeypatch, name):
    """DGL_SSM_DATA unset on an offline machine: DGL's download fails; the error is one line that says what to set
    (it was requests' ConnectionError traceback after DGL's retries)."""
    import requests

    from dgl_ssm.data import MissingDataError, load_node_graph

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'data.dgl.ai'")

    monkeypatch.delenv("DGL_SSM_DATA", raising=False)
    monkeypatch.setattr(requests, "get", offline)
    monkeypatch.setattr("time.sleep", lambda *_: None)  # DGL's retries
    with pytest.raises(MissingDataError) as err:
        load_node_graph(name, root=tmp_path)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{name}: no offline copy was given (DGL_SSM_DATA is not set)")
    assert "set DGL_SSM_DATA to the offline data folder" in line


def _truncate(path):
    """Cut ``path`` to half its bytes (a disk that filled up, a copy stopped)."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_truncated_dataset_cache_is_rebuilt_before_dgl_reads_it(tmp_path):
    """DGL's loader can crash the process on a truncated graphs.bin (a segmentation fault, which no except clause
    catches): the file is checked against the digest written when it was saved, before DGL reads it."""
    from dgl_ssm.data import GraphPropertyDataset

    first = GraphPropertyDataset("diameter", "train", root=tmp_path, sizes=(12, 4, 4))
    (cache,) = [p for p in tmp_path.rglob("graphs.bin")]
    assert (cache.parent / "graphs.bin.sha256").is_file()
    _truncate(cache)
    with pytest.warns(RuntimeWarning, match=r"graphs\.bin differs from the digest written when it was saved.*rebuilding"):
        again = GraphPropertyDataset("diameter", "train", root=tmp_path, sizes=(12, 4, 4))
    assert [g.num_edges() for g, _ in again] == [g.num_edges() for g, _ in first]
    (cache.parent / "graphs.bin.sha256").unlink()  # a cache written before digests: rebuilt once, then trusted
    with pytest.warns(RuntimeWarning, match="has no digest"):
        GraphPropertyDataset("diameter", "train", root=tmp_path, sizes=(12, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GraphPropertyDataset("diameter", "train", root=tmp_path, sizes=(12, 4, 4))


def test_a_truncated_peptides_cache_is_rebuilt_before_dgl_reads_it(tmp_path):
    """The same check on DGL's own Peptides cache (its has_cache looks only for the file)."""
    from dgl_ssm.data.lrgb import _Func

    class Fake(_Func):  # DGL's Peptides class without its download and processing: the cache logic only
        def __init__(self, path):
            self._path = path

        @property
        def graph_path(self):
            return str(self._path)

    path = tmp_path / "graphs.bin"
    from dgl_ssm.graphcache import save_graphs_atomic

    save_graphs_atomic(path, [dgl.graph(([0], [1]))], {"labels": torch.zeros(1, 10)})
    assert Fake(path).has_cache()
    _truncate(path)
    with pytest.warns(RuntimeWarning, match="differs from the digest"):
        assert not Fake(path).has_cache()
    assert not path.exists()
