"""EventRecord: the bytes of docs/formats.md "Event record", every kind, every refusal;
split_leaves agrees with a leaf-by-leaf split on any mix of readings and events."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from edgeseal.wire.batch import MAX_LEAF_RECORD_LEN, MIN_LEAF_RECORD_LEN
from edgeseal.wire.event import (
    EVENT_TAG,
    MAX_EVENT_LEN,
    MIN_EVENT_LEN,
    AgentStart,
    AgentStop,
    Backpressure,
    DeviceBoot,
    EventBody,
    EventRecord,
    LossReason,
    ReadingsLost,
    is_event,
    split_leaves,
)
from edgeseal.wire.record import FormatError, ReadingRecord

BODIES: list[EventBody] = [
    DeviceBoot(7, 0x12345678, 1, "1.2.3", bytes(range(32))),
    DeviceBoot(7, 9, 40, "", None, True),
    ReadingsLost(7, 9, 2, 4, LossReason.DEVICE_OVERFLOW),
    ReadingsLost(1, 2, 1, 2**32 - 1, LossReason.GATEWAY_POLICY),
    Backpressure(True, "outbox full"),
    Backpressure(False, ""),
    AgentStart("edgeseal 1.0"),
    AgentStop("signal"),
]


@pytest.mark.parametrize("body", BODIES)
def test_every_kind_round_trips(body: EventBody) -> None:
    event = EventRecord("gw-01", 1_767_225_600_000_000, body)
    data = event.encode()
    assert data.startswith(EVENT_TAG) and is_event(data)
    assert MIN_EVENT_LEN <= len(data) <= MAX_EVENT_LEN
    assert EventRecord.decode(data) == event


def test_the_longest_and_shortest_events_fit_the_payload_bounds() -> None:
    longest = EventRecord("g" * 64, 0, DeviceBoot(1, 1, 1, "f" * 255, bytes(32))).encode()
    shortest = EventRecord("g", 0, AgentStop("")).encode()
    assert (len(shortest), len(longest)) == (MIN_EVENT_LEN, MAX_EVENT_LEN)
    assert MIN_LEAF_RECORD_LEN == MIN_EVENT_LEN and MAX_LEAF_RECORD_LEN == MAX_EVENT_LEN


def test_a_long_detail_is_cut_on_a_character_boundary() -> None:
    data = EventRecord("gw", 0, Backpressure(True, "é" * 200)).encode()
    body = EventRecord.decode(data).body
    assert isinstance(body, Backpressure) and body.detail == "é" * 127


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:7] + bytes([9]) + d[8:], "unknown kind 9"),
        (lambda d: d[:-1] + bytes([7]), "unknown loss reason 7"),
        (lambda d: d + b"\x00", "trailing bytes"),
        (lambda d: d[:-3], "truncated"),
        (lambda d: b"ESE\x02" + d[4:], "unsupported version 2"),
    ],
)
def test_malformed_events_are_refused_naming_the_field(
    mutate: Callable[[bytes], bytes], message: str
) -> None:
    data = EventRecord("gw", 5, ReadingsLost(1, 2, 3, 4, LossReason.REBOOTED)).encode()
    with pytest.raises(FormatError, match=message):
        EventRecord.decode(mutate(data))


def test_encoding_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="first_seq"):
        EventRecord("gw", 0, ReadingsLost(1, 2, 0, 4, LossReason.REBOOTED)).encode()
    with pytest.raises(ValueError, match="last_seq"):
        EventRecord("gw", 0, ReadingsLost(1, 2, 5, 4, LossReason.REBOOTED)).encode()
    with pytest.raises(ValueError, match="device_public_key"):
        EventRecord("gw", 0, DeviceBoot(1, 2, 1, "", b"short")).encode()


def _naive(leaves: list[bytes]) -> tuple[list[int], list[tuple[int, EventRecord]]]:
    readings = [i for i, leaf in enumerate(leaves) if not is_event(leaf)]
    events = [(i, EventRecord.decode(leaf)) for i, leaf in enumerate(leaves) if is_event(leaf)]
    return readings, events


@pytest.mark.parametrize("seed", range(40))
def test_split_leaves_agrees_with_a_leaf_by_leaf_split(seed: int) -> None:
    rng = random.Random(seed)
    leaves: list[bytes] = []
    for i in range(rng.randrange(1, 60)):
        if rng.random() < 0.15:
            leaves.append(EventRecord("gw-1", i, rng.choice(BODIES)).encode())
        else:
            # mantissa 0x45534501 spells "ESE" 0x01 inside a reading: not an event
            mantissa = 0x45534501 if rng.random() < 0.2 else i
            leaves.append(ReadingRecord("gw-1", 1, 2, i, 0, 1, mantissa, 0, 0, i, i).encode())
    offsets = [0]
    for leaf in leaves:
        offsets.append(offsets[-1] + len(leaf))
    split = split_leaves(b"".join(leaves), offsets)
    readings, events = _naive(leaves)
    if not events:
        assert split is None
        return
    assert split is not None
    assert list(split.reading_indices) == readings
    assert list(split.events) == events
    rebuilt = [
        split.reading_records[a:b]
        for a, b in zip(split.reading_offsets, split.reading_offsets[1:], strict=False)
    ]
    assert rebuilt == [leaves[i] for i in readings]


def test_an_event_that_does_not_decode_names_its_leaf() -> None:
    good = ReadingRecord("gw", 1, 2, 3, 0, 1, 5, 0, 0, 1, 1).encode()
    bad = EventRecord("gw", 0, AgentStop("x")).encode()[:-1] + b"\xff"
    with pytest.raises(FormatError, match="leaf 1: event"):
        split_leaves(good + bad, [0, len(good), len(good) + len(bad)])
