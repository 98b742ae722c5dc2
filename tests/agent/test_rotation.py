"""Key rotation (agent/rotation.py): start-up decisions, the running state, and a rotation
through the real pipeline and outbox (no broker: the batches are read back from the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edgeseal.agent.config import parse_config
from edgeseal.agent.identity import GatewayKey
from edgeseal.agent.metrics import AgentMetrics
from edgeseal.agent.outbox import ChainHead, Outbox
from edgeseal.agent.pipeline import Pipeline
from edgeseal.agent.publisher import BatchPublisher
from edgeseal.agent.rotation import KeyMismatchError, KeyPlan, KeyRotation
from edgeseal.firmware_bridge.messages import Reading
from edgeseal.wire.batch import SealedBatch

GW = "gw-rot"
OLD, NEW, OTHER = GatewayKey.generate(), GatewayKey.generate(), GatewayKey.generate()


def head(active: GatewayKey | None) -> ChainHead:
    return ChainHead(seq=7, hash=bytes(32), active_key_id=active.key_id if active else None)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    ob = Outbox(tmp_path / "outbox.sqlite", gateway_id=GW, max_bytes=1 << 20)
    try:
        yield ob
    finally:
        ob.close()


# --- start-up: KeyPlan.resolve ------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "next_key", "active", "announce"),
    [
        (None, None, OLD, None),  # a new outbox, no rotation
        (None, NEW, OLD, NEW),  # a new outbox with a rotation configured right away
        (OLD, None, OLD, None),  # the chain's key, no rotation
        (OLD, NEW, OLD, NEW),  # rotation configured, not announced yet (also after a crash)
        (NEW, NEW, NEW, None),  # announced and committed: the new key signs
    ],
)
def test_resolve(
    stored: GatewayKey | None,
    next_key: GatewayKey | None,
    active: GatewayKey,
    announce: GatewayKey | None,
) -> None:
    assert KeyPlan.resolve(head(stored), OLD, next_key) == KeyPlan(active, announce)


def test_resolve_tells_the_operator_to_finish_a_completed_rotation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgeseal.agent.rotation"):
        KeyPlan.resolve(head(NEW), OLD, NEW)
    assert f"key rotation to {NEW.key_id.hex()} is complete" in caplog.text


@pytest.mark.parametrize(
    ("stored", "next_key", "expected"),
    [
        (OLD, OLD, "gateway.next_key_path holds the same key as gateway.key_path"),
        (OTHER, None, f"signed by key id {OTHER.key_id.hex()}, but gateway.key_path holds"),
        (OTHER, NEW, f"and gateway.next_key_path holds {NEW.key_id.hex()}"),
    ],
)
def test_resolve_refuses_keys_that_do_not_belong_to_the_chain(
    stored: GatewayKey, next_key: GatewayKey, expected: str
) -> None:
    with pytest.raises(KeyMismatchError, match=expected):
        KeyPlan.resolve(head(stored), OLD, next_key)


# --- running: KeyRotation -----------------------------------------------------------------


def test_a_new_outbox_remembers_the_first_key_and_an_old_one_keeps_its_own(
    outbox: Outbox,
) -> None:
    KeyRotation(GW, KeyPlan(OLD, None), outbox)
    assert outbox.chain_head().active_key_id == OLD.key_id
    KeyRotation(GW, KeyPlan(OTHER, None), outbox)  # resolve() refuses this; no overwrite here
    assert outbox.chain_head().active_key_id == OLD.key_id


def test_only_the_batch_taking_every_pending_reading_announces(outbox: Outbox) -> None:
    rotation = KeyRotation(GW, KeyPlan(OLD, NEW), outbox)
    assert rotation.signer.key is OLD and rotation.pending is NEW
    assert rotation.announcement(takes_all_pending=False) is None
    assert rotation.announcement(takes_all_pending=True) is NEW
    rotation.announced(3)
    assert rotation.signer.key is NEW and rotation.signer.gateway_id == GW
    assert rotation.pending is None
    assert rotation.announcement(takes_all_pending=True) is None
    with pytest.raises(RuntimeError, match="no rotation is pending"):
        rotation.announced(4)


# --- through the pipeline -----------------------------------------------------------------


def readings(first: int, n: int) -> list[Reading]:
    return [
        Reading(
            device_id=4,
            boot_id=2,
            seq=s,
            channel=0,
            unit=1,
            mantissa=s,
            exponent=0,
            time_kind=0,
            device_time_ms=s,
        )
        for s in range(first, first + n)
    ]


class Acks:
    def ack(self, device_id: int, boot_id: int, seq: int) -> None:
        pass


def test_a_rotation_through_the_pipeline(tmp_path: Path, outbox: Outbox) -> None:
    config = parse_config(
        {
            "gateway": {"id": GW, "key_path": str(tmp_path / "unused.key")},
            "batch": {"max_readings": 20},
            "outbox": {"path": str(outbox.path)},
            "mqtt": {"port": 1},  # never connected: batches are read from the outbox
        },
        base=tmp_path,
        env={},
    )
    metrics = AgentMetrics()
    publisher = BatchPublisher(config.mqtt, GW)
    pipeline = Pipeline(
        config=config, outbox=outbox, keys=KeyPlan(OLD, NEW), publisher=publisher, metrics=metrics
    )
    try:
        pipeline.handle_readings(readings(1, 30), Acks())  # signed with the old key
        assert pipeline.seal_due(force=True) == 2  # 20 (not all pending), then 10: announces
        assert outbox.chain_head().active_key_id == NEW.key_id  # in the announcing transaction
        pipeline.handle_readings(readings(31, 5), Acks())  # signed with the new key
        assert pipeline.seal_due(force=True) == 1
    finally:
        publisher.stop(timeout=0.1)
        metrics.close()
    batches = [SealedBatch.from_payload(b.payload) for b in outbox.unpublished(0, 10)]
    signed_by = [OLD, OLD, NEW]
    assert [b.header.key_id for b in batches] == [k.key_id for k in signed_by]
    assert [b.header.next_public_key for b in batches] == [None, NEW.public_key, None]
    for batch, key in zip(batches, signed_by):
        public = Ed25519PublicKey.from_public_bytes(key.public_key)
        public.verify(batch.header_signature, batch.header_bytes)
        for i in range(batch.count):
            public.verify(batch.signature(i), batch.record(i))
    # A restart now finds the rotation complete, and the old key alone is refused.
    after = outbox.chain_head()
    assert KeyPlan.resolve(after, OLD, NEW) == KeyPlan(NEW, None)
    assert KeyPlan.resolve(after, NEW, None) == KeyPlan(NEW, None)
    with pytest.raises(KeyMismatchError):
        KeyPlan.resolve(after, OLD, None)
