"""The offline raw files this package knows: SHA-256, size and source, as recorded in ``shared/data/README.md``.

Every offline file is checked against this list before it is staged for DGL
(:func:`verify_offline_file`), so that a truncated, edited or wrong file is an
error that names it, never a dataset that loads with 149 of 325 edges or a
poisoned processed cache. The hashes are those of the files as published in
the source repositories (byte-identical copies; see the data README).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Tuple

from .errors import CorruptDataError  # noqa: F401  (re-exported)

__all__ = ["OFFLINE_FILES", "SOURCES", "CorruptDataError", "verify_offline_file", "source_of"]

# sha256, bytes, path relative to the offline data folder (DGL_SSM_DATA)
_TABLE = """
45ac593de9207470090230c8fd76beeb2f60b5371a9be088e8bf31e7f0619a4b    332448 geom_gcn/new_data/chameleon/out1_graph_edges.txt
c4522a00cc40873c8a04a3a07c49e24a48a507eb284ac9c9f2d3e0590351bbb7      2001 geom_gcn/new_data/cornell/out1_graph_edges.txt
cf5a3ca346cdd1210b8342e22517fcbbdae658065b7a3145f59350e50e6236a3    624308 geom_gcn/new_data/cornell/out1_node_feature_label.txt
453d8e96754d68e2ab0a7ebb56f93506b59531d95abaec7a2b46fe1eae7c39cd   2115917 geom_gcn/new_data/squirrel/out1_graph_edges.txt
0fe85183243a78cbee9b85a684f8240963d04d1020d10e9cd2b8cfb25e33b476      2172 geom_gcn/new_data/texas/out1_graph_edges.txt
cf5a3ca346cdd1210b8342e22517fcbbdae658065b7a3145f59350e50e6236a3    624308 geom_gcn/new_data/texas/out1_node_feature_label.txt
ebd213511c88fce1eda450c2f920600c4b8cbb38f02384856bcc47c6ec1807ae      3606 geom_gcn/new_data/wisconsin/out1_graph_edges.txt
a32b0aa38d42f0d36841e8a8cb646d197f0ff33a182ac75a2b4476aeed3c7e4b    856324 geom_gcn/new_data/wisconsin/out1_node_feature_label.txt
36605525b69be4e7df5b31fe6a1d044288c6ebf9f9f0514ca151f6a36afc5e8b      1775 geom_gcn/splits/chameleon_split_0.6_0.2_0.npz
d0779d5a1bedf1967d394468a52c0175fb00595d361fba897faf73322386c952      1779 geom_gcn/splits/chameleon_split_0.6_0.2_1.npz
86ad0d827bf4301dff830598fc0b70d0dd8689c5b4d72dab1d87a6c1970c4c6e      1777 geom_gcn/splits/chameleon_split_0.6_0.2_2.npz
37b3e994adf3afc55e16b617ed05af4e3ce308800755839084d77eced0528e9d      1755 geom_gcn/splits/chameleon_split_0.6_0.2_3.npz
f6b1d067b2b330132839d8b6120077bdc6cf759f7ce421f881a02e2953ec4596      1778 geom_gcn/splits/chameleon_split_0.6_0.2_4.npz
e7661834275c826692510cea0457b18b2c1ee38771f178d06e701b97541a1f6d      1772 geom_gcn/splits/chameleon_split_0.6_0.2_5.npz
16648d1197c1d3a2dec385346212c382030b0d5a8c997f4255aa2afa68a6b174      1774 geom_gcn/splits/chameleon_split_0.6_0.2_6.npz
61adcc53846becefecd466a5364dda23b983d387d1ac5d58c6e24d080c0fcba7      1764 geom_gcn/splits/chameleon_split_0.6_0.2_7.npz
7076ad5341a8218b1f5b6eccf9cfd15d28286ea11ef5c06eeee77af24ff2bf63      1770 geom_gcn/splits/chameleon_split_0.6_0.2_8.npz
743c4f813bf6130398a6511eb9ff07d2366c73bd6c7fddaf226a3f9e2917e0e7      1773 geom_gcn/splits/chameleon_split_0.6_0.2_9.npz
14022a1e19ec7fc0a07a2c06a785a2f9dc52809dbcd1c14fc318f7800675d73f       704 geom_gcn/splits/cornell_split_0.6_0.2_0.npz
5568fa27e968a724c92211bf97026a36a08893cf94b218043e49b4c973c35cfb       700 geom_gcn/splits/cornell_split_0.6_0.2_1.npz
763fc1f423395e4172617fa5b6bc0d7adad2241e5fedd1a4f0a098a67f9dc8e9       695 geom_gcn/splits/cornell_split_0.6_0.2_2.npz
4334321cd9ec42de9d51107fb9a6dc310512e0921bc1cff0f390301ee37315fa       701 geom_gcn/splits/cornell_split_0.6_0.2_3.npz
2b6b3ef396f4dc7fcdc276fb16b88bb87409b25879dd672b3a506eca844dd8d7       759 geom_gcn/splits/cornell_split_0.6_0.2_4.npz
1a40ef8b20aa9e1aa850e1abdaba3efac1f66c98ef2c6a59eadefa21136ece6b       754 geom_gcn/splits/cornell_split_0.6_0.2_5.npz
bcddf4ab59eae4c7d47b8a6cec9025a54ec0e6d3f3bdcd7678e201f25ace4642       758 geom_gcn/splits/cornell_split_0.6_0.2_6.npz
2b497e12dfc123d7e7c9bb4fc4a82b5bee18409e109a3e3a04da439cacec964d       693 geom_gcn/splits/cornell_split_0.6_0.2_7.npz
5c4e110d252d7ad156b2e4cd34b6dbd1cecbcc1755f8d72e932cc2a54f2b643c       701 geom_gcn/splits/cornell_split_0.6_0.2_8.npz
80f1531807194d301affbf6f879a4ab4f56a19bdccb62d192e3ecd1b5275f052       704 geom_gcn/splits/cornell_split_0.6_0.2_9.npz
f112b88d3354e86d164d4d915b6a1f695c10f0e01e3e6b9893fc7b09bb93191d      3134 geom_gcn/splits/squirrel_split_0.6_0.2_0.npz
2486c687c8befb55930a6237f76f1d86ce2ba345782eda6157f4e752d05f304f      3130 geom_gcn/splits/squirrel_split_0.6_0.2_1.npz
d62ff83862ad96022d3400dfc9b7ca405834ca62767319d97c36b3f02db978c0      3121 geom_gcn/splits/squirrel_split_0.6_0.2_2.npz
af3d90e0b2718ac7417e10e8b5b382443667412e846cabc3cc4e4a592f4cedae      3126 geom_gcn/splits/squirrel_split_0.6_0.2_3.npz
fbe848298bb72b88db0704050cf216e2a93c916540d577906f3e644b679a6a2c      3124 geom_gcn/splits/squirrel_split_0.6_0.2_4.npz
cd04fab46a181151ddd97ce93c65fe79558fb79ffa230b62f488ebfaf5fdcd75      3111 geom_gcn/splits/squirrel_split_0.6_0.2_5.npz
b9189f7903ca7556a025c54dd5be6c00ec5952d4299e71630bc9876157676412      3118 geom_gcn/splits/squirrel_split_0.6_0.2_6.npz
ea7fb3ca5d5aa45b917b99fb7d64d4e87322b2b5303a0156c547aa3f1a6c8941      3138 geom_gcn/splits/squirrel_split_0.6_0.2_7.npz
b43faa190ca6dd4885a39dfc2a93d59f56f5174f3567bdbc49b18dd9cd9b7fb4      3132 geom_gcn/splits/squirrel_split_0.6_0.2_8.npz
529ade4b86fd191908a96011f25c454653083674b6d4f090b3fdd27af2d14f62      3146 geom_gcn/splits/squirrel_split_0.6_0.2_9.npz
7ba77bf7a8856fcc0ab15623a611b8cdce994e820f577da914123fb4f45272b0       698 geom_gcn/splits/texas_split_0.6_0.2_0.npz
21cc244a96e3c51ad7993afb4dd227f90e467d82b964bb42d7d9fc500a6ef87f       701 geom_gcn/splits/texas_split_0.6_0.2_1.npz
b9e96a699ccf3a4c31ffbd03e52b25570889833425d20fa44e06c37b327cf61e       756 geom_gcn/splits/texas_split_0.6_0.2_2.npz
1a7deeb1285009789d5e6045d7e39f7d019c9223d9a75a2b7ce5e26d33b51f63       759 geom_gcn/splits/texas_split_0.6_0.2_3.npz
b5419ff3fe31adcae66fdb085d4f47d0b188e9436ab59f438632af969aafc674       702 geom_gcn/splits/texas_split_0.6_0.2_4.npz
68405fd1b9ff6105d99717220ecbd198785e338bf4a73abee722bbc9703d2667       691 geom_gcn/splits/texas_split_0.6_0.2_5.npz
8ad78b973164e70e5ac0d282e79adcbc6006e373909fbdfd72a13131e09040b8       756 geom_gcn/splits/texas_split_0.6_0.2_6.npz
a84bcbf997365bddf5fdf72ed49dc7e435e475f8c6210f8cdee7c8581a2bd6df       693 geom_gcn/splits/texas_split_0.6_0.2_7.npz
65ba65f296f91d40d2d7d3c9369b67415094a7e254c6eee48cd6d6531c586fdf       762 geom_gcn/splits/texas_split_0.6_0.2_8.npz
4306981d654ad8835c000c1f73fb6c1e60dfe99e26c13a6073f3b0f4cc3ce6ee       693 geom_gcn/splits/texas_split_0.6_0.2_9.npz
f66f641e191d35d491cd3b63d6c2cd93c4b436da398984b44c19a8d4d7e7b1a5       805 geom_gcn/splits/wisconsin_split_0.6_0.2_0.npz
534aeb97266bd5a85a8587adf8eebad3f2e001c1240610f24b62c0ad0c2466ee       739 geom_gcn/splits/wisconsin_split_0.6_0.2_1.npz
047a5b641778ec3a4c76055fd7f18ecb2424c0952f20dfff7e1b17749d8acbdd       747 geom_gcn/splits/wisconsin_split_0.6_0.2_2.npz
706c27b4c51d046c0316f1e915f093e4a1fff48b3436b3e7c421eab596a99e77       810 geom_gcn/splits/wisconsin_split_0.6_0.2_3.npz
7ee813605eec086457aaff022cf3837f2f893fcf8bd37e3a8d2ff0c80e4c4f87       812 geom_gcn/splits/wisconsin_split_0.6_0.2_4.npz
8094ac2bdaf2cbea8f7a48df66a0800c809b2fd5942740e6b0441b660d3a0dd5       749 geom_gcn/splits/wisconsin_split_0.6_0.2_5.npz
c423a8deea9b18f9ecb6cfd703578e2159df167de01fe7e6195b88995010252d       735 geom_gcn/splits/wisconsin_split_0.6_0.2_6.npz
57ad808c8d4dd94dc4404124370bbcebb3dcc597c2bea6457bf05f220adf1527       733 geom_gcn/splits/wisconsin_split_0.6_0.2_7.npz
27d4d62a2a6aea2cdc399302237512ab0d64fb0c84e648112f97c5896274e42f       741 geom_gcn/splits/wisconsin_split_0.6_0.2_8.npz
3c149cd124a19021031609e0d7743a7be59aae4f88c8d38410138e8f06f5daaf       744 geom_gcn/splits/wisconsin_split_0.6_0.2_9.npz
4c640bd2877fc4f9f101531e2f977bc16445a54e09a5cb01178df608e552f3fd    177840 heterophilous_graphs/chameleon.npz
bf46f07e1fb5249280447e5fe3100f3e82fc4b93ad1e13ffcfdec924b6ac0bb5     58924 heterophilous_graphs/chameleon_filtered.npz
684c54ba3daa13b0ba1f04a3d6dd1b1175c1ae9bdeb982851fd4ff96d3aac298     30515 heterophilous_graphs/cornell.npz
d436e3b42c0546b105241c0ab0766097074e68e55f67b133eeb9b0162e55cbd9    704277 heterophilous_graphs/squirrel.npz
f06370ffb3116c5de8b7a600005400b2293c025e0ce2f6916d8201a825505ac7    208215 heterophilous_graphs/squirrel_filtered.npz
b164b99e6c3d43e4ab07488ec59bd8c815f90cbc1bd4cf425ce587d2b534d844     28586 heterophilous_graphs/texas.npz
2543c89838cfc75f737f7c4664cc1d097f8268602c20b2d1bd4f21407df9c074     41672 heterophilous_graphs/wisconsin.npz
e314f7dfb1ac46ef83fe5f5aa4fe502ad4527da633b64e6b997cb0c452511de3    769970 lrgb/Peptides-func/peptide_multi_class_dataset.csv.gz
4573079852cce8867ad2d734c5dd22d77538bbe9f628223a8d4b3b531f6fffd0    124533 lrgb/Peptides-func/splits_random_stratified_peptide.pickle
2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668    595021 planetoid/ind.citeseer.allx
f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95     55623 planetoid/ind.citeseer.ally
d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7     61987 planetoid/ind.citeseer.graph
2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4      5000 planetoid/ind.citeseer.test.index
539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21    260321 planetoid/ind.citeseer.tx
55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce     24135 planetoid/ind.citeseer.ty
d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6     31087 planetoid/ind.citeseer.x
8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924      3014 planetoid/ind.citeseer.y
9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543    257305 planetoid/ind.cora.allx
2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71     47959 planetoid/ind.cora.ally
58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d     59847 planetoid/ind.cora.graph
297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875      5000 planetoid/ind.cora.test.index
b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a    148025 planetoid/ind.cora.tx
41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad     28135 planetoid/ind.cora.ty
23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab     22119 planetoid/ind.cora.x
94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1      4054 planetoid/ind.cora.y
0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e    224739 planetoid/pubmed_incomplete/ind.pubmed.ally
5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9    471808 planetoid/pubmed_incomplete/ind.pubmed.graph
b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5      6000 planetoid/pubmed_incomplete/ind.pubmed.test.index
4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d    405505 planetoid/pubmed_incomplete/ind.pubmed.tx
ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd     12135 planetoid/pubmed_incomplete/ind.pubmed.ty
fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33     23172 planetoid/pubmed_incomplete/ind.pubmed.x
e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3       854 planetoid/pubmed_incomplete/ind.pubmed.y
"""

#: path relative to the offline folder -> (sha256 hex, size in bytes)
OFFLINE_FILES: Dict[str, Tuple[str, int]] = {
    path: (digest, int(size)) for digest, size, path in (line.split() for line in _TABLE.strip().splitlines())
}

#: top-level folder -> where a good copy comes from (repository and commit, as in the data README)
SOURCES = {
    "planetoid": "kimiyoung/planetoid at commit af6abf46 (data/ind.<name>.*; same blobs in tkipf/gcn)",
    "geom_gcn": "graphdml-uiuc-jlu/geom-gcn at commit f1fc0d14 (new_data/<name>/, splits/)",
    "heterophilous_graphs": "yandex-research/heterophilous-graphs at commit a4313955 (data/<name>.npz)",
    "lrgb": "benfinkelshtein/CoGNN at commit 2494bd77 (datasets/peptides-functional/), MD5 as in DGL's PeptidesFunctionalDataset",
}


def source_of(relpath: str) -> str:
    """Where to get a good copy of the offline file ``relpath``."""
    return SOURCES.get(Path(relpath).parts[0], "the offline data (see its README.md)")


_VERIFIED: Dict[Tuple[str, int, int], str] = {}  # (resolved path, size, mtime_ns) -> sha256, per process


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _VERIFIED[key] = digest.hexdigest()
    return _VERIFIED[key]


def verify_offline_file(path: os.PathLike, relpath: str) -> Path:
    """Check an offline file against :data:`OFFLINE_FILES`; return its path.

    Parameters
    ----------
    path : path-like
        The file.
    relpath : str
        Its path relative to the offline folder (``"planetoid/ind.cora.x"``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CorruptDataError
        If the size or SHA-256 differs from the recorded one, or ``relpath``
        is not a recorded file; the message names the file, what differs and
        where to get a good copy.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ind.cora.y")
    >>> _ = open(path, "wb").write(b"not the file")
    >>> verify_offline_file(path, "planetoid/ind.cora.y")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dgl_ssm.data.errors.CorruptDataError: offline data file ... has 12 bytes, expected 4054 ...
    """
    path = Path(path)
    if relpath not in OFFLINE_FILES:
        raise CorruptDataError(f"{path} is not a recorded offline file ({relpath}); known files are listed in "
                               "dgl_ssm/data/manifest.py (from shared/data/README.md)")
    digest, size = OFFLINE_FILES[relpath]
    actual = path.stat().st_size
    fix = f"replace it with a good copy from {source_of(relpath)}"
    if actual != size:
        raise CorruptDataError(f"offline data file {path} has {actual} bytes, expected {size} (truncated or another "
                               f"file); {fix}")
    got = _sha256(path)
    if got != digest:
        raise CorruptDataError(f"offline data file {path} has SHA-256 {got[:16]}..., expected {digest[:16]}... "
                               f"(same size, different content); {fix}")
    return path
