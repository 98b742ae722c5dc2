"""An unexplained gap is reported once, by the same batch, whatever order the batches
arrive in (issue 14).

A gateway's batches can reach the verifier out of order (the first ones published before
the verifier subscribed come back later, re-published by the agent): those ahead of the
chain are held, then accepted when the chain reaches them. The hole must be reported by
the batch that puts the chain ``gap_margin_batches`` past it, also when that batch is
accepted on release from held rather than on arrival. Fed straight to a BatchProcessor on
a real store, so each order is exact.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import batch_topic, reading

from edgeseal.agent.seal import raw_public_key, seal_batch
from edgeseal.verifier.accounts import AccountStatus, list_accounts
from edgeseal.verifier.limits import StoreLimits
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Verdict
from edgeseal.wire.batch import ZERO_HASH, SealedBatch
from edgeseal.wire.event import DeviceBoot, EventRecord

GW, DEV, BOOT = "gw-order", 9, 0x77
# Six batches of ten readings; 21..40 silently dropped, so the hole is seen at seq 3 and
# due (margin 2) at seq 5.
READINGS = [range(1, 11), range(11, 21), range(41, 51), range(51, 61), range(61, 71)]
READINGS.append(range(71, 81))
GAP = {"gateway_id": GW, "device_id": DEV, "boot_id": BOOT, "first_seq": 21, "last_seq": 40}


def chain(key: Ed25519PrivateKey) -> list[SealedBatch]:
    """The dishonest gateway's chain: well signed and linked, a device boot first."""
    batches: list[SealedBatch] = []
    prev = ZERO_HASH
    for seq, seqs in enumerate(READINGS, start=1):
        records = [reading(GW, s, device_id=DEV, boot_id=BOOT) for s in seqs]
        encoded = [r.encode() for r in records]
        times = [r.gateway_time_us for r in records]
        if seq == 1:
            boot = DeviceBoot(DEV, BOOT, 1, "fw 1")
            encoded.insert(0, EventRecord(GW, times[0] - 1, boot).encode())
            times.insert(0, times[0] - 1)
        sealed = seal_batch(
            private_key=key,
            gateway_id=GW,
            seq=seq,
            prev_hash=prev,
            records=encoded,
            signatures=[key.sign(e) for e in encoded],
            first_time_us=min(times),
            last_time_us=max(times),
        )
        batches.append(sealed)
        prev = sealed.hash
    return batches


@pytest.mark.parametrize(
    "order",
    [
        (1, 2, 3, 4, 5, 6),
        (4, 5, 6, 1, 2, 3),  # the later batches first: the first three re-published
        (6, 5, 4, 3, 2, 1),
        (2, 3, 4, 5, 6, 1),
        (1, 5, 6, 3, 4, 2),
    ],
)
def test_the_gap_is_reported_once_by_the_batch_past_the_margin_in_any_arrival_order(
    tmp_path: Path, order: Sequence[int], caplog: pytest.LogCaptureFixture
) -> None:
    key = Ed25519PrivateKey.generate()
    batches = chain(key)
    store = VerifierStore(tmp_path / "verifier.sqlite", synchronous="normal")
    try:
        proc = BatchProcessor(
            store,
            TrustStore({GW: raw_public_key(key)}),
            worker="w1",
            limits=StoreLimits(gap_margin_batches=2),
        )
        verdicts: list[Verdict] = []
        with caplog.at_level(logging.WARNING, logger="edgeseal.verifier.pipeline"):
            for seq in order:
                verdicts += proc.handle(batch_topic(GW), batches[seq - 1].to_payload())
    finally:
        store.close()
    accepted = sorted(v.seq for v in verdicts if v.outcome is Outcome.ACCEPTED)
    assert accepted == [1, 2, 3, 4, 5, 6], [(v.seq, v.outcome, v.detail) for v in verdicts]
    reporting = [(v.seq, list(v.unexplained_gaps)) for v in verdicts if v.unexplained_gaps]
    assert reporting == [(5, [GAP])]
    logged = [r.getMessage() for r in caplog.records if "unexplained gap" in r.getMessage()]
    assert len(logged) == 1 and f"device {DEV} boot {BOOT}: seqs 21..40" in logged[0], logged
    with sqlite3.connect(f"file:{tmp_path / 'verifier.sqlite'}?mode=ro", uri=True) as conn:
        (account,) = list_accounts(conn, gateway_id=GW)
    assert account.status is AccountStatus.INCOMPLETE
    assert [(g.first_seq, g.last_seq, g.reported) for g in account.gaps] == [(21, 40, True)]
    assert account.stored == 60
