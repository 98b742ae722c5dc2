"""Receipts: self-contained evidence that one reading was signed and sealed into a batch.

A receipt holds the record bytes and their signature, the gateway public key, the
RFC 9162 inclusion proof of leaf ``record || signature`` and the signed batch
header. Anyone can check it without the store; docs/receipts.md documents every
field and gives a checker that needs only ``hashlib`` and ``cryptography``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from edgeseal import native
from edgeseal.verifier.accounts import receipt_part
from edgeseal.verifier.checks import packed_offsets
from edgeseal.verifier.receipt_log import LogTrust, build_log_part, check_log_part
from edgeseal.verifier.store import VerifierStore
from edgeseal.wire.batch import BatchHeader, SealedBatch, key_id_of
from edgeseal.wire.record import FormatError, ReadingRecord

RECEIPT_FORMAT = "edgeseal-receipt/1"
# Version 2 adds the batch's place in the transparency log, the checkpoint and the
# anchors (receipt_log.py); version 1 receipts still check.
RECEIPT_FORMAT_V2 = "edgeseal-receipt/2"
FORMATS = (RECEIPT_FORMAT, RECEIPT_FORMAT_V2)


class ReceiptError(LookupError):
    """No receipt can be built (reading not stored, ambiguous without --boot, ...)."""


@dataclass(frozen=True)
class ReadingRef:
    gateway_id: str
    device_id: int
    device_seq: int
    boot_id: int | None = None

    @classmethod
    def parse(cls, text: str, boot_id: int | None = None) -> ReadingRef:
        """``<gateway>/<device>/<seq>``, e.g. ``gw-01/7/1234``."""
        parts = text.split("/")
        if len(parts) != 3:
            raise ValueError(
                f"reading {text!r}: expected <gateway>/<device>/<seq>, e.g. gw-01/7/1234"
            )
        gateway_id, device, seq = parts
        try:
            return cls(gateway_id, int(device, 0), int(seq, 0), boot_id)
        except ValueError:
            raise ValueError(f"reading {text!r}: device and seq must be integers") from None

    def __str__(self) -> str:
        boot = f" boot {self.boot_id}" if self.boot_id is not None else ""
        return f"{self.gateway_id}/{self.device_id}/{self.device_seq}{boot}"


def build_receipt(store: VerifierStore, ref: ReadingRef) -> dict[str, Any]:
    """The receipt of one accepted reading, from the store alone."""
    found = store.find_readings(ref.gateway_id, ref.device_id, ref.device_seq, ref.boot_id)
    if not found:
        raise ReceiptError(f"no accepted reading {ref} in {store.where}")
    if len(found) > 1:
        boots = ", ".join(str(r.boot_id) for r in found)
        raise ReceiptError(
            f"reading {ref} exists for several device boots ({boots}); choose one with --boot"
        )
    stored = found[0]
    batch = store.batch(stored.batch_id)
    if batch is None:
        raise ReceiptError(f"store {store.where} lost batch {stored.batch_id} of reading {ref}")
    sealed = SealedBatch.from_payload(batch.payload)
    i = stored.leaf_index
    record = sealed.record(i)
    proof = native.inclusion_proof_packed(
        sealed.records, packed_offsets(sealed), i, suffixes=sealed.signatures
    )
    header = sealed.header
    # The rotations that lead from the enrolled key to the key of this batch, so that a
    # checker who trusts only the enrolled key can follow them.
    rotations = [
        SealedBatch.from_payload(p) for p in store.rotations_before(header.gateway_id, header.seq)
    ]
    receipt = {
        "format": RECEIPT_FORMAT,
        "reading": asdict(ReadingRecord.decode(record)),
        "record": record.hex(),
        "signature": sealed.signature(i).hex(),
        "public_key": batch.public_key.hex(),
        "inclusion_proof": {
            "leaf_index": i,
            "tree_size": header.count,
            "path": [h.hex() for h in proof],
        },
        "batch": {
            "gateway_id": header.gateway_id,
            "seq": header.seq,
            "header": sealed.header_bytes.hex(),
            "header_signature": sealed.header_signature.hex(),
            "header_hash": sealed.hash.hex(),
            "root": header.root.hex(),
        },
        "key_history": [
            {"header": r.header_bytes.hex(), "header_signature": r.header_signature.hex()}
            for r in rotations
        ],
    }
    # Whether the reading's device boot is fully accounted for (docs/receipts.md).
    receipt["account"] = receipt_part(
        store.accounts.account(stored.gateway_id, stored.device_id, stored.boot_id)
    )
    log_part = build_log_part(store, stored.batch_id)
    if log_part is not None:  # else no published checkpoint includes the batch yet
        receipt["format"] = RECEIPT_FORMAT_V2
        receipt.update(log_part)
    return receipt


def receipt_json(receipt: dict[str, Any]) -> str:
    return json.dumps(receipt, indent=2, sort_keys=False) + "\n"


# -- checking -------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class _Malformed(Exception):
    pass


def _field(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise _Malformed(f"field {path!r} is missing")
        node = node[part]
    return node


def _hex(data: Any, path: str, size: int | None = None) -> bytes:
    value = _field(data, path)
    if not isinstance(value, str):
        raise _Malformed(f"field {path!r} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _Malformed(f"field {path!r} is not hexadecimal") from None
    if size is not None and len(raw) != size:
        raise _Malformed(f"field {path!r} is {len(raw)} bytes, expected {size}")
    return raw


def _int(data: Any, path: str) -> int:
    value = _field(data, path)
    if type(value) is not int or value < 0:
        raise _Malformed(f"field {path!r} must be a non-negative integer")
    return value


def _follow_key_history(
    receipt: Any, trusted: bytes, public_key: bytes, header: BatchHeader
) -> tuple[bool, str]:
    """Walk the signed rotations from the trusted key; the last must be the receipt's key."""
    if public_key == trusted:
        return True, f"the receipt's key is the trusted key {trusted.hex()}"
    history = receipt.get("key_history", [])
    if not isinstance(history, list) or not history:
        return False, (
            f"receipt key {public_key.hex()}, expected {trusted.hex()}, and no key_history "
            "shows a rotation from one to the other"
        )
    current = trusted
    last_seq = 0
    for n, entry in enumerate(history):
        try:
            rotation_bytes = _hex(entry, "header")
            rotation_sig = _hex(entry, "header_signature", 64)
            rotation = BatchHeader.decode(rotation_bytes)
        except (_Malformed, FormatError) as exc:
            return False, f"key_history[{n}]: {exc}"
        if rotation.gateway_id != header.gateway_id or not last_seq < rotation.seq < header.seq:
            return False, (
                f"key_history[{n}] is batch {rotation.gateway_id} seq {rotation.seq}; expected a "
                f"batch of {header.gateway_id} between seq {last_seq} and {header.seq}"
            )
        if rotation.key_id != key_id_of(current) or not native.verify(
            current, rotation_bytes, rotation_sig
        ):
            return (
                False,
                f"key_history[{n}] (seq {rotation.seq}) is not signed by key {current.hex()}",
            )
        if rotation.next_public_key is None:
            return False, f"key_history[{n}] (seq {rotation.seq}) announces no key"
        current, last_seq = rotation.next_public_key, rotation.seq
    if current != public_key:
        return (
            False,
            f"key_history ends at key {current.hex()}, the receipt's key is {public_key.hex()}",
        )
    return True, (
        f"the trusted key {trusted.hex()} handed over to the receipt's key in "
        f"{len(history)} signed rotation(s)"
    )


def check_receipt(
    receipt: Any,
    *,
    expected_public_key: bytes | None = None,
    log_trust: LogTrust | None = None,
) -> list[Check]:
    """Every check of a receipt, in order; the receipt is valid iff all are ok.

    ``expected_public_key``: the gateway key the checker trusts (e.g. from the
    enrollment record); without it the receipt's own key is taken as given.
    ``log_trust``: the log key, witnesses and anchors a version 2 receipt is checked
    against (receipt_log.py; default: the receipt's own log key, no witness, one anchor).
    """
    checks: list[Check] = []

    def add(name: str, ok: bool, detail: str) -> bool:
        checks.append(Check(name, ok, detail))
        return ok

    try:
        fmt = _field(receipt, "format")
        if fmt not in FORMATS:
            raise _Malformed(f"format is {fmt!r}; this checker reads {' and '.join(FORMATS)}")
        record = _hex(receipt, "record")
        signature = _hex(receipt, "signature", 64)
        public_key = _hex(receipt, "public_key", 32)
        header_bytes = _hex(receipt, "batch.header")
        header_signature = _hex(receipt, "batch.header_signature", 64)
        leaf_index = _int(receipt, "inclusion_proof.leaf_index")
        tree_size = _int(receipt, "inclusion_proof.tree_size")
        path_value = _field(receipt, "inclusion_proof.path")
        if not isinstance(path_value, list):
            raise _Malformed("field 'inclusion_proof.path' must be a list of hex hashes")
        path = [_hex({"h": h}, "h", 32) for h in path_value]
    except _Malformed as exc:
        add("receipt structure", False, str(exc))
        return checks
    add("receipt structure", True, "all fields present with the right sizes")

    try:
        header = BatchHeader.decode(header_bytes)
    except FormatError as exc:
        add("batch header", False, str(exc))
        return checks
    try:
        reading = ReadingRecord.decode(record)
    except FormatError as exc:
        add("reading record", False, str(exc))
        return checks
    add("decoding", True, f"batch {header.gateway_id} seq {header.seq}, reading decoded")

    if expected_public_key is not None:
        ok, detail = _follow_key_history(receipt, expected_public_key, public_key, header)
        add("trusted key", ok, detail)
    add(
        "key id",
        key_id_of(public_key) == header.key_id,
        f"header names key id {header.key_id.hex()}, the receipt's key has id {key_id_of(public_key).hex()}",
    )
    add(
        "header signature",
        native.verify(public_key, header_bytes, header_signature),
        "Ed25519 signature over the batch header under the receipt's key",
    )
    add(
        "reading signature",
        native.verify(public_key, record, signature),
        "Ed25519 signature over the record under the receipt's key",
    )
    add(
        "gateway",
        reading.gateway_id == header.gateway_id,
        f"record names gateway {reading.gateway_id!r}, the header {header.gateway_id!r}",
    )
    add(
        "time bounds",
        header.first_time_us <= reading.gateway_time_us <= header.last_time_us,
        f"reading gateway_time_us {reading.gateway_time_us}, header bounds "
        f"{header.first_time_us}..{header.last_time_us}",
    )
    size_ok = add(
        "tree size",
        tree_size == header.count and leaf_index < tree_size,
        f"proof for leaf {leaf_index} of {tree_size}; the header says count {header.count}",
    )
    if size_ok:
        included = native.verify_inclusion(
            record + signature, leaf_index, tree_size, path, header.root
        )
        add(
            "inclusion proof",
            included,
            f"{len(path)} path hashes from leaf {leaf_index} "
            + ("lead" if included else "do not lead")
            + f" to the header root {header.root.hex()}",
        )
    displayed = receipt.get("reading")
    if displayed is not None:
        add(
            "reading fields",
            displayed == asdict(reading),
            "the readable 'reading' fields "
            + (
                "match"
                if displayed == asdict(reading)
                else f"differ from the signed record: record says {asdict(reading)}"
            ),
        )
    batch = receipt.get("batch", {})
    for name, expected in (
        ("gateway_id", header.gateway_id),
        ("seq", header.seq),
        ("root", header.root.hex()),
        ("header_hash", hashlib.sha256(header_bytes).hexdigest()),
    ):
        if name in batch:
            add(
                f"batch.{name}",
                batch[name] == expected,
                f"receipt says {batch[name]!r}, the header gives {expected!r}",
            )
    if fmt == RECEIPT_FORMAT_V2:
        check_log_part(receipt, header_bytes, header_signature, log_trust or LogTrust(), add)
    return checks
