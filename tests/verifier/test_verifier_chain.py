"""Chain placement: extends, duplicate, fork, ahead (pure logic over a head snapshot)."""

from __future__ import annotations

from edgeseal.verifier.chain import ChainState, Placement, place
from edgeseal.wire.batch import ZERO_HASH

KEY = b"k" * 32
H1, H2, H3, OTHER = (bytes([i]) * 32 for i in (1, 2, 3, 9))


def test_first_batch_extends_the_empty_chain() -> None:
    state = ChainState.initial("gw", KEY)
    d = place(state, seq=1, prev_hash=ZERO_HASH, header_hash=H1, accepted_hash_at_seq=None)
    assert d.placement is Placement.EXTENDS


def test_next_seq_with_the_head_hash_extends() -> None:
    state = ChainState("gw", 1, H1, KEY)
    assert (
        place(state, seq=2, prev_hash=H1, header_hash=H2, accepted_hash_at_seq=None).placement
        is Placement.EXTENDS
    )


def test_next_seq_with_another_prev_hash_is_a_fork() -> None:
    state = ChainState("gw", 1, H1, KEY)
    d = place(state, seq=2, prev_hash=OTHER, header_hash=H2, accepted_hash_at_seq=None)
    assert d.placement is Placement.FORK
    assert OTHER.hex() in d.detail and H1.hex() in d.detail


def test_accepted_seq_same_hash_is_duplicate_other_hash_is_fork() -> None:
    state = ChainState("gw", 3, H3, KEY)
    assert (
        place(state, seq=2, prev_hash=H1, header_hash=H2, accepted_hash_at_seq=H2).placement
        is Placement.DUPLICATE
    )
    d = place(state, seq=2, prev_hash=H1, header_hash=OTHER, accepted_hash_at_seq=H2)
    assert d.placement is Placement.FORK
    assert "seq 2 was already accepted" in d.detail


def test_a_batch_beyond_the_next_seq_waits_for_the_gap() -> None:
    state = ChainState("gw", 1, H1, KEY)
    d = place(state, seq=4, prev_hash=H3, header_hash=OTHER, accepted_hash_at_seq=None)
    assert d.placement is Placement.AHEAD
    assert d.detail.startswith("waiting for seq 2")
