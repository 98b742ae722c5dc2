"""Completeness accounts on a real store: signed events sealed among readings, holes that
become unexplained gaps past the margin, bad events refused, old batches still read."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain, batch_topic, reading

from edgeseal.agent.seal import raw_public_key, seal_batch
from edgeseal.verifier.accounts import AccountStatus, account_for, list_accounts
from edgeseal.verifier.limits import StoreLimits
from edgeseal.verifier.metrics import VerifierMetrics
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.receipt import ReadingRef, build_receipt, check_receipt
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Reason, Verdict
from edgeseal.wire.batch import ZERO_HASH, SealedBatch
from edgeseal.wire.event import (
    Backpressure,
    DeviceBoot,
    EventBody,
    EventRecord,
    LossReason,
    ReadingsLost,
)
from edgeseal.wire.record import ReadingRecord

GW = "gw-acc"
DEV, BOOT = 7, 0x1234


@dataclass
class EventGateway:
    """A gateway sealing readings and events into one chain, as the agent does."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    seq: int = 0
    prev_hash: bytes = ZERO_HASH
    time_us: int = 1_700_000_000_000_000

    def batch(self, leaves: Sequence[ReadingRecord | EventBody]) -> SealedBatch:
        records: list[bytes] = []
        times: list[int] = []
        for leaf in leaves:
            self.time_us += 1000
            if isinstance(leaf, ReadingRecord):
                records.append(leaf.encode())
                times.append(leaf.gateway_time_us)
            else:
                records.append(EventRecord(GW, self.time_us, leaf).encode())
                times.append(self.time_us)
        self.seq += 1
        sealed = seal_batch(
            private_key=self.key,
            gateway_id=GW,
            seq=self.seq,
            prev_hash=self.prev_hash,
            records=records,
            signatures=[self.key.sign(r) for r in records],
            first_time_us=min(times),
            last_time_us=max(times),
        )
        self.prev_hash = sealed.hash
        return sealed


def readings(seqs: Sequence[int], boot: int = BOOT) -> list[ReadingRecord]:
    return [reading(GW, s, device_id=DEV, boot_id=boot) for s in seqs]


def processor(store: VerifierStore, gw: EventGateway, margin: int = 2) -> BatchProcessor:
    trust = TrustStore({GW: raw_public_key(gw.key)})
    return BatchProcessor(store, trust, worker="w1", limits=StoreLimits(gap_margin_batches=margin))


def send(proc: BatchProcessor, sealed: SealedBatch) -> Verdict:
    return proc.handle(batch_topic(GW), sealed.to_payload())[0]


def conn_of(store: VerifierStore) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)


def test_readings_and_loss_notices_make_a_complete_account(store: VerifierStore) -> None:
    gw = EventGateway()
    proc = processor(store, gw)
    boot = DeviceBoot(DEV, BOOT, 1, "fw 1.2", b"\x05" * 32)
    first = send(proc, gw.batch([boot, *readings(range(1, 5)), Backpressure(True, "full")]))
    assert first.outcome is Outcome.ACCEPTED, first.detail
    assert (first.count, first.readings) == (6, 4)  # leaves: a boot and a back-pressure event
    lost = ReadingsLost(DEV, BOOT, 5, 6, LossReason.DEVICE_OVERFLOW)
    second = send(proc, gw.batch([lost, *readings(range(7, 10))]))
    assert second.outcome is Outcome.ACCEPTED, second.detail
    with conn_of(store) as conn:
        account = account_for(conn, GW, DEV, BOOT)
    assert account is not None
    assert (account.stored, account.lost, account.last_seq) == (7, 2, 9)
    assert account.status is AccountStatus.COMPLETE and account.announced
    assert account.firmware_version == "fw 1.2" and account.announced_first_seq == 1
    assert [(r.reason, r.readings) for r in account.lost_by_reason] == [("device_overflow", 2)]
    # the readings keep their own leaf index: a receipt of one after an event checks out
    receipt = build_receipt(store, ReadingRef(GW, DEV, 2, BOOT))
    assert receipt["inclusion_proof"]["leaf_index"] == 2
    assert receipt["account"]["complete"] is True and receipt["account"]["lost"] == 2
    checks = check_receipt(receipt, expected_public_key=raw_public_key(gw.key))
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_a_hole_becomes_an_unexplained_gap_once_the_chain_is_past_it(
    store: VerifierStore,
) -> None:
    gw = EventGateway()
    proc = processor(store, gw, margin=2)
    send(proc, gw.batch([DeviceBoot(DEV, BOOT, 1, "fw"), *readings([1, 2])]))
    # the gateway silently dropped 3..5 before sealing and still signed the rest
    held = send(proc, gw.batch(readings([6, 7])))
    assert held.outcome is Outcome.ACCEPTED and not held.unexplained_gaps
    with conn_of(store) as conn:
        account = account_for(conn, GW, DEV, BOOT)
    assert account is not None and account.status is AccountStatus.OPEN
    assert not send(proc, gw.batch(readings([8]))).unexplained_gaps
    due = send(proc, gw.batch(readings([9])))
    assert due.unexplained_gaps == (
        {"gateway_id": GW, "device_id": DEV, "boot_id": BOOT, "first_seq": 3, "last_seq": 5},
    )
    assert b'"unexplained_gaps"' in due.to_json()
    metrics = VerifierMetrics()
    metrics.observe([due], 0.001)
    assert metrics.unexplained_gaps._value.get() == 1
    assert metrics.unexplained_readings._value.get() == 3
    assert not send(proc, gw.batch(readings([10]))).unexplained_gaps  # reported once
    with conn_of(store) as conn:
        (account,) = list_accounts(conn, gateway_id=GW)
    assert account.status is AccountStatus.INCOMPLETE
    assert [(g.first_seq, g.last_seq, g.reported) for g in account.gaps] == [(3, 5, True)]
    out = subprocess.run(
        [sys.executable, "-m", "edgeseal", "completeness", "--store", str(store.path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["complete"] is False
    assert doc["accounts"][0]["unexplained_readings"] == 3
    text = subprocess.run(
        [sys.executable, "-m", "edgeseal", "completeness", "--store", str(store.path)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert f"device {DEV} boot {BOOT}" in text and "UNEXPLAINED GAP: seqs 3..5" in text


def test_a_loss_notice_over_stored_readings_is_refused(store: VerifierStore) -> None:
    gw = EventGateway()
    proc = processor(store, gw)
    send(proc, gw.batch([DeviceBoot(DEV, BOOT, 1, "fw"), *readings([1, 2, 3])]))
    lie = ReadingsLost(DEV, BOOT, 3, 4, LossReason.REBOOTED)
    verdict = send(proc, gw.batch([lie, *readings([5])]))
    assert verdict.outcome is Outcome.QUARANTINED and verdict.reason is Reason.BAD_EVENT
    assert "seqs 3..4" in verdict.detail and "overlaps readings" in verdict.detail
    assert ": 3" in verdict.detail
    # within one batch too: the notice names a reading sealed next to it
    head = store.accepted_at(GW, 1)
    assert head is not None
    gw.seq, gw.prev_hash = 1, head[0]  # seal seq 2 again, differently
    again = send(
        proc, gw.batch([ReadingsLost(DEV, BOOT, 4, 6, LossReason.LINK_DOWN), *readings([5])])
    )
    assert again.reason is Reason.BAD_EVENT and ": 5" in again.detail


def test_a_loss_notice_for_an_unknown_boot_is_refused(store: VerifierStore) -> None:
    gw = EventGateway()
    proc = processor(store, gw)
    verdict = send(proc, gw.batch([ReadingsLost(DEV, 99, 1, 4, LossReason.REBOOTED)]))
    assert verdict.reason is Reason.BAD_EVENT
    assert "unknown boot" in verdict.detail and "boot 99" in verdict.detail
    # an inferred boot event (the next boot's HELLO named it) makes the same notice fine
    gw.seq, gw.prev_hash = 0, ZERO_HASH
    inferred = DeviceBoot(DEV, 99, 1, "", None, True)
    ok = send(proc, gw.batch([inferred, ReadingsLost(DEV, 99, 1, 4, LossReason.REBOOTED)]))
    assert ok.outcome is Outcome.ACCEPTED, ok.detail
    with conn_of(store) as conn:
        account = account_for(conn, GW, DEV, 99)
    assert account is not None and account.status is AccountStatus.COMPLETE
    assert (account.stored, account.lost) == (0, 4)


def test_an_old_format_batch_of_readings_only_is_read_and_accounted(
    store: VerifierStore,
) -> None:
    old = GatewayChain(gateway_id=GW, device_id=DEV)
    proc = BatchProcessor(store, TrustStore({GW: old.enrolled_key}), worker="w1")
    payloads = [old.next_batch(3).to_payload() for _ in range(2)]
    # the exact bytes of version 1 batches before events existed: ESR records only
    assert all(b"ESE\x01" not in p for p in payloads)
    for p in payloads:
        assert proc.handle(batch_topic(GW), p)[0].outcome is Outcome.ACCEPTED
    with conn_of(store) as conn:
        (account,) = list_accounts(conn, gateway_id=GW)
    # the builder numbers readings from 0: 0..5 stored, no boot announced
    assert (account.stored, account.last_seq, account.announced) == (6, 5, False)
    assert account.status is AccountStatus.COMPLETE
