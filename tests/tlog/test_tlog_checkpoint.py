"""C2SP tlog-checkpoint and tlog-cosignature (Ed25519 cosignature/v1)."""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.tlog.checkpoint import Checkpoint, CheckpointError, open_checkpoint, parse_checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner, CosignatureVerifier, cosigned_message
from edgeseal.tlog.note import (
    NoteError,
    NoteSigner,
    NoteVerifier,
    SignatureError,
    add_signatures,
    parse_note,
    parse_signature_line,
    sign_note,
)

ROOT = hashlib.sha256(b"root").digest()


def _log() -> NoteSigner:
    return NoteSigner("example.org/edgeseal/log", Ed25519PrivateKey.generate())


def test_spec_example_text_parses_and_reencodes() -> None:
    # c2sp.org/tlog-checkpoint, the example at the top of the page.
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint(text)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.body() == text


def test_go_sumdb_tree_note_is_a_checkpoint() -> None:
    # golang.org/x/mod/sumdb/tlog note_test.go (TestFormatTree's golden text): the Go
    # checksum database's tree notes are checkpoints with origin "go.sum database tree".
    golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    cp = parse_checkpoint(golden)
    assert cp.size == 123456789012 and cp.body() == golden


def test_extensions_round_trip() -> None:
    cp = Checkpoint("example.org/log", 5, ROOT, ("ext one", "ext two"))
    assert parse_checkpoint(cp.body()) == cp


@pytest.mark.parametrize(
    "text",
    [
        "origin\n5\n",  # two lines
        "origin\n05\n" + base64.b64encode(ROOT).decode() + "\n",  # leading zero
        "origin\n-5\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n+5\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n5\n" + base64.b64encode(ROOT[:31]).decode() + "\n",  # short hash
        "\n5\n" + base64.b64encode(ROOT).decode() + "\n",  # empty origin
        "origin\n5\n" + base64.b64encode(ROOT).decode() + "\n\n",  # empty extension line
        "origin\n5\n" + base64.b64encode(ROOT).decode(),  # no final newline
        "origin\n9223372036854775808\n" + base64.b64encode(ROOT).decode() + "\n",  # 2^63
        "origin\n\u0665\n" + base64.b64encode(ROOT).decode() + "\n",  # Arabic-Indic digit
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


def test_open_checkpoint_requires_the_logs_signature() -> None:
    log, other = _log(), _log()
    cp = Checkpoint(log.name, 7, ROOT)
    note = sign_note(cp.body(), [log])
    got, parsed = open_checkpoint(note, NoteVerifier.from_vkey(log.verifier_key()))
    assert got == cp and parsed.text == cp.body()
    with pytest.raises(SignatureError, match="no signature by"):
        open_checkpoint(note, NoteVerifier(other.name, other.public_key))
    # A note signed by the log over another text: the log's line is there but fails.
    forged = sign_note(Checkpoint(log.name, 8, ROOT).body(), [log])
    spliced = cp.body().encode() + b"\n" + forged.split(b"\n\n")[1]
    with pytest.raises(SignatureError, match="does not verify"):
        open_checkpoint(spliced, NoteVerifier.from_vkey(log.verifier_key()))
    with pytest.raises(NoteError):
        open_checkpoint(b"garbage", NoteVerifier.from_vkey(log.verifier_key()))


def test_cosignature_message_is_the_spec_layout() -> None:
    # c2sp.org/tlog-cosignature, "Ed25519 signed message", the example message.
    cp = parse_checkpoint(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosigned_message(cp, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_spec_example_cosignature_line_carries_the_example_time() -> None:
    # c2sp.org/tlog-cosignature, the example at the top: key ID, then the big-endian
    # u64 timestamp 1679315147 (the time of the spec's signed-message example), then
    # 64 signature bytes. The spec gives no public key, so only the layout is checked.
    sig = parse_signature_line(
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWX"
        "EhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
    )
    assert len(sig.signature) == 8 + 64
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147


def test_cosignature_verifies_independently_with_pynacl() -> None:
    seed = hashlib.sha256(b"witness seed").digest()
    signer = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.from_private_bytes(seed))
    cp = Checkpoint("example.org/log", 42, ROOT)
    sig = signer.sign(cp, 1700000000)
    # The key ID uses type 0x04 (not the note type 0x01).
    expect_id = hashlib.sha256(b"witness.example/w1\n\x04" + signer.public_key).digest()[:4]
    assert sig.key_id == expect_id
    nacl.signing.VerifyKey(signer.public_key).verify(
        b"cosignature/v1\ntime 1700000000\n" + cp.body().encode(), sig.signature[8:]
    )
    verifier = CosignatureVerifier.from_vkey(signer.verifier_key())
    assert verifier.verify(cp, sig) == 1700000000
    assert base64.b64decode(signer.verifier_key().split("+", 2)[2])[0] == 0x04


def test_cosignature_refusals() -> None:
    signer = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.generate())
    verifier = CosignatureVerifier.from_vkey(signer.verifier_key())
    cp = Checkpoint("example.org/log", 42, ROOT)
    sig = signer.sign(cp, 1700000000)
    assert verifier.verify(Checkpoint("example.org/log", 43, ROOT), sig) is None
    moved = sig.signature[:7] + b"\x01" + sig.signature[8:]  # another timestamp
    assert verifier.verify(cp, type(sig)(sig.name, sig.key_id, moved)) is None
    assert verifier.verify(cp, signer.sign(cp, 0)) is None  # a zero time says nothing
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(signer.verifier_key())  # a cosigner key is not a note key
    with pytest.raises(NoteError):
        signer.sign(cp, 2**63)


def test_cosignature_lines_join_the_logs_note() -> None:
    log = _log()
    witness = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.generate())
    cp = Checkpoint(log.name, 3, ROOT)
    note = add_signatures(sign_note(cp.body(), [log]), [witness.sign(cp, 1700000001)])
    got, parsed = open_checkpoint(note, NoteVerifier.from_vkey(log.verifier_key()))
    cosig = [s for s in parsed.signatures if s.name == witness.name]
    assert CosignatureVerifier.from_vkey(witness.verifier_key()).verify(got, cosig[0]) == 1700000001
    assert len(parse_note(note).signatures) == 2
