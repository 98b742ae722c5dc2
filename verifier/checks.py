"""The checks a batch must pass before its chain position is even considered.

Two groups:

* ``check_contents`` needs no key: every record decodes, names the header's
  gateway and lies within the header's time bounds (which must be tight), no
  reading appears twice, and the RFC 9162 root over ``record_i || signature_i``
  equals the header's root (computed by the native core).
* ``check_signatures`` needs the key: the header signature, then every reading
  signature in one call of the native batch verifier (packed form: one key, one
  signature buffer, the records buffer and its offsets; no per-reading Python on
  the crypto path). The verifier reports exact indices of bad signatures.

Each failure is a ``Problem`` with a reason code and a message naming the check,
the expected and the found value.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgeseal import native
from edgeseal.verifier.verdict import Reason
from edgeseal.wire.batch import SealedBatch
from edgeseal.wire.event import EventRecord, split_leaves
from edgeseal.wire.record import BadRecord, FormatError, RecordColumns, decode_many

# Given the public key and the batch, return the indices of readings whose signature
# does not verify. The service always uses the native batch verifier; the benchmark
# swaps in a one-by-one verifier to measure what the native core buys.
ReadingVerifier = Callable[[bytes, SealedBatch], Sequence[int]]

# Quarantine reason of a batch with several problems: the first in this order, so
# that e.g. a flipped bit in the header's root reads as a bad header signature (the
# header was altered) rather than as a root mismatch.
PRECEDENCE: tuple[Reason, ...] = (
    Reason.MALFORMED,
    Reason.UNKNOWN_GATEWAY,
    Reason.ALTERED_COPY,
    Reason.UNKNOWN_KEY,
    Reason.BAD_HEADER_SIGNATURE,
    Reason.BAD_READING_SIGNATURES,
    Reason.ROOT_MISMATCH,
    Reason.RECORD_MISMATCH,
    Reason.REPLAY,
    Reason.BAD_EVENT,
    Reason.FORK,
    Reason.TOO_FAR_AHEAD,
    Reason.HELD_LIMIT,
)

_MAX_LISTED = 20  # indices listed in a message before "... and N more"


@dataclass(frozen=True)
class Problem:
    reason: Reason
    detail: str


def primary(problems: Sequence[Problem]) -> Problem:
    """The problem that names the quarantine reason (see PRECEDENCE)."""
    return min(problems, key=lambda p: PRECEDENCE.index(p.reason))


def describe(problems: Sequence[Problem]) -> str:
    first = primary(problems)
    rest = [p.detail for p in problems if p is not first]
    return "; ".join([first.detail, *rest])


def list_indices(indices: Sequence[object]) -> str:
    shown = ", ".join(str(i) for i in indices[:_MAX_LISTED])
    more = len(indices) - _MAX_LISTED
    return shown + (f" ... and {more} more" if more > 0 else "")


def packed_offsets(sealed: SealedBatch) -> array[int]:
    """The record offsets as the native core's packed form takes them (uint64, no copy)."""
    return array("Q", sealed.record_offsets)


@dataclass(frozen=True)
class ContentReport:
    records: RecordColumns | None  # None when a record did not decode
    problems: tuple[Problem, ...]
    # Signed events among the leaves (docs/formats.md, "Event record"), with their leaf
    # index; then ``leaf_indices`` gives each reading's leaf (None: reading i is leaf i).
    events: tuple[tuple[int, EventRecord], ...] = ()
    leaf_indices: tuple[int, ...] | None = None


def _repeated_readings(records: RecordColumns) -> list[str]:
    """Readings whose (device, boot, seq) an earlier reading of the batch has: "i repeats j"."""
    seen: dict[tuple[int, int, int], int] = {}
    repeats: list[str] = []
    for i, identity in enumerate(zip(records.device_id, records.boot_id, records.device_seq)):
        first = seen.setdefault(identity, i)
        if first != i:
            repeats.append(f"{i} repeats {first}")
    return repeats


def check_contents(sealed: SealedBatch) -> ContentReport:
    """Key-independent checks: records, time bounds, duplicates, Merkle root.

    Column-wise over the whole batch (``decode_many``): the per-reading work is in
    C; Python loops over readings only to describe a problem that was found.
    """
    header = sealed.header
    problems: list[Problem] = []
    try:
        split = split_leaves(sealed.records, sealed.record_offsets)
    except FormatError as exc:
        return ContentReport(None, (Problem(Reason.MALFORMED, str(exc)),))
    events: tuple[tuple[int, EventRecord], ...] = ()
    leaf_indices: tuple[int, ...] | None = None
    try:
        if split is None:
            records = decode_many(sealed.records, sealed.record_offsets)
        else:
            events, leaf_indices = split.events, split.reading_indices
            records = decode_many(split.reading_records, split.reading_offsets)
    except BadRecord as exc:
        index = exc.index if leaf_indices is None else leaf_indices[exc.index]
        return ContentReport(None, (Problem(Reason.MALFORMED, f"reading {index}: {exc.reason}"),))

    gateways = records.gateway_id
    if gateways.count(header.gateway_id) != len(gateways):
        wrong_gateway = [
            i if leaf_indices is None else leaf_indices[i]
            for i, g in enumerate(gateways)
            if g != header.gateway_id
        ]
        wrong = next(g for g in gateways if g != header.gateway_id)
        problems.append(
            Problem(
                Reason.RECORD_MISMATCH,
                f"readings at indices {list_indices(wrong_gateway)} name gateway "
                f"{wrong!r}, the header names {header.gateway_id!r}",
            )
        )
    wrong_events = [i for i, e in events if e.gateway_id != header.gateway_id]
    if wrong_events:
        problems.append(
            Problem(
                Reason.RECORD_MISMATCH,
                f"events at leaf indices {list_indices(wrong_events)} name another gateway "
                f"than the header's {header.gateway_id!r}",
            )
        )
    times = records.gateway_time_us + tuple(e.gateway_time_us for _, e in events)
    low, high = min(times), max(times)
    if (low, high) != (header.first_time_us, header.last_time_us):
        problems.append(
            Problem(
                Reason.RECORD_MISMATCH,
                f"time bounds: header says first_time_us={header.first_time_us} "
                f"last_time_us={header.last_time_us}, the readings span {low}..{high}",
            )
        )
    identities = set(zip(records.device_id, records.boot_id, records.device_seq))
    if len(identities) != len(records):
        problems.append(
            Problem(
                Reason.REPLAY,
                "the batch holds the same reading (device, boot, seq) twice: reading "
                + list_indices(_repeated_readings(records)),
            )
        )
    # Leaves record_i || signature_i hashed straight from the payload's two runs.
    root = native.merkle_root_packed(
        sealed.records, packed_offsets(sealed), suffixes=sealed.signatures
    )
    if root != header.root:
        problems.append(
            Problem(
                Reason.ROOT_MISMATCH,
                f"Merkle root over the {header.count} leaves is {root.hex()}, "
                f"the header says {header.root.hex()}",
            )
        )
    return ContentReport(records, tuple(problems), events, leaf_indices)


def native_reading_verifier(public_key: bytes, sealed: SealedBatch) -> list[int]:
    """Indices of bad reading signatures: one native batch call over packed buffers."""
    valid = native.verify_batch_packed(
        public_key, sealed.signatures, sealed.records, packed_offsets(sealed)
    )
    return [i for i, ok in enumerate(valid) if not ok]


def check_signatures(
    sealed: SealedBatch,
    public_key: bytes,
    reading_verifier: ReadingVerifier = native_reading_verifier,
) -> tuple[Problem, ...]:
    """The header signature and every reading signature under ``public_key``."""
    problems: list[Problem] = []
    if not native.verify(public_key, sealed.header_bytes, sealed.header_signature):
        problems.append(
            Problem(
                Reason.BAD_HEADER_SIGNATURE,
                f"header signature does not verify under key {public_key.hex()}",
            )
        )
    bad = list(reading_verifier(public_key, sealed))
    if bad:
        problems.append(
            Problem(
                Reason.BAD_READING_SIGNATURES,
                f"{len(bad)} of {sealed.count} reading signatures do not verify, "
                f"at indices {list_indices(bad)}",
            )
        )
    return tuple(problems)


def describe_alteration(accepted: SealedBatch, copy: SealedBatch) -> str:
    """What differs between an accepted batch and a copy under the same header, or "".

    Both have the same header bytes (the same header hash), so the same count: every
    difference is in the header signature or in the leaves ``record_i || signature_i``.
    """
    found: list[str] = []
    if copy.header_signature != accepted.header_signature:
        found.append("another header signature")
    leaves, accepted_leaves = copy.leaves(), accepted.leaves()
    if leaves != accepted_leaves and sorted(leaves) == sorted(accepted_leaves):
        moved = [i for i, (a, b) in enumerate(zip(accepted_leaves, leaves)) if a != b]
        found.append(f"the same readings in another order (indices {list_indices(moved)} moved)")
    else:
        n = accepted.count
        records = [i for i in range(n) if copy.record(i) != accepted.record(i)]
        signatures = [i for i in range(n) if copy.signature(i) != accepted.signature(i)]
        if records:
            found.append(f"readings at indices {list_indices(records)} differ")
        if signatures:
            found.append(f"reading signatures at indices {list_indices(signatures)} differ")
    return "; ".join(found)
