"""RFC 9162 Merkle trees (section 2.1) over the C core.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``,
empty tree ``SHA-256("")``, split at the largest power of two smaller than n.

Every function taking ``leaves`` accepts any sequence of bytes-like objects; the
``*_packed`` forms take one buffer plus count + 1 offsets (array('Q') is used
without copying). Proofs are lists of 32-byte hashes in RFC order (inclusion:
leaf to root). A proof that does not check out is ``False``; malformed arguments
(index out of range, a hash that is not 32 bytes, old_size > new_size, non-bytes)
raise :class:`~edgeseal.native.errors.NativeValueError` / :class:`~edgeseal.native.errors.NativeTypeError`.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import accumulate, chain
from typing import Any

from edgeseal.native._hashing import ffi, lib
from edgeseal.native.errors import NativeInternalError, NativeValueError
from edgeseal.native.packed import (
    Packed,
    as_sequence,
    byte_view,
    check_hash,
    check_u64,
    pack_messages,
    packed_from,
    u64_array,
)

HASH_LEN = 32


def _ok(rc: int, what: str) -> None:
    if rc != 0:
        raise NativeInternalError(f"{what} failed on checked arguments")


def _hashes(buf: Any, n: int) -> list[bytes]:
    raw = bytes(ffi.buffer(buf, n * HASH_LEN))
    return [raw[i : i + HASH_LEN] for i in range(0, len(raw), HASH_LEN)]


def leaf_hash(leaf: Any) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || leaf)."""
    view = byte_view(leaf, "leaf")
    out = ffi.new("uint8_t[32]")
    _ok(lib.es_merkle_leaf_hash(view, len(view), out), "es_merkle_leaf_hash")
    return bytes(ffi.buffer(out))


def node_hash(left: Any, right: Any) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    out = ffi.new("uint8_t[32]")
    _ok(
        lib.es_merkle_node_hash(check_hash(left, "left"), check_hash(right, "right"), out),
        "es_merkle_node_hash",
    )
    return bytes(ffi.buffer(out))


# --- tree head -------------------------------------------------------------------------


def _suffixes(suffixes: Any, count: int) -> tuple[Any, int, int]:
    """(cffi view, total bytes, bytes per leaf) of the per-leaf suffixes, or none."""
    if suffixes is None:
        return ffi.NULL, 0, 0
    view = byte_view(suffixes, "suffixes")
    total = len(view)
    if count == 0:
        if total:
            raise NativeValueError(f"suffixes has {total} bytes but there are no leaves")
        return view, 0, 0
    if total % count:
        raise NativeValueError(
            f"suffixes has {total} bytes, not an equal share for each of the {count} leaves"
        )
    return view, total, total // count


def _root(p: Packed, suffixes: Any = None) -> bytes:
    c_suf, suf_total, suf_len = _suffixes(suffixes, p.count)
    out = ffi.new("uint8_t[32]")
    _ok(
        lib.es_merkle_root_suffixed(
            p.c_buf, p.buf_len, p.c_offsets, p.count, c_suf, suf_total, suf_len, out
        ),
        "es_merkle_root_suffixed",
    )
    return bytes(ffi.buffer(out))


def merkle_root(leaves: Any) -> bytes:
    """MTH(leaves): the RFC 9162 tree hash (SHA-256("") for no leaves)."""
    return _root(pack_messages(leaves, "leaves"))


def merkle_root_packed(buf: Any, offsets: Any, suffixes: Any = None) -> bytes:
    """MTH of leaves ``buf[offsets[i]:offsets[i+1]]`` (count + 1 offsets).

    With ``suffixes`` (bytes-like, an equal share of ``len(suffixes) // count``
    bytes per leaf), leaf i is ``buf[offsets[i]:offsets[i+1]] + suffixes[i*k:(i+1)*k]``:
    a sealed batch's record || signature leaves, hashed straight from its records
    and signatures runs without building the leaves.
    """
    return _root(packed_from(buf, offsets, "leaves"), suffixes)


# --- inclusion ---------------------------------------------------------------------------


def _inclusion(p: Packed, index: object, suffixes: Any = None) -> list[bytes]:
    idx = check_u64(index, "index")
    if idx >= p.count:
        raise NativeValueError(
            f"index {idx} is out of range for a tree of {p.count} leaves"
            + (" (an empty tree has no inclusion proofs)" if p.count == 0 else "")
        )
    c_suf, suf_total, suf_len = _suffixes(suffixes, p.count)
    n = lib.es_merkle_inclusion_proof_len(idx, p.count)
    proof = ffi.new("uint8_t[]", max(n, 1) * HASH_LEN)
    got = ffi.new("size_t *")
    _ok(
        lib.es_merkle_inclusion_proof_suffixed(
            p.c_buf,
            p.buf_len,
            p.c_offsets,
            p.count,
            c_suf,
            suf_total,
            suf_len,
            idx,
            proof,
            n,
            got,
        ),
        "es_merkle_inclusion_proof_suffixed",
    )
    return _hashes(proof, got[0])


def inclusion_proof(leaves: Any, index: int) -> list[bytes]:
    """PATH(index, leaves): the audit path from the leaf's sibling up to the root."""
    return _inclusion(pack_messages(leaves, "leaves"), index)


def inclusion_proof_packed(buf: Any, offsets: Any, index: int, suffixes: Any = None) -> list[bytes]:
    """PATH(index, ...) over packed leaves, with optional suffixes as in merkle_root_packed."""
    return _inclusion(packed_from(buf, offsets, "leaves"), index, suffixes)


def _proof_view(proof: Any, what: str) -> tuple[Any, int]:
    hashes = as_sequence(proof, what)
    for i, h in enumerate(hashes):
        check_hash(h, f"{what}[{i}]")
    joined = b"".join(hashes)
    return ffi.from_buffer("uint8_t[]", joined), len(hashes)


def verify_inclusion(
    leaf: Any, index: int, tree_size: int, proof: Sequence[Any], root: Any
) -> bool:
    """True iff ``proof`` shows ``leaf`` at ``index`` in the tree of ``tree_size`` with ``root``.

    Raises NativeValueError if index >= tree_size or a hash is not 32 bytes.
    """
    view = byte_view(leaf, "leaf")
    size = check_u64(tree_size, "tree_size")
    idx = check_u64(index, "index")
    if idx >= size:
        raise NativeValueError(f"index {idx} is out of range for a tree of {size} leaves")
    c_root = check_hash(root, "root")
    c_proof, n = _proof_view(proof, "proof")
    valid = ffi.new("int *")
    _ok(
        lib.es_merkle_verify_inclusion(view, len(view), idx, size, c_proof, n, c_root, valid),
        "es_merkle_verify_inclusion",
    )
    return bool(valid[0])


def _per_item(values: Any, count: int, what: str) -> tuple[Any, Any]:
    """A uint64 array of count values; one int stands for the same value everywhere."""
    if isinstance(values, int) and not isinstance(values, bool):
        return u64_array([check_u64(values, what)] * count, what)
    obj, c_arr = u64_array(values, what)
    if len(c_arr) != count:
        raise NativeValueError(f"{what} has {len(c_arr)} values for {count} leaves")
    return obj, c_arr


def verify_inclusion_many(
    leaves: Any, indices: Any, tree_sizes: Any, proofs: Any, roots: Any
) -> list[bool]:
    """Check many inclusion proofs in one C call; one bool per leaf.

    ``indices`` (and ``tree_sizes``) are a sequence of ints or a uint64 buffer;
    ``tree_sizes`` may be one int and ``roots`` one 32-byte hash when every leaf
    belongs to the same tree. ``proofs[i]`` is the proof of ``leaves[i]``.
    """
    packed = pack_messages(leaves, "leaves")
    count = packed.count
    idx_obj, c_idx = _per_item(indices, count, "indices")
    size_obj, c_sizes = _per_item(tree_sizes, count, "tree_sizes")
    if isinstance(roots, (bytes, bytearray, memoryview)):
        check_hash(roots, "roots")
        roots_buf = bytes(roots) * count
    else:
        root_list = as_sequence(roots, "roots")
        if len(root_list) != count:
            raise NativeValueError(f"roots has {len(root_list)} hashes for {count} leaves")
        for i, r in enumerate(root_list):
            check_hash(r, f"roots[{i}]")
        roots_buf = b"".join(root_list)
    proof_list = as_sequence(proofs, "proofs")
    if len(proof_list) != count:
        raise NativeValueError(f"proofs has {len(proof_list)} proofs for {count} leaves")
    proof_seqs = [as_sequence(p, f"proofs[{i}]") for i, p in enumerate(proof_list)]
    flat = list(chain.from_iterable(proof_seqs))
    # Types first: len() of anything else (an int in a proof) would be a bare TypeError.
    if set(map(type, flat)) - {bytes, bytearray} or set(map(len, flat)) - {HASH_LEN}:
        for i, p in enumerate(proof_seqs):
            for j, h in enumerate(p):
                check_hash(h, f"proofs[{i}][{j}]")
    proof_buf = b"".join(flat)
    proof_offsets = array("Q", [0])
    proof_offsets.extend(accumulate(map(len, proof_seqs)))
    results = bytearray(count)
    rc = lib.es_merkle_verify_inclusion_many(
        packed.c_buf,
        packed.buf_len,
        packed.c_offsets,
        count,
        c_idx,
        c_sizes,
        ffi.from_buffer("uint8_t[]", proof_buf),
        len(flat),
        ffi.from_buffer("uint64_t[]", proof_offsets),
        ffi.from_buffer("uint8_t[]", roots_buf),
        ffi.from_buffer("uint8_t[]", results, require_writable=True),
    )
    _ok(rc, "es_merkle_verify_inclusion_many")
    if 2 in results:  # the C side marks index >= tree_size with 2
        i = results.index(2)
        raise NativeValueError(
            f"indices[{i}] = {c_idx[i]} is out of range for a tree of {c_sizes[i]} leaves"
        )
    del idx_obj, size_obj  # kept alive until the call returned
    return [r == 1 for r in results]


# --- consistency -------------------------------------------------------------------------


def _consistency(p: Packed, old_size: object) -> list[bytes]:
    old = check_u64(old_size, "old_size")
    if old > p.count:
        raise NativeValueError(
            f"old_size {old} is larger than the tree ({p.count} leaves); "
            "a consistency proof goes from an older, smaller tree to this one"
        )
    n = lib.es_merkle_consistency_proof_len(old, p.count)
    proof = ffi.new("uint8_t[]", max(n, 1) * HASH_LEN)
    got = ffi.new("size_t *")
    _ok(
        lib.es_merkle_consistency_proof(
            p.c_buf, p.buf_len, p.c_offsets, p.count, old, proof, n, got
        ),
        "es_merkle_consistency_proof",
    )
    return _hashes(proof, got[0])


def consistency_proof(leaves: Any, old_size: int) -> list[bytes]:
    """PROOF(old_size, leaves): shows the first old_size leaves' tree is a prefix of this one.

    Empty when old_size is 0 or len(leaves).
    """
    return _consistency(pack_messages(leaves, "leaves"), old_size)


def consistency_proof_packed(buf: Any, offsets: Any, old_size: int) -> list[bytes]:
    return _consistency(packed_from(buf, offsets, "leaves"), old_size)


def verify_consistency(
    old_size: int, new_size: int, old_root: Any, new_root: Any, proof: Sequence[Any]
) -> bool:
    """True iff ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    old_size == new_size needs an empty proof and equal roots; old_size == 0 needs an
    empty proof and old_root == SHA-256("") (the empty tree's hash).
    """
    old = check_u64(old_size, "old_size")
    new = check_u64(new_size, "new_size")
    if old > new:
        raise NativeValueError(f"old_size {old} is larger than new_size {new}; trees only grow")
    c_old = check_hash(old_root, "old_root")
    c_new = check_hash(new_root, "new_root")
    c_proof, n = _proof_view(proof, "proof")
    valid = ffi.new("int *")
    _ok(
        lib.es_merkle_verify_consistency(old, new, c_old, c_new, c_proof, n, valid),
        "es_merkle_verify_consistency",
    )
    return bool(valid[0])


__all__ = [
    "HASH_LEN",
    "consistency_proof",
    "consistency_proof_packed",
    "inclusion_proof",
    "inclusion_proof_packed",
    "leaf_hash",
    "merkle_root",
    "merkle_root_packed",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_many",
]
