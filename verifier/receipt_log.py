"""The second half of a receipt (edgeseal-receipt/2): batch -> log -> checkpoint -> anchors.

The first half (receipt.py) shows that a reading is in a batch the gateway signed. This
half shows that the batch is entry ``index`` of the verifier's transparency log (an RFC
9162 inclusion proof of the entry ``header || header signature``), that the log's key
signed a checkpoint of that tree (C2SP tlog-checkpoint as a signed note), which
witnesses cosigned it (C2SP tlog-cosignature) and where it was anchored (RFC 3161
token, EVM transaction). docs/receipts.md says how to check each link by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgeseal import native
from edgeseal.anchor.evidence import AnchorEvidence, AnchorTrust, EvidenceError, check_evidence
from edgeseal.tlog.checkpoint import Checkpoint, open_checkpoint
from edgeseal.tlog.cosignature import CosignatureVerifier
from edgeseal.tlog.note import NoteError, NoteVerifier
from edgeseal.tlog.tiles import inclusion_proof_from_tiles
from edgeseal.verifier.log_store import log_entry, tile_reader
from edgeseal.verifier.store import VerifierStore


@dataclass(frozen=True)
class LogTrust:
    """What the checker trusts about the log: its key, the witnesses, the anchors.

    ``log_key`` None: the receipt's own ``log.log_key`` is taken as given (the checker
    says so). ``witness_keys``: cosignatures by other keys are ignored; ``witnesses_needed``
    of these must have cosigned (None: all of them).
    """

    log_key: str | None = None
    witness_keys: tuple[str, ...] = ()
    witnesses_needed: int | None = None
    online: bool = False
    anchors: AnchorTrust | None = None
    anchors_needed: int = 1


def build_log_part(store: VerifierStore, batch_id: int) -> dict[str, Any] | None:
    """The ``log`` and ``anchors`` fields of a receipt for a batch, or None when no
    published checkpoint includes it yet."""
    entry = store.log.entry_of_batch(batch_id)
    if entry is None:
        return None
    checkpoint = store.log.checkpoint_covering(entry.index)
    keys = store.log.log_keys()
    if checkpoint is None or keys is None:
        return None
    proof = inclusion_proof_from_tiles(entry.index, checkpoint.size, tile_reader(store.log))
    return {
        "log": {
            "index": entry.index,
            "tree_size": checkpoint.size,
            "inclusion_proof": [h.hex() for h in proof],
            "checkpoint": checkpoint.best_note.decode("utf-8"),
            "log_key": keys[0],
            "witness_keys": list(keys[1]),
        },
        "anchors": checkpoint.evidence,
    }


class _Bad(Exception):
    pass


def _str(node: Any, name: str) -> str:
    value = node.get(name) if isinstance(node, dict) else None
    if not isinstance(value, str):
        raise _Bad(f"field 'log.{name}' must be a string")
    return value


def check_log_part(
    receipt: Any,
    header_bytes: bytes,
    header_signature: bytes,
    trust: LogTrust,
    add: Callable[[str, bool, str], bool],
) -> None:
    """Check every link from the batch to the anchors, each through ``add(name, ok, detail)``."""
    part = receipt.get("log")
    try:
        if not isinstance(part, dict):
            raise _Bad("field 'log' is missing (a version 2 receipt carries the log's proof)")
        index, size = part.get("index"), part.get("tree_size")
        if type(index) is not int or type(size) is not int or not 0 <= index < size:
            raise _Bad("fields 'log.index' and 'log.tree_size' must be integers, index < size")
        proof_value = part.get("inclusion_proof")
        if not isinstance(proof_value, list) or not all(isinstance(h, str) for h in proof_value):
            raise _Bad("field 'log.inclusion_proof' must be a list of hex hashes")
        proof = [bytes.fromhex(h) for h in proof_value]
        if any(len(h) != 32 for h in proof):
            raise _Bad("field 'log.inclusion_proof' holds a hash that is not 32 bytes")
        note = _str(part, "checkpoint").encode("utf-8")
        receipt_key = _str(part, "log_key")
    except (_Bad, ValueError) as exc:
        add("log structure", False, str(exc))
        return
    add("log structure", True, f"entry {index} of a tree of {size}")

    vkey = trust.log_key if trust.log_key is not None else receipt_key
    try:
        checkpoint, opened = open_checkpoint(note, NoteVerifier.from_vkey(vkey))
    except (NoteError, ValueError) as exc:
        add("checkpoint signature", False, f"the checkpoint is not signed by log key {vkey}: {exc}")
        return
    origin = vkey.split("+", 1)[0]
    detail = f"checkpoint of {checkpoint.origin!r} size {checkpoint.size} signed by the log key"
    if trust.log_key is None:
        detail += " the receipt names (not checked against a trusted log key)"
    add("checkpoint signature", checkpoint.origin == origin, detail)
    if not add(
        "checkpoint size",
        checkpoint.size == size,
        f"the proof is for a tree of {size}, the checkpoint has {checkpoint.size}",
    ):
        return
    entry = log_entry(header_bytes, header_signature)
    included = native.verify_inclusion(entry, index, size, proof, checkpoint.root_hash)
    add(
        "log inclusion",
        included,
        f"the batch's log entry (header || signature) at index {index} "
        + ("is" if included else "is NOT")
        + f" in the tree of checkpoint {size} (root {checkpoint.root_hash.hex()})",
    )
    _check_cosignatures(checkpoint, opened.signatures, trust, add)
    _check_anchors(receipt, checkpoint, note, trust, add)


def _check_cosignatures(
    checkpoint: Checkpoint,
    signatures: Sequence[Any],
    trust: LogTrust,
    add: Callable[[str, bool, str], bool],
) -> None:
    needed = len(trust.witness_keys) if trust.witnesses_needed is None else trust.witnesses_needed
    if not trust.witness_keys:
        if needed > 0:
            add("cosignatures", False, f"{needed} witnesses needed, but no witness key was given")
        return
    # A policy of N means N distinct witnesses: a witness that signed twice, or a key
    # given twice, counts once.
    valid: dict[tuple[str, bytes], str] = {}
    for vkey in trust.witness_keys:
        try:
            verifier = CosignatureVerifier.from_vkey(vkey)
        except (NoteError, ValueError) as exc:
            add("cosignatures", False, f"witness key {vkey!r} is unusable: {exc}")
            return
        for sig in signatures:
            if verifier.matches(sig):
                stamp = verifier.verify(checkpoint, sig)
                if stamp is not None:
                    valid.setdefault(
                        (verifier.name, verifier.key_id), f"{verifier.name} (at {stamp})"
                    )
    add(
        "cosignatures",
        len(valid) >= needed,
        f"{len(valid)} of the trusted witnesses cosigned ({', '.join(valid.values()) or 'none'}); "
        f"{needed} needed",
    )


def _check_anchors(
    receipt: Any,
    checkpoint: Checkpoint,
    note: bytes,
    trust: LogTrust,
    add: Callable[[str, bool, str], bool],
) -> None:
    anchors = receipt.get("anchors", [])
    if not isinstance(anchors, list):
        add("anchors", False, "field 'anchors' must be a list")
        return
    good = 0
    for n, obj in enumerate(anchors):
        try:
            evidence = AnchorEvidence.from_json(obj)
        except EvidenceError as exc:
            add(f"anchor {n}", False, str(exc))
            continue
        problem = check_evidence(
            evidence, checkpoint, note, online=trust.online, trust=trust.anchors
        )
        how = "online" if trust.online else "offline"
        add(
            f"anchor {evidence.kind}",
            problem is None,
            f"anchors checkpoint {checkpoint.size} ({how})" if problem is None else problem,
        )
        good += problem is None
    if trust.anchors_needed:
        add(
            "anchored",
            good >= trust.anchors_needed,
            f"{good} anchor(s) valid, {trust.anchors_needed} needed",
        )
