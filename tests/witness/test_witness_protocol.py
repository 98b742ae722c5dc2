"""The add-checkpoint request body (c2sp.org/tlog-witness), both directions."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseal.witness.protocol import (
    MalformedRequest,
    encode_add_checkpoint,
    parse_add_checkpoint,
)

H = [hashlib.sha256(bytes([i])).digest() for i in range(64)]


def test_round_trip_and_layout() -> None:
    body = encode_add_checkpoint(20852014, H[:2], b"note\n\n\xe2\x80\x94 x AAAAAAA=\n")
    assert body.startswith(b"old 20852014\n")
    assert body.count(b"\n\n") == 2  # after the proof, and inside the note
    got = parse_add_checkpoint(body)
    assert (got.old_size, list(got.proof)) == (20852014, H[:2])
    assert got.note == b"note\n\n\xe2\x80\x94 x AAAAAAA=\n"


def test_proof_length_limit() -> None:
    assert len(parse_add_checkpoint(encode_add_checkpoint(1, H[:63], b"n")).proof) == 63
    with pytest.raises(ValueError):
        encode_add_checkpoint(1, H[:64], b"n")
    raw = b"old 1\n" + b"".join(base64.b64encode(h) + b"\n" for h in H) + b"\nn"
    with pytest.raises(MalformedRequest, match="more than 63"):
        parse_add_checkpoint(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([b"", b"old 0\n", b"old 3\n", b"old 3\n\n"]))
def test_random_bodies_fail_only_with_malformed_request(data: bytes, prefix: bytes) -> None:
    try:
        parse_add_checkpoint(prefix + data)
    except MalformedRequest:
        pass
