"""``edgeseal verifier-accept-loss`` on real stores: an operator closes a gap that cannot
be filled, and everything else about the chain stays as strict as before.

The store of most tests: gateway gw-1 had batches 1 and 2 accepted, 4 and 5 held, and
seq 3 never sent (its batch exists only on the lost gateway disk).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from verifier_builders import (
    GatewayChain,
    batch_topic,
    config_toml,
    reading,
    seal,
    verifier_config,
)

from edgeseal.verifier.accept_loss import LossClosed, LossRefused, accept_loss, parse_seqs
from edgeseal.verifier.config import VerifierConfig
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.receipt import ReadingRef, build_receipt, check_receipt
from edgeseal.verifier.report import store_report
from edgeseal.verifier.store import SCHEMA_VERSION, StoreError, VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Reason
from edgeseal.wire.batch import SealedBatch


def send(store: VerifierStore, gw: GatewayChain, sealed: SealedBatch) -> list:
    proc = BatchProcessor(store, TrustStore({gw.gateway_id: gw.enrolled_key}), worker="w1")
    return proc.handle(batch_topic(gw.gateway_id), sealed.to_payload())


def gap_store(store: VerifierStore, gw: GatewayChain) -> list[SealedBatch]:
    """Batches 1..5 of gw: 1, 2 accepted, 3 never sent, 4, 5 held."""
    batches = gw.batches(5)
    for b in (batches[0], batches[1], batches[3], batches[4]):
        send(store, gw, b)
    assert [s for _g, s, _h in store.accepted_batches("gw-1")] == [1, 2]
    assert [g.held_seqs for g in store.gaps()] == [(4, 5)]
    return batches


def config_for(store: VerifierStore, gw: GatewayChain) -> VerifierConfig:
    return verifier_config(store.path, {gw.gateway_id: gw.enrolled_key})


def decide(store: VerifierStore, gw: GatewayChain, first: int, last: int) -> LossClosed:
    """An operator's decision that seqs first..last of gw-1 are lost (who and why: a, b)."""
    return accept_loss(
        store,
        config_for(store, gw),
        gateway_id="gw-1",
        first=first,
        last=last,
        decided_by="a",
        reason="b",
    )


def test_the_command_closes_a_real_gap_and_the_loss_shows_everywhere(
    store: VerifierStore,
) -> None:
    gw = GatewayChain()
    batches = gap_store(store, gw)
    config = config_for(store, gw)
    before = store_report(store, enrolled=config.gateways)
    assert before.needs_attention and "WAITING FOR SEQ 3" in before.text

    closed = accept_loss(
        store,
        config,
        gateway_id="gw-1",
        first=3,
        last=3,
        decided_by="Ada Operator",
        reason="gateway disk replaced, outbox lost (ticket 42)",
    )

    assert [(v.seq, v.outcome) for v in closed.verdicts] == [
        (4, Outcome.ACCEPTED),
        (5, Outcome.ACCEPTED),
    ]
    assert "operator decision" in closed.verdicts[0].detail
    assert batches[2].hash.hex() in closed.verdicts[0].detail  # the claimed prev_hash
    assert [s for _g, s, _h in store.accepted_batches("gw-1")] == [1, 2, 4, 5]
    assert store.gaps() == []
    state = store.chain_state("gw-1", gw.enrolled_key)
    assert (state.head_seq, state.head_hash) == (5, batches[4].hash)

    (loss,) = store.accepted_losses("gw-1")
    assert loss == closed.loss
    assert (loss.first_seq, loss.last_seq) == (3, 3)
    assert (loss.decided_by, loss.reason) == (
        "Ada Operator",
        "gateway disk replaced, outbox lost (ticket 42)",
    )
    assert loss.head_hash == batches[1].hash  # the chain's head before the decision
    assert loss.continued_by == batches[3].hash
    assert loss.claimed_prev_hash == batches[3].header.prev_hash == batches[2].hash

    after = store_report(store, enrolled=config.gateways)
    assert not after.needs_attention
    assert "LOST SEQS 3..3" in after.text and "'Ada Operator'" in after.text
    assert "ticket 42" in after.text and "UTC" in after.text

    # Readings of the batches after the gap have receipts that check.
    receipt = build_receipt(store, ReadingRef("gw-1", 7, 17))  # batch 5 has device seqs 16..19
    assert all(c.ok for c in check_receipt(receipt, expected_public_key=gw.public_key))

    # The chain goes on as usual after it.
    assert [v.outcome for v in send(store, gw, gw.next_batch())] == [Outcome.ACCEPTED]


def test_the_lost_batch_arriving_later_is_a_fork_that_names_the_decision(
    store: VerifierStore,
) -> None:
    gw = GatewayChain()
    batches = gap_store(store, gw)
    decide(store, gw, 3, 3)
    (v,) = send(store, gw, batches[2])
    assert (v.outcome, v.reason) == (Outcome.QUARANTINED, Reason.FORK)
    assert "declared lost" in v.detail and "loss #1" in v.detail
    assert "matches the prev_hash seq 4 claimed" in v.detail


def test_a_held_batch_that_fails_a_check_is_not_accepted_and_nothing_changes(
    store: VerifierStore,
) -> None:
    gw = GatewayChain()
    b1, b2 = gw.batches(2)
    b3 = gw.next_batch()
    # Seq 4 re-uses a reading batch 1 accepted: held (replays show only on acceptance),
    # and still refused when the operator declares seq 3 lost.
    replayed = seal(gw.key, "gw-1", 4, b3.hash, [*gw.next_records(3), reading("gw-1", 0)])
    for b in (b1, b2, replayed):
        send(store, gw, b)
    assert [g.held_seqs for g in store.gaps()] == [(4,)]
    with pytest.raises(LossRefused, match="seq 4 does not pass the checks.*replay"):
        decide(store, gw, 3, 3)
    assert store.accepted_losses() == []
    assert store.chain_state("gw-1", gw.enrolled_key).head_seq == 2
    assert store.quarantined() == []
    assert [g.held_seqs for g in store.gaps()] == [(4,)]


@pytest.mark.parametrize(
    ("gateway", "first", "last", "by", "reason", "message"),
    [
        ("gw-9", 3, 3, "a", "b", "'gw-9' is not enrolled"),
        ("gw-1", 2, 3, "a", "b", "overlap accepted batches.*accepted up to seq 2"),
        ("gw-1", 1, 1, "a", "b", "overlap accepted batches"),
        ("gw-1", 4, 4, "a", "b", "not contiguous with the chain head"),
        ("gw-1", 3, 4, "a", "b", "include seq 4, which is held"),
        ("gw-1", 3, 5, "a", "b", "include seq 4, which is held"),
        ("gw-1", 5, 6, "a", "b", "not contiguous with the chain head.*gap is seqs 3..3"),
        ("gw-1", 3, 3, " ", "b", "--by is empty"),
        ("gw-1", 3, 3, "a", "", "--reason is empty"),
    ],
)
def test_anything_but_the_gap_itself_is_refused(
    store: VerifierStore, gateway: str, first: int, last: int, by: str, reason: str, message: str
) -> None:
    gw = GatewayChain()
    gap_store(store, gw)
    with pytest.raises(LossRefused, match=message):
        accept_loss(
            store,
            config_for(store, gw),
            gateway_id=gateway,
            first=first,
            last=last,
            decided_by=by,
            reason=reason,
        )
    assert store.accepted_losses() == []
    assert store.chain_state("gw-1", gw.enrolled_key).head_seq == 2
    assert [g.held_seqs for g in store.gaps()] == [(4, 5)]


def test_a_range_that_stops_short_of_the_held_batch_is_refused(store: VerifierStore) -> None:
    gw = GatewayChain()
    batches = gw.batches(6)
    for b in (batches[0], batches[1], batches[4], batches[5]):  # 3 and 4 missing
        send(store, gw, b)
    with pytest.raises(LossRefused, match="seq 4 is missing too.*gap is seqs 3..4"):
        decide(store, gw, 3, 3)
    closed = decide(store, gw, 3, 4)
    assert [v.seq for v in closed.verdicts] == [5, 6]


def test_no_gap_is_refused(store: VerifierStore) -> None:
    gw = GatewayChain()
    for b in gw.batches(2):
        send(store, gw, b)
    with pytest.raises(LossRefused, match="no gap there.*accepted up to seq 2"):
        decide(store, gw, 3, 3)


def test_two_different_batches_held_for_the_same_seq_are_refused(store: VerifierStore) -> None:
    gw = GatewayChain()
    b1, b2, b3 = gw.batches(3)
    rival = seal(gw.key, "gw-1", 3, b2.hash, gw.next_records(2))
    b4 = gw.next_batch()
    for b in (b1, b3, b4, rival):  # seq 2 missing; 3 twice
        send(store, gw, b)
    with pytest.raises(LossRefused, match="2 different batches are held for seq 3"):
        decide(store, gw, 2, 2)


@pytest.mark.parametrize("text", ["x", "5-3", "0-1", "3-", "-3", "1-2-3"])
def test_bad_seq_ranges_are_refused(text: str) -> None:
    with pytest.raises(LossRefused, match="--seqs"):
        parse_seqs(text)


def test_seq_ranges_parse() -> None:
    assert parse_seqs("3-7") == (3, 7)
    assert parse_seqs("3..7") == (3, 7)
    assert parse_seqs("3") == (3, 3)


def test_a_schema_2_store_is_upgraded_to_3_and_keeps_its_contents(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    gw = GatewayChain()
    with VerifierStore(path, synchronous="normal") as store:
        gap_store(store, gw)
    # Make the file what a schema 2 verifier left: no accepted_losses table.
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE accepted_losses")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()

    with VerifierStore(path, synchronous="normal") as store:
        version = store._conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        assert store.accepted_losses() == []
        assert [s for _g, s, _h in store.accepted_batches("gw-1")] == [1, 2]
        assert [g.held_seqs for g in store.gaps()] == [(4, 5)]
        closed = decide(store, gw, 3, 3)
        assert [v.seq for v in closed.verdicts] == [4, 5]


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    VerifierStore(path).close()
    conn = sqlite3.connect(path)
    newer = str(SCHEMA_VERSION + 1)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (newer,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {newer}"):
        VerifierStore(path)


def _edgeseal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeseal", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_refuses_then_accepts_and_report_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    gw = GatewayChain()
    with VerifierStore(path, synchronous="normal") as store:
        gap_store(store, gw)
    config = tmp_path / "verifier.toml"
    config.write_text(config_toml(path, {"gw-1": gw.enrolled_key}, port=1883))
    common = ["--config", str(config), "--gateway", "gw-1", "--by", "Ada", "--reason", "disk lost"]

    report = _edgeseal("verifier", "--config", str(config), "--report")
    assert report.returncode == 1 and "WAITING FOR SEQ 3" in report.stdout

    refused = _edgeseal("verifier-accept-loss", *common, "--seqs", "3-4")
    assert refused.returncode == 1, refused
    assert "refused: seqs 3..4 include seq 4, which is held" in refused.stderr

    done = _edgeseal("verifier-accept-loss", *common, "--seqs", "3-3")
    assert done.returncode == 0, done.stderr
    assert "loss #1: seqs 3..3 accepted as lost by 'Ada'" in done.stdout
    assert "gateway gw-1 batch seq 4 accepted" in done.stdout
    assert "gateway gw-1 batch seq 5 accepted" in done.stdout
    assert "gap closed by an operator decision" in done.stderr  # the WARNING log line

    report = _edgeseal("verifier", "--config", str(config), "--report")
    assert report.returncode == 0, report.stdout
    assert "LOST SEQS 3..3, accepted by 'Ada'" in report.stdout and "'disk lost'" in report.stdout

    again = _edgeseal("verifier-accept-loss", *common, "--seqs", "3-3")
    assert again.returncode == 1 and "overlap accepted batches" in again.stderr


def test_a_gap_at_the_start_of_the_chain_can_be_closed(store: VerifierStore) -> None:
    gw = GatewayChain()
    batches = gw.batches(3)
    for b in batches[1:]:  # seq 1 never sent
        send(store, gw, b)
    assert store.chain_heads() == []
    closed = decide(store, gw, 1, 1)
    assert [(v.seq, v.outcome) for v in closed.verdicts] == [
        (2, Outcome.ACCEPTED),
        (3, Outcome.ACCEPTED),
    ]
    assert closed.loss.head_hash == bytes(32)  # no batch before the gap
    assert store.chain_heads() == [("gw-1", 3, batches[2].hash)]
