"""The tiny study most study-engine tests run (imported as ``from tiny import TEXAS, TINY``).

``depth_quick`` cut to one dataset (Texas, whose raw files are ``TEXAS``), depth 2, one seed and 2 epochs, with GCN
and GCN-SSM: 2 cells of a few seconds each. A test that needs another grid adds overrides after ``*TINY`` (the last
value of a key wins). ``test_integrity.py`` keeps its own list: it runs the shared protocol over two seeds."""

TEXAS = ("geom_gcn/new_data/texas/out1_graph_edges.txt", "geom_gcn/new_data/texas/out1_node_feature_label.txt")
TINY = ["study=depth_quick", "study.seeds=1", "study.datasets=[texas]", "study.settings=[2]", "study.train.epochs=2",
        "study.models.gcn.train.epochs=2", "~study.models.res_gcn"]
