"""Processes that share one data root: two shards of a study, a joblib sweep, two test workers.

Before the fix, of two fresh processes loading Cora at the same moment from a fresh data root, one could fail
(``FileExistsError`` while staging the raw files). The staging test starts its processes at one barrier, so that
they overlap for certain; the loading tests hold a dataset folder's lock and check that another process waits for it
before it builds or reads the cache there."""
import multiprocessing
import os
import time

from dgl_ssm.data.paths import folder_lock, stage_files

CORA = [f"planetoid/ind.cora.{ext}" for ext in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")]


def _fork():
    return multiprocessing.get_context("fork")


def _stage_repeatedly(barrier, files_a, files_b, dest, rounds):
    barrier.wait()
    for i in range(rounds):  # every call replaces every link: the other process's, or its own
        stage_files(files_a if i % 2 else files_b, dest)


def test_processes_staging_one_folder_at_once_never_fail(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    names = [f"file{i}" for i in range(4)]
    dest = tmp_path / "staged"
    ctx, n = _fork(), 4
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_stage_repeatedly, args=(barrier, dict.fromkeys(names, a), dict.fromkeys(names, b),
                                                          dest, 60)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n
    assert sorted(os.listdir(dest)) == names  # no half-made link left behind
    assert all((dest / name).resolve() in (a.resolve(), b.resolve()) for name in names)


def _load_cora(root, marker):
    from dgl_ssm.data import load_node_graph

    g = load_node_graph("cora", root=root)
    marker.write_text(f"{time.time()} {g.num_nodes()} {int(g.ndata['train_mask'].sum())}")


def _wait_for_the_lock_then(target, folder, marker, *args):
    """Start ``target(*args, marker)`` in another process while this one holds ``folder``'s lock; it must not write
    ``marker`` until the lock is released. Returns the marker's text without its time and the child's exit code."""
    ctx = _fork()
    with folder_lock(folder):
        child = ctx.Process(target=target, args=(*args, marker))
        child.start()
        time.sleep(1.5)
        assert not marker.exists(), "the other process went past a lock this one holds"
        released = time.time()
    child.join(300)
    stamp, *rest = marker.read_text().split(" ", 1)
    assert float(stamp) >= released
    return rest, child.exitcode


def test_loading_a_dgl_dataset_waits_for_the_folder_lock(tmp_path, raw_data):
    """DGL writes its processed cache in place: a process loading Cora waits while another holds the lock of its
    folder (it would process and save there), then loads it whole."""
    raw_data(*CORA)
    root = tmp_path / "root"
    rest, code = _wait_for_the_lock_then(_load_cora, root / "planetoid", tmp_path / "loaded", root)
    assert code == 0 and rest == ["2708 140"]


def _take_the_lock(folder, marker):
    with folder_lock(folder) as held:
        marker.write_text(f"{time.time()} {held.name}")


def test_the_folder_lock_makes_another_process_wait(tmp_path):
    rest, code = _wait_for_the_lock_then(_take_the_lock, tmp_path / "cora", tmp_path / "taken", tmp_path / "cora")
    assert code == 0 and rest == ["cora"] and (tmp_path / "cora.lock").is_file() and not (tmp_path / "cora").exists()


def _load_peptides(root, marker):
    import dgl_ssm.data.lrgb as lrgb

    def processed(name, raw_dir):  # DGL's two-minute processing, stood in for: when it starts is what is tested
        marker.write_text(f"{time.time()} {name}")
        raise SystemExit(0)

    lrgb._load_dgl = processed
    lrgb.PeptidesDataset("peptides-func", split="train", root=root)


def test_processing_peptides_waits_for_the_folder_lock(tmp_path, raw_data):
    raw_data("lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz",
             "lrgb/Peptides-func/splits_random_stratified_peptide.pickle")
    root = tmp_path / "root"
    rest, code = _wait_for_the_lock_then(_load_peptides, root / "lrgb" / "Peptides-func", tmp_path / "processed", root)
    assert code == 0 and rest == ["peptides-func"]


def _generate_sssp(root, marker):
    from dgl_ssm.data import GraphPropertyDataset

    ds = GraphPropertyDataset("sssp", "train", sizes=(8, 2, 2), root=root)
    marker.write_text(f"{time.time()} {len(ds)}")


def test_a_generated_dataset_waits_for_the_folder_lock(tmp_path):
    """Our own datasets (generated, cached with a digest beside the graph file) are built and loaded under the lock
    too: a process checking the cache between another's graph file and its digest would delete it as damaged."""
    root = tmp_path / "root"
    rest, code = _wait_for_the_lock_then(_generate_sssp, root / "graph_property", tmp_path / "built", root)
    assert code == 0 and rest == ["8"]


def _rewire(path, marker):
    import dgl
    import torch

    from dgl_ssm.transforms import cached_rewire

    torch.manual_seed(0)
    out = cached_rewire([dgl.rand_graph(12, 30) for _ in range(5)], 3, path)
    marker.write_text(f"{time.time()} {len(out)} {path.is_file()}")


def test_cached_rewire_waits_for_its_cache_lock(tmp_path):
    """A k-hop rewiring cache is checked, built and saved under its lock (``<cache>.lock``), like a dataset folder:
    without it, a process checking the cache between another's graph file and its digest deleted it as damaged
    (four processes started up to a second apart: in 2, 1 and 0 of 20 rounds in three runs; this test is the
    deterministic one)."""
    path = tmp_path / "root" / "khop3.bin"
    rest, code = _wait_for_the_lock_then(_rewire, path, tmp_path / "rewired", path)
    assert code == 0 and rest == ["5 True"] and (tmp_path / "root" / "khop3.bin.lock").is_file()
