"""Published Ed25519 vectors through every verification path (single, batch of one,
batch mixed among valid signatures, packed), against the documented policy."""

from __future__ import annotations

from array import array

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ed25519_cases import (
    Case,
    libsodium_verdict,
    rfc8032_cases,
    speccheck_cases,
    table_in_doc,
    verdict_table,
    wycheproof_cases,
)

from edgeseal import native

# docs/verification-policy.md: cofactored equation, small-order R allowed,
# small-order A rejected, non-canonical A/R/S rejected.
SPECCHECK_POLICY = [False, False, True, True, True, True, False, False, False, False, False, False]


def _filler(count: int) -> list[tuple[bytes, bytes, bytes]]:
    """Valid (key, message, signature) triples to mix a case into."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return [(pk, m, key.sign(m)) for m in (f"filler {i}".encode() for i in range(count))]


def _all_paths(case: Case) -> dict[str, bool]:
    """The verdict on the case from each entry point; fillers must stay valid."""
    verdicts = {
        "single": native.verify(case.public_key, case.message, case.signature),
        "batch-of-one": native.verify_batch([case.public_key], [case.message], [case.signature])[0],
    }
    try:
        prepared = native.PreparedKey.of(case.public_key)
    except native.NativeValueError:  # unusable key: nothing verifies under it
        verdicts["prepared-key"] = False
    else:
        verdicts["prepared-key"] = prepared.verify(case.message, case.signature)
    filler = _filler(7)
    pos = 3
    items = filler[:pos] + [(case.public_key, case.message, case.signature)] + filler[pos:]
    keys, msgs, sigs = (list(col) for col in zip(*items))
    mixed = native.verify_batch(keys, msgs, sigs)
    assert mixed[:pos] + mixed[pos + 1 :] == [True] * 7, f"{case.name} disturbed valid neighbours"
    verdicts["batch-mixed"] = mixed[pos]
    if len(case.public_key) == 32 and len(case.signature) == 64:
        offsets = array("Q", [0])
        for m in msgs:
            offsets.append(offsets[-1] + len(m))
        packed = native.verify_batch_packed(b"".join(keys), b"".join(sigs), b"".join(msgs), offsets)
        assert packed == mixed
        verdicts["packed-mixed"] = packed[pos]
    return verdicts


@pytest.mark.parametrize("case", rfc8032_cases(), ids=lambda c: c.name)
def test_rfc8032_vectors_verify_on_every_path(case: Case) -> None:
    assert set(_all_paths(case).values()) == {True}


@pytest.mark.parametrize("case", rfc8032_cases(), ids=lambda c: c.name)
def test_rfc8032_vectors_with_modified_message_fail(case: Case) -> None:
    changed = Case(
        case.name, case.public_key, case.message + b"\x00", case.signature, "invalid", ""
    )
    assert set(_all_paths(changed).values()) == {False}


def test_wycheproof_every_case_on_every_path() -> None:
    cases = wycheproof_cases()
    assert len(cases) == 151
    for case in cases:
        expected = case.source_verdict == "valid"
        verdicts = _all_paths(case)
        assert set(verdicts.values()) == {expected}, f"{case.name} ({case.note}): {verdicts}"
        # Wycheproof's cases are ordinary signatures: libsodium must agree.
        assert libsodium_verdict(case) == expected, case.name


def test_speccheck_every_case_on_every_path() -> None:
    cases = speccheck_cases()
    assert len(cases) == 12
    for case, expected in zip(cases, SPECCHECK_POLICY):
        verdicts = _all_paths(case)
        assert set(verdicts.values()) == {expected}, f"{case.name} ({case.note}): {verdicts}"


def test_policy_document_table_matches_the_code() -> None:
    assert table_in_doc() == verdict_table(), (
        "docs/verification-policy.md is out of date: run python3 tests/native/ed25519_cases.py --write"
    )
