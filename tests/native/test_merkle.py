"""native's RFC 9162 Merkle trees against the pure-Python reference and pymerkle."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from array import array
from collections.abc import Callable

import pytest
import rfc9162_reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree  # type: ignore[import-untyped]
from pymerkle import verify_consistency as pymerkle_verify_consistency

from edgeseal import native
from edgeseal.native.errors import NativeTypeError, NativeValueError

EMPTY = hashlib.sha256(b"").digest()


def make_leaves(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    # Mixed lengths, including empty leaves and leaves longer than a block.
    return [rng.randbytes(rng.choice((0, 1, 31, 32, 63, 64, 65, 100, 200))) for _ in range(n)]


def pymerkle_tree(leaves: list[bytes]) -> InmemoryTree:
    # pymerkle 7's default hasher (security=True) prefixes leaves with 0x00 and
    # nodes with 0x01 and splits at the largest power of two below the width
    # (core.py, _get_root_naive / _inclusion_path_layout): RFC 9162 as is.
    tree = InmemoryTree(algorithm="sha256")
    tree.append_entries(leaves)
    return tree


# --- roots -----------------------------------------------------------------------


def test_empty_tree_is_sha256_of_nothing() -> None:
    assert native.merkle_root([]) == EMPTY
    assert native.merkle_root_packed(b"", [0]) == EMPTY


# The 8-leaf reference tree of Certificate Transparency's test data (RFC 6962 and
# RFC 9162 hash trees the same way), used across CT implementations: published
# roots for each prefix of the leaves, and the audit path of leaf 0 in the full tree.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
CT_PATH_0_OF_8 = [
    bytes.fromhex(h)
    for h in (
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )
]


def test_certificate_transparency_reference_tree() -> None:
    for n in range(1, 9):
        assert native.merkle_root(CT_LEAVES[:n]) == CT_ROOTS[n - 1], n
    assert native.inclusion_proof(CT_LEAVES, 0) == CT_PATH_0_OF_8
    assert native.verify_inclusion(CT_LEAVES[0], 0, 8, CT_PATH_0_OF_8, CT_ROOTS[7])
    for m in range(1, 9):
        proof = native.consistency_proof(CT_LEAVES, m)
        assert native.verify_consistency(m, 8, CT_ROOTS[m - 1], CT_ROOTS[7], proof), m


def test_rfc_shapes_by_hand() -> None:
    a, b, c = (ref.leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert native.merkle_root([b"a"]) == a
    assert native.merkle_root([b"a", b"b"]) == ref.node_hash(a, b)
    # Three leaves split 2 + 1: the last leaf is promoted, never duplicated.
    assert native.merkle_root([b"a", b"b", b"c"]) == ref.node_hash(ref.node_hash(a, b), c)
    assert native.leaf_hash(b"a") == a
    assert native.node_hash(a, b) == ref.node_hash(a, b)


def test_every_size_up_to_300_against_reference_and_pymerkle() -> None:
    leaves = make_leaves(300, seed=1)
    reference = ref.Tree(leaves)
    pm = pymerkle_tree(leaves)
    for n in range(301):
        root = native.merkle_root(leaves[:n])
        assert root == reference.root(n), n
        assert root == pm.get_root(n), n


@pytest.mark.parametrize("n", [1023, 1024, 1025, 65535, 65536, 65537])
def test_powers_of_two_neighbours(n: int) -> None:
    leaves = make_leaves(n, seed=n)
    assert native.merkle_root(leaves) == ref.Tree(leaves).root()


def test_random_sizes_up_to_100k_against_reference_and_pymerkle() -> None:
    rng = random.Random(5)
    sizes = [rng.randrange(301, 100_001) for _ in range(2)] + [100_000]
    for n in sizes:
        leaves = [rng.randbytes(64) for _ in range(n)]
        root = native.merkle_root(leaves)
        assert root == ref.Tree(leaves).root(), n
        assert root == pymerkle_tree(leaves).get_root(), n


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=70))
def test_root_property(leaves: list[bytes]) -> None:
    assert native.merkle_root(leaves) == ref.Tree(leaves).root()


# --- inclusion -------------------------------------------------------------------


def test_every_inclusion_proof_in_every_tree_up_to_300() -> None:
    leaves = make_leaves(300, seed=2)
    pm = pymerkle_tree(leaves)
    for n in range(1, 301):
        reference = ref.Tree(leaves[:n])
        root = reference.root()
        for i in range(n):
            proof = native.inclusion_proof(leaves[:n], i)
            assert proof == reference.path(i), (n, i)
            assert native.verify_inclusion(leaves[i], i, n, proof, root)
            assert ref.verify_inclusion(leaves[i], i, n, proof, root)
            if i in (0, n // 2, n - 1):
                # pymerkle counts leaves from one and starts its path with the leaf hash.
                pm_proof = pm.prove_inclusion(i + 1, n)
                assert pm_proof.path == [ref.leaf_hash(leaves[i])] + proof, (n, i)


def test_inclusion_proofs_in_a_100k_tree() -> None:
    rng = random.Random(6)
    n = rng.randrange(65_537, 100_001)
    leaves = [rng.randbytes(64) for _ in range(n)]
    reference = ref.Tree(leaves)
    root = native.merkle_root(leaves)
    for i in [0, n - 1, 65_535, 65_536] + [rng.randrange(n) for _ in range(4)]:
        proof = native.inclusion_proof(leaves, i)
        assert proof == reference.path(i)
        assert native.verify_inclusion(leaves[i], i, n, proof, root)


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


InclusionCase = tuple[bytes, int, int, list[bytes], bytes]


def inclusion_tamperings(leaves: list[bytes], i: int) -> dict[str, InclusionCase]:
    """Named changes to a valid (leaf, index, size, proof, root), each must be rejected."""
    n = len(leaves)
    proof = native.inclusion_proof(leaves, i)
    root = native.merkle_root(leaves)
    good = (leaves[i], i, n, proof, root)
    cases: dict[str, InclusionCase] = {}
    for k in range(len(proof)):
        for bit in (0, 3, 255):
            tampered = list(proof)
            tampered[k] = _flip(proof[k], bit)
            cases[f"modified-proof[{k}]-bit-@{bit}"] = (*good[:3], tampered, root)
    cases["trailing-garbage"] = (*good[:3], proof + [bytes(32)], root)
    cases["trailing-copy-of-root"] = (*good[:3], proof + [root], root)
    if proof:
        cases["missing-last"] = (*good[:3], proof[:-1], root)
        cases["empty-proof"] = (*good[:3], [], root)
        cases["reversed-proof"] = (
            (*good[:3], proof[::-1], root) if len(proof) > 1 else cases["missing-last"]
        )
    cases["wrong-leaf"] = (leaves[i] + b"x", i, n, proof, root)
    cases["leaf-hash-instead-of-leaf"] = (ref.leaf_hash(leaves[i]), i, n, proof, root)
    if n > 1:
        other = (i + 1) % n
        cases["wrong-index"] = (leaves[i], other, n, proof, root)
        cases["other-leaf"] = (leaves[other], i, n, proof, root)
    # RFC 9162 verification binds the tree size only through the proof's shape: a
    # size whose path has the same left/right pattern for this index (7 and 8 for
    # index 3) verifies the same hashes. Only sizes that change the shape are tampering.
    for name, size in (("wrong-size-plus-one", n + 1), ("wrong-size-minus-one", n - 1)):
        if i < size and not ref.verify_inclusion(leaves[i], i, size, proof, root):
            cases[name] = (leaves[i], i, size, proof, root)
    cases["wrong-root"] = (*good[:4], _flip(root, 7))
    cases["root-of-smaller-tree"] = (*good[:4], native.merkle_root(leaves[:-1]))
    return cases


@pytest.mark.parametrize(("n", "i"), [(1, 0), (2, 1), (7, 3), (8, 0), (13, 12), (300, 170)])
def test_tampered_inclusion_proofs_are_rejected(n: int, i: int) -> None:
    leaves = make_leaves(n, seed=n)
    cases = inclusion_tamperings(leaves, i)
    assert "trailing-garbage" in cases and "wrong-leaf" in cases
    for name, (leaf, idx, size, proof, root) in cases.items():
        # Sanity: the reference rejects it too, so the case really is invalid.
        assert not ref.verify_inclusion(leaf, idx, size, proof, root), name
        assert native.verify_inclusion(leaf, idx, size, proof, root) is False, name


def test_verify_inclusion_many_mixes_valid_and_tampered() -> None:
    leaves = make_leaves(57, seed=9)
    root = native.merkle_root(leaves)
    proofs = [native.inclusion_proof(leaves, i) for i in range(57)]
    assert native.verify_inclusion_many(leaves, range(57), 57, proofs, root) == [True] * 57
    cases = inclusion_tamperings(leaves, 20)
    names = sorted(cases)
    got = native.verify_inclusion_many(
        [cases[k][0] for k in names] + [leaves[5]],
        [cases[k][1] for k in names] + [5],
        [cases[k][2] for k in names] + [57],
        [cases[k][3] for k in names] + [proofs[5]],
        [cases[k][4] for k in names] + [root],
    )
    assert got == [False] * len(names) + [True]
    assert native.verify_inclusion_many([], [], [], [], []) == []
    # Indices as array('Q'), per-item sizes as a buffer.
    got = native.verify_inclusion_many(
        leaves[:3], array("Q", [0, 1, 2]), array("Q", [57] * 3), proofs[:3], [root] * 3
    )
    assert got == [True] * 3


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.data())
def test_inclusion_property(n: int, data: st.DataObject) -> None:
    leaves = make_leaves(n, seed=n)
    i = data.draw(st.integers(0, n - 1))
    proof = native.inclusion_proof(leaves, i)
    assert proof == ref.Tree(leaves).path(i)
    assert native.verify_inclusion(leaves[i], i, n, proof, native.merkle_root(leaves))


# --- consistency -----------------------------------------------------------------


def test_every_consistency_proof_in_every_tree_up_to_300() -> None:
    leaves = make_leaves(300, seed=3)
    reference = ref.Tree(leaves)
    pm = pymerkle_tree(leaves)
    roots = [native.merkle_root(leaves[:n]) for n in range(301)]
    for n in range(301):
        for m in range(n + 1):
            proof = native.consistency_proof(leaves[:n], m)
            assert proof == reference.proof(m, n), (m, n)
            assert native.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            assert ref.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if 0 < m and (n <= 40 or m in (1, n // 2, n - 1)):
                # pymerkle's own proof between the same two states checks against our roots.
                pymerkle_verify_consistency(roots[m], roots[n], pm.prove_consistency(m, n))


ConsistencyCase = tuple[int, int, bytes, bytes, list[bytes]]


def consistency_tamperings(leaves: list[bytes], m: int) -> dict[str, ConsistencyCase]:
    n = len(leaves)
    proof = native.consistency_proof(leaves, m)
    old, new = native.merkle_root(leaves[:m]), native.merkle_root(leaves)
    cases: dict[str, ConsistencyCase] = {}
    for k in range(len(proof)):
        for bit in (0, 3, 255):
            tampered = list(proof)
            tampered[k] = _flip(proof[k], bit)
            cases[f"modified-proof[{k}]-bit-@{bit}"] = (m, n, old, new, tampered)
    cases["trailing-garbage"] = (m, n, old, new, proof + [bytes(32)])
    if proof:
        cases["missing-last"] = (m, n, old, new, proof[:-1])
        cases["empty-proof"] = (m, n, old, new, [])
    cases["wrong-old-root"] = (m, n, _flip(old, 1), new, proof)
    cases["wrong-new-root"] = (m, n, old, _flip(new, 1), proof)
    cases["swapped-roots"] = (m, n, new, old, proof)
    # As for inclusion, sizes enter only through the proof's shape (see above).
    for name, sizes in (("wrong-old-size", (m - 1, n)), ("wrong-new-size", (m, n - 1))):
        if 0 < sizes[0] < sizes[1] and not ref.verify_consistency(*sizes, old, new, proof):
            cases[name] = (*sizes, old, new, proof)
    cases["other-tree-new-root"] = (m, n, old, native.merkle_root(leaves[:-1] + [b"forged"]), proof)
    return cases


@pytest.mark.parametrize(
    ("m", "n"), [(1, 2), (3, 7), (4, 7), (6, 8), (7, 8), (100, 300), (128, 300)]
)
def test_tampered_consistency_proofs_are_rejected(m: int, n: int) -> None:
    leaves = make_leaves(n, seed=m * 1000 + n)
    for name, (old_size, new_size, old, new, proof) in consistency_tamperings(leaves, m).items():
        assert not ref.verify_consistency(old_size, new_size, old, new, proof), name
        assert native.verify_consistency(old_size, new_size, old, new, proof) is False, name


def test_consistency_edge_sizes() -> None:
    leaves = make_leaves(5)
    root = native.merkle_root(leaves)
    assert native.consistency_proof(leaves, 0) == []
    assert native.consistency_proof(leaves, 5) == []
    assert native.verify_consistency(0, 5, EMPTY, root, [])
    assert not native.verify_consistency(0, 5, root, root, [])  # old root must be MTH({})
    assert not native.verify_consistency(0, 5, EMPTY, root, [root])  # trailing-garbage
    assert native.verify_consistency(5, 5, root, root, [])
    assert not native.verify_consistency(5, 5, root, _flip(root, 0), [])
    assert not native.verify_consistency(5, 5, root, root, [root])


# --- packed forms ----------------------------------------------------------------


def test_packed_forms_match_the_list_forms() -> None:
    leaves = make_leaves(77, seed=4)
    buf = b"".join(leaves)
    offsets = array("Q", [0])
    for leaf in leaves:
        offsets.append(offsets[-1] + len(leaf))
    root = native.merkle_root(leaves)
    assert native.merkle_root_packed(buf, offsets) == root
    assert native.merkle_root_packed(bytearray(buf), list(offsets)) == root
    assert native.merkle_root_packed(memoryview(buf), memoryview(offsets)) == root
    assert native.inclusion_proof_packed(buf, offsets, 40) == native.inclusion_proof(leaves, 40)
    assert native.consistency_proof_packed(buf, offsets, 33) == native.consistency_proof(leaves, 33)
    # Offsets into the middle of a larger buffer (a received payload).
    framed = b"HEADER" + buf + b"TRAILER"
    shifted = array("Q", (o + 6 for o in offsets))
    assert native.merkle_root_packed(framed, shifted) == root


@pytest.mark.parametrize("n", [0, 1, 5, 64, 2049])
def test_packed_leaves_with_suffixes_hash_as_record_then_signature(n: int) -> None:
    """A sealed batch's layout: records in one run, 64-byte signatures in another."""
    rng = random.Random(n)
    records = [rng.randbytes(rng.randrange(30, 90)) for _ in range(n)]
    signatures = [rng.randbytes(64) for _ in range(n)]
    offsets = array("Q", [0])
    for r in records:
        offsets.append(offsets[-1] + len(r))
    joined = [r + s for r, s in zip(records, signatures)]
    root = native.merkle_root_packed(b"".join(records), offsets, suffixes=b"".join(signatures))
    assert root == ref.Tree(joined).root()
    for i in {0, n // 2, n - 1} if n else set():
        proof = native.inclusion_proof_packed(
            b"".join(records), offsets, i, suffixes=b"".join(signatures)
        )
        assert proof == ref.Tree(joined).path(i)
        assert native.verify_inclusion(joined[i], i, n, proof, root)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=150), min_size=1, max_size=40),
    st.integers(0, 140),
    st.randoms(use_true_random=False),
)
def test_suffixed_leaves_property(
    records: list[bytes], suffix_len: int, rng: random.Random
) -> None:
    """Any record lengths and suffix sizes (blocks straddling record and suffix)."""
    suffixes = [rng.randbytes(suffix_len) for _ in records]
    offsets = [0]
    for r in records:
        offsets.append(offsets[-1] + len(r))
    tree = ref.Tree([r + x for r, x in zip(records, suffixes)])
    body, tail = b"".join(records), b"".join(suffixes)
    assert native.merkle_root_packed(body, offsets, suffixes=tail) == tree.root()
    i = rng.randrange(len(records))
    assert native.inclusion_proof_packed(body, offsets, i, suffixes=tail) == tree.path(i)


def test_suffixes_must_split_evenly() -> None:
    with pytest.raises(NativeValueError, match="not an equal share for each of the 2 leaves"):
        native.merkle_root_packed(b"abcd", [0, 2, 4], suffixes=b"xyz")
    with pytest.raises(NativeValueError, match="no leaves"):
        native.merkle_root_packed(b"", [0], suffixes=b"x")
    with pytest.raises(NativeTypeError):
        native.merkle_root_packed(b"abcd", [0, 2, 4], suffixes="xy")


def test_leaves_may_be_any_bytes_like() -> None:
    leaves = [b"ab", bytearray(b"cd"), memoryview(b"xxef")[2:], array("B", b"gh")]
    as_bytes = [bytes(x) for x in leaves]
    assert native.merkle_root(leaves) == ref.Tree(as_bytes).root()
    assert native.merkle_root(tuple(as_bytes)) == native.merkle_root(iter(as_bytes))


# --- bad input -------------------------------------------------------------------

Call = Callable[[], object]
H = bytes(32)
L3 = [b"a", b"b", b"c"]

BAD_VALUES: dict[str, Call] = {
    "inclusion-index-out-of-range": lambda: native.inclusion_proof(L3, 3),
    "inclusion-in-empty-tree": lambda: native.inclusion_proof([], 0),
    "inclusion-negative-index": lambda: native.inclusion_proof(L3, -1),
    "verify-index-equals-size": lambda: native.verify_inclusion(b"a", 3, 3, [H, H], H),
    "verify-size-too-large": lambda: native.verify_inclusion(b"a", 0, 2**64, [], H),
    "verify-short-root": lambda: native.verify_inclusion(b"a", 0, 1, [], H[:31]),
    "verify-long-proof-hash": lambda: native.verify_inclusion(b"a", 0, 2, [H + b"x"], H),
    "many-index-out-of-range": lambda: native.verify_inclusion_many([b"a"], [1], 1, [[]], H),
    "many-length-mismatch": lambda: native.verify_inclusion_many([b"a"], [0, 1], 2, [[]], H),
    "many-short-proof-hash": lambda: native.verify_inclusion_many([b"a"], [0], 2, [[H[:5]]], H),
    "consistency-old-larger": lambda: native.consistency_proof(L3, 4),
    "verify-consistency-old-larger": lambda: native.verify_consistency(4, 3, H, H, []),
    "verify-consistency-short-root": lambda: native.verify_consistency(1, 3, H[:16], H, [H]),
    "node-hash-short": lambda: native.node_hash(H, H[:31]),
    "packed-offsets-past-end": lambda: native.merkle_root_packed(b"abc", [0, 4]),
    "packed-offsets-decreasing": lambda: native.merkle_root_packed(b"abc", [0, 2, 1]),
}

BAD_TYPES: dict[str, Call] = {
    "leaves-is-bytes": lambda: native.merkle_root(b"abc"),
    "leaves-is-str": lambda: native.merkle_root("abc"),
    "leaf-is-str": lambda: native.merkle_root([b"a", "b"]),
    "leaf-is-int": lambda: native.merkle_root([b"a", 1]),
    "leaves-not-iterable": lambda: native.merkle_root(5),
    "index-is-float": lambda: native.inclusion_proof(L3, 1.0),  # type: ignore[arg-type]
    "index-is-bool": lambda: native.inclusion_proof(L3, True),
    "proof-is-bytes": lambda: native.verify_inclusion(b"a", 0, 2, H, H),
    "proof-item-is-str": lambda: native.verify_inclusion(b"a", 0, 2, ["x" * 32], H),
    "root-is-str": lambda: native.verify_consistency(1, 2, "x" * 32, H, [H]),
    "tree-size-is-str": lambda: native.verify_inclusion(b"a", 0, "2", [H], H),  # type: ignore[arg-type]
    "leaf-is-none": lambda: native.verify_inclusion(None, 0, 1, [], H),
    "many-proof-item-is-int": lambda: native.verify_inclusion_many([b"a"], [0], 2, [[5]], H),
    "many-proof-item-is-int-after-hash": lambda: native.verify_inclusion_many(
        [b"a", b"b"], [0, 1], 2, [[H], [H, 7]], H
    ),
    "many-proof-item-is-str": lambda: native.verify_inclusion_many([b"a"], [0], 2, [["x" * 32]], H),
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_values_raise_value_error(name: str) -> None:
    with pytest.raises(NativeValueError) as err:
        BAD_VALUES[name]()
    assert isinstance(err.value, ValueError)
    assert str(err.value)


@pytest.mark.parametrize("name", sorted(BAD_TYPES))
def test_bad_types_raise_type_error(name: str) -> None:
    with pytest.raises(NativeTypeError) as err:
        BAD_TYPES[name]()
    assert isinstance(err.value, TypeError)


def test_messages_name_the_problem() -> None:
    with pytest.raises(NativeValueError, match="index 3 is out of range for a tree of 3 leaves"):
        native.inclusion_proof(L3, 3)
    with pytest.raises(NativeValueError, match="old_size 4 is larger than new_size 3"):
        native.verify_consistency(4, 3, H, H, [])
    with pytest.raises(NativeValueError, match=r"proof\[1\] must be 32 bytes .* got 31"):
        native.verify_inclusion(b"a", 0, 4, [H, H[:31]], H)
    with pytest.raises(NativeTypeError, match=r"leaves\[1\] must be bytes-like, not str"):
        native.merkle_root([b"a", "b"])


def test_concurrent_calls_from_threads_agree() -> None:
    """The C calls release the GIL and share no state: threads get the same answers."""
    from concurrent.futures import ThreadPoolExecutor

    trees = [make_leaves(3000 + 17 * k, seed=k) for k in range(8)]
    expected = [ref.Tree(t).root() for t in trees]
    with ThreadPoolExecutor(max_workers=4) as pool:
        roots = list(pool.map(native.merkle_root, trees * 3))
        proofs = list(pool.map(lambda t: native.inclusion_proof(t, len(t) // 3), trees))
    assert roots == expected * 3
    assert proofs == [ref.Tree(t).path(len(t) // 3) for t in trees]


# --- every variant through the dispatcher ----------------------------------------


def test_merkle_under_forced_portable_variant() -> None:
    """The tree code runs through the dispatcher: check it with EDGESEAL_SHA256=portable."""
    code = (
        "import sys\nfrom edgeseal import native\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import rfc9162_reference as ref\n"
        "assert native.dispatch_info().active == 'portable'\n"
        "leaves = [bytes([i % 256]) * (i % 70) for i in range(130)]\n"
        "for n in range(131):\n"
        "    t = ref.Tree(leaves[:n])\n"
        "    assert native.merkle_root(leaves[:n]) == t.root(), n\n"
        "    if n:\n"
        "        assert native.inclusion_proof(leaves[:n], n // 2) == t.path(n // 2)\n"
        "        assert native.consistency_proof(leaves[:n], (n + 1) // 2) == t.proof((n + 1) // 2)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, EDGESEAL_SHA256="portable")
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        [sys.executable, "-c", code, here], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
