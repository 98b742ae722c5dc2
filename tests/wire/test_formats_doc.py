"""The hex examples in docs/formats.md, regenerated with the project's codecs.

Each example in the document is a fenced ``text`` block right after a marker line
``<!-- example: NAME -->``. This test builds every example from fixed keys and fixed
values (Ed25519 signatures are deterministic, RFC 8032) and compares it with the
document, so the document cannot drift from the code. After a deliberate format change,
``python3 tests/wire/test_formats_doc.py`` prints the blocks to paste.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.agent.seal import seal_batch
from edgeseal.wire.batch import ZERO_HASH, BatchHeader, SealedBatch, header_hash, key_id_of
from edgeseal.wire.event import DeviceBoot, EventRecord, LossReason, ReadingsLost
from edgeseal.wire.record import ReadingRecord
from edgeseal.wire.resend import ResendRequest, open_resend_request
from edgeseal.wire.verdict import SignedVerdict, VerdictOutcome, open_verdict, sign_verdict

FORMATS_MD = Path(__file__).resolve().parents[2] / "docs" / "formats.md"

# Fixed example keys: never use them for anything but this example.
GATEWAY_KEY = Ed25519PrivateKey.from_private_bytes(bytes([0x11]) * 32)
VERIFIER_KEY = Ed25519PrivateKey.from_private_bytes(bytes([0x22]) * 32)
GATEWAY_ID = "gw-01"
T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in UNIX microseconds


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def example_records() -> list[ReadingRecord]:
    """Two readings of device 7, boot 0x12345678: 21.50 and -3.05 (unit 2, channel 1)."""
    return [
        ReadingRecord(
            gateway_id=GATEWAY_ID,
            device_id=7,
            boot_id=0x12345678,
            device_seq=1 + i,
            channel=1,
            unit=2,
            mantissa=mantissa,
            exponent=-2,
            time_kind=1,
            device_time_ms=T0_US // 1000 + 1000 * i,
            gateway_time_us=T0_US + 1000 * i + 250_000,
        )
        for i, mantissa in enumerate((2150, -305))
    ]


def example_batch() -> SealedBatch:
    records = [r.encode() for r in example_records()]
    return seal_batch(
        private_key=GATEWAY_KEY,
        gateway_id=GATEWAY_ID,
        seq=1,
        prev_hash=ZERO_HASH,
        records=records,
        signatures=[GATEWAY_KEY.sign(r) for r in records],
        first_time_us=T0_US + 250_000,
        last_time_us=T0_US + 251_000,
    )


def example_verdict() -> SignedVerdict:
    batch = example_batch()
    return SignedVerdict(VerdictOutcome.ACCEPTED, GATEWAY_ID, 1, batch.hash, T0_US + 2_000_000, "")


def example_resend() -> ResendRequest:
    return ResendRequest(GATEWAY_ID, 4, 5, T0_US + 60_000_000)


def examples() -> dict[str, str]:
    """Every example of docs/formats.md: name -> its text (hex, or JSON)."""
    record = example_records()[0].encode()
    batch = example_batch()
    verdict = example_verdict()
    resend = example_resend()
    return {
        "gateway-public-key": _raw(GATEWAY_KEY).hex(),
        "verifier-public-key": _raw(VERIFIER_KEY).hex(),
        "record": record.hex(),
        "record-signature": GATEWAY_KEY.sign(record).hex(),
        "batch-header": batch.header_bytes.hex(),
        "batch-header-hash": batch.hash.hex(),
        "batch-payload": batch.to_payload().hex(),
        "verdict-signed": verdict.signed_bytes().hex(),
        "verdict-signature": VERIFIER_KEY.sign(verdict.signed_bytes()).hex(),
        "resend-signed": resend.signed_bytes().hex(),
        "resend-payload": resend.to_payload(VERIFIER_KEY).decode("utf-8"),
        "event-boot": example_events()[0].encode().hex(),
        "event-loss": example_events()[1].encode().hex(),
    }


def example_events() -> list[EventRecord]:
    """The device of the record example booted, then lost seqs 2..4 (ring overflow)."""
    return [
        EventRecord("gw-01", 1_767_225_599_000_000, DeviceBoot(7, 0x12345678, 1, "1.2.3")),
        EventRecord(
            "gw-01",
            1_767_225_600_500_000,
            ReadingsLost(7, 0x12345678, 2, 4, LossReason.DEVICE_OVERFLOW),
        ),
    ]


def wrap(text: str) -> str:
    """Hex in lines of 64 digits (32 bytes); JSON as it is."""
    if re.fullmatch(r"[0-9a-f]+", text):
        return "\n".join(textwrap.wrap(text, 64))
    return text


def documented() -> dict[str, str]:
    """name -> the text of its block in formats.md (hex with the line breaks removed)."""
    blocks = re.findall(
        r"^<!-- example: ([a-z-]+) -->\n```text\n(.*?)\n```$",
        FORMATS_MD.read_text(encoding="utf-8"),
        flags=re.MULTILINE | re.DOTALL,
    )
    found: dict[str, str] = {}
    for name, body in blocks:
        assert name not in found, f"example {name} appears twice in formats.md"
        found[name] = body if body.startswith("{") else "".join(body.split())
    return found


def test_every_example_is_in_the_document() -> None:
    assert sorted(documented()) == sorted(examples())


@pytest.mark.parametrize("name", sorted(examples()))
def test_the_documented_example_is_what_the_codecs_produce(name: str) -> None:
    assert documented().get(name) == examples()[name], (
        f"docs/formats.md example {name!r} differs from the codecs; regenerate with "
        "python3 tests/wire/test_formats_doc.py"
    )


def test_the_examples_decode_as_documented() -> None:
    # The payload splits back into the documented header and records; the signed
    # messages open under the example verifier key.
    doc = documented()
    sealed = SealedBatch.from_payload(bytes.fromhex(doc["batch-payload"]))
    assert sealed.header_bytes.hex() == doc["batch-header"]
    assert sealed.record(0).hex() == doc["record"]
    assert sealed.signature(0).hex() == doc["record-signature"]
    assert header_hash(sealed.header_bytes).hex() == doc["batch-header-hash"]
    header = BatchHeader.decode(bytes.fromhex(doc["batch-header"]))
    assert header.key_id == key_id_of(bytes.fromhex(doc["gateway-public-key"]))
    assert (header.seq, header.count) == (1, 2)
    record = ReadingRecord.decode(bytes.fromhex(doc["record"]))
    assert (record.mantissa, record.exponent) == (2150, -2)
    verifier_key = bytes.fromhex(doc["verifier-public-key"])
    envelope = (
        f'{{"signed":"{doc["verdict-signed"]}","signature":"{doc["verdict-signature"]}"}}'
    ).encode()
    verdict = open_verdict(envelope, verifier_key)
    assert verdict.header_hash.hex() == doc["batch-header-hash"]
    assert verdict.outcome.acknowledges
    request = open_resend_request(doc["resend-payload"].encode(), verifier_key)
    assert (request.first_seq, request.last_seq) == (4, 5)
    assert sign_verdict(example_verdict(), VERIFIER_KEY).decode().count('"signature"') == 1


if __name__ == "__main__":
    for name, text in examples().items():
        print(f"<!-- example: {name} -->\n```text\n{wrap(text)}\n```\n")
