"""The auditor's entry check: gateway signatures and chains, from the log alone."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain

from edgeseal.verifier.log_audit import EntryAuditor


def _entry(sealed) -> bytes:
    return sealed.header_bytes + sealed.header_signature


def test_genuine_chains_with_a_rotation_pass() -> None:
    a, b = GatewayChain("gw-a"), GatewayChain("gw-b")
    enrolled = {"gw-a": a.enrolled_key, "gw-b": b.enrolled_key}
    batches = [
        a.next_batch(1),
        b.next_batch(1),
        a.next_batch(1, rotate_to=Ed25519PrivateKey.generate()),
    ]
    batches += [a.next_batch(1), b.next_batch(1)]
    auditor = EntryAuditor(enrolled)
    assert [auditor.check(i, _entry(s)) for i, s in enumerate(batches)] == [None] * 5
    assert auditor.batches == {"gw-a": 3, "gw-b": 2}


def test_each_broken_rule_is_named() -> None:
    gw = GatewayChain()
    b1, b2, b3 = gw.batches(3, n=1)
    stranger = GatewayChain("gw-x")

    def problems(*entries: bytes) -> list[str | None]:
        auditor = EntryAuditor({"gw-1": gw.enrolled_key})
        return [auditor.check(i, e) for i, e in enumerate(entries)]

    flipped = bytearray(_entry(b2))
    flipped[-1] ^= 1
    assert "not signed by the key" in str(problems(_entry(b1), bytes(flipped))[1])
    assert "expected seq 2" in str(problems(_entry(b1), _entry(b3))[1])
    assert "not enrolled" in str(problems(_entry(stranger.next_batch(1)))[0])
    assert "not a batch header" in str(problems(b"short")[0])
    # A second history of seq 2 (another batch under the same key): prev_hash breaks.
    other = GatewayChain(key=gw.key)
    other.next_batch(1)
    fork = GatewayChain(key=gw.key, seq=1, prev_hash=bytes(32))
    got = problems(_entry(b1), _entry(fork.next_batch(1)))
    assert got[0] is None and "prev_hash" in str(got[1])
