"""Checking the log's entries as an auditor: every gateway signature and every chain.

An entry is a batch header followed by its signature (formats.md, "Log entry"). Given
the gateways' enrolled keys, ``EntryAuditor`` checks each entry in log order as the
verifier checked the batch before accepting it: the header decodes, its gateway is
enrolled, the signature verifies under the key the gateway's chain expects (the
enrolled key, then each key a batch announced), seq is the previous seq + 1 and
prev_hash is the previous header's hash (seq 1: all zeros). It holds no store: the log
alone is the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edgeseal import native
from edgeseal.verifier.log_store import split_entry
from edgeseal.wire.batch import ZERO_HASH, BatchHeader, header_hash, key_id_of
from edgeseal.wire.record import FormatError


@dataclass
class _Chain:
    key: bytes  # the key the next batch must be signed by
    seq: int = 0
    head: bytes = ZERO_HASH


class EntryAuditor:
    """``check(index, entry)`` for ``audit_log``: a problem string, or None (the audit
    names the entry's index)."""

    def __init__(self, enrolled: Mapping[str, bytes]) -> None:
        self._chains = {gw: _Chain(key) for gw, key in enrolled.items()}
        self.entries = 0
        self.batches: dict[str, int] = {}

    def check(self, index: int, entry: bytes) -> str | None:
        self.entries += 1
        try:
            header_bytes, signature = split_entry(entry)
            header = BatchHeader.decode(header_bytes)
        except (ValueError, FormatError) as exc:
            return f"not a batch header and signature: {exc}"
        where = f"batch {header.gateway_id} seq {header.seq}"
        chain = self._chains.get(header.gateway_id)
        if chain is None:
            return f"{where}: gateway {header.gateway_id!r} is not enrolled"
        if header.key_id != key_id_of(chain.key) or not native.verify(
            chain.key, header_bytes, signature
        ):
            return (
                f"{where}: not signed by the key the gateway's chain expects "
                f"({chain.key.hex()}; header names key id {header.key_id.hex()})"
            )
        problem = None
        if header.seq != chain.seq + 1:
            problem = (
                f"{where}: the gateway's previous entry is seq {chain.seq}, expected seq "
                f"{chain.seq + 1} (a gap an operator declared lost shows here too)"
            )
        elif header.prev_hash != chain.head:
            problem = (
                f"{where}: prev_hash {header.prev_hash.hex()} is not the hash of the "
                f"gateway's previous entry {chain.head.hex()}"
            )
        # Follow the entry even when it does not link, so one break is reported once.
        chain.seq, chain.head = header.seq, header_hash(header_bytes)
        if header.next_public_key is not None:
            chain.key = header.next_public_key
        self.batches[header.gateway_id] = self.batches.get(header.gateway_id, 0) + 1
        return problem
