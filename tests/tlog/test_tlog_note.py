"""C2SP signed-note: published vectors from other implementations, then strict parsing."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.tlog.note import (
    MAX_SIGNATURES,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    add_signatures,
    parse_note,
    sign_note,
    signed_by_problem,
    verified_by,
)

# golang.org/x/mod/sumdb/note, example_test.go and note_test.go (TestOpen): the Go
# implementation's keys, text and signatures. The private key string is Go's
# "PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)".
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01o"
    "OTGwnWLox33WWd1RvMc+QQ=\n"
)
# c2sp.org/signed-note, "Verifier keys", "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6T"
    "fXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def _peter_signer() -> NoteSigner:
    blob = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert blob[0] == 0x01
    return NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(blob[1:]))


def test_go_signer_gives_the_same_vkey_and_note_bytes() -> None:
    signer = _peter_signer()
    assert signer.verifier_key() == PETER_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, [signer]) == (GO_TEXT + "\n" + PETER_SIG).encode()


def test_spec_example_note_verifies() -> None:
    verifier = NoteVerifier.from_vkey(SPEC_VKEY)
    note = parse_note(SPEC_NOTE.encode())
    assert note.text == "This is an example message.\n"
    assert verified_by(note, verifier)
    assert verifier.verifier_key() == SPEC_VKEY


def test_go_two_signatures_each_key_verifies_its_own() -> None:
    note = parse_note((GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode())
    peter, enoch = NoteVerifier.from_vkey(PETER_VKEY), NoteVerifier.from_vkey(ENOCH_VKEY)
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    assert verified_by(note, peter) and verified_by(note, enoch)


def test_a_bad_signature_from_the_known_key_rejects_the_note() -> None:
    # Go's TestOpen "Invalid signature": four characters inserted into the signature.
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    note = parse_note((GO_TEXT + "\n" + bad).encode())
    problem = signed_by_problem(note, NoteVerifier.from_vkey(PETER_VKEY))
    assert problem == "the signature by PeterNeumann+c74f20a3 does not verify"
    # ... even when a good one is there too: one failing known signature is enough.
    both = parse_note((GO_TEXT + "\n" + PETER_SIG + bad).encode())
    assert not verified_by(both, NoteVerifier.from_vkey(PETER_VKEY))


def test_unknown_keys_are_ignored_but_a_note_without_the_key_is_not_verified() -> None:
    note = parse_note((GO_TEXT + "\n" + ENOCH_SIG).encode())
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    assert (
        signed_by_problem(note, peter) == "the note carries no signature by PeterNeumann+c74f20a3"
    )
    # Same name, other key ID: not this key's signature, so ignored (not a failure).
    other_id = NoteSignature("PeterNeumann", b"\0\0\0\0", note.signatures[0].signature)
    assert not peter.verify(note.text, other_id)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        # Go's TestOpen "Invalid encoded message syntax" list, plus a few of our own.
        ("text-only", GO_TEXT),
        ("no-signature-lines", GO_TEXT + "\n"),
        ("signature-without-newline", GO_TEXT + "\n" + PETER_SIG[:-1]),
        ("control-char", "\x01" + GO_TEXT + "\n" + PETER_SIG),
        ("space-in-name", GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")),
        ("plus-in-name", GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad+Name")),
        ("trailing-garbage", GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n"),
        ("hyphen-not-em-dash", GO_TEXT + "\n" + PETER_SIG.replace("\u2014", "-")),
        ("base64-without-padding", GO_TEXT + "\n" + PETER_SIG.replace("=\n", "\n")),
        ("base64-url-alphabet", GO_TEXT + "\n" + PETER_SIG.replace("/", "_")),
        ("key-id-only", GO_TEXT + "\n\u2014 PeterNeumann x08gow==\n"),
        ("tab", GO_TEXT.replace(" ", "\t") + "\n" + PETER_SIG),
        ("carriage-return", GO_TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG),
    ],
)
def test_malformed_notes_are_refused(name: str, data: str) -> None:
    with pytest.raises(NoteError):
        parse_note(data.encode())


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        parse_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode())


def test_non_canonical_base64_is_refused() -> None:
    # The last character carries two spare bits; flipping them decodes to the same bytes.
    canonical = PETER_SIG.rstrip("=\n")
    assert canonical.endswith("M")
    sneaky = PETER_SIG.replace("AM=\n", "AN=\n")
    with pytest.raises(NoteError, match="canonical"):
        parse_note((GO_TEXT + "\n" + sneaky).encode())


def test_signature_count_is_bounded() -> None:
    limit = (GO_TEXT + "\n" + PETER_SIG * MAX_SIGNATURES).encode()
    assert len(parse_note(limit).signatures) == MAX_SIGNATURES
    with pytest.raises(NoteError, match="more than"):
        parse_note((GO_TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1)).encode())


def test_text_with_blank_lines_splits_at_the_last_one() -> None:
    signer = NoteSigner("example.org/log", Ed25519PrivateKey.generate())
    text = "first\n\n\u2014 looks like a signature line\n\n"
    note = parse_note(sign_note(text, [signer]))
    assert note.text == text
    assert verified_by(note, NoteVerifier.from_vkey(signer.verifier_key()))


def test_add_signatures_appends_each_line_once() -> None:
    a = NoteSigner("a.example/w", Ed25519PrivateKey.generate())
    b = NoteSigner("b.example/w", Ed25519PrivateKey.generate())
    note = sign_note("hello\n", [a])
    more = add_signatures(note, [b.sign("hello\n"), a.sign("hello\n"), b.sign("hello\n")])
    parsed = parse_note(more)
    assert [s.name for s in parsed.signatures] == ["a.example/w", "b.example/w"]
    assert verified_by(parsed, NoteVerifier(b.name, b.public_key))


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),  # key ID does not match the key
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),  # upper-case hex
        PETER_VKEY.replace("+ARpc", "+BBpc"),  # other signature type
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
    ],
)
def test_bad_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(vkey)


def test_signing_refuses_a_text_without_final_newline() -> None:
    signer = NoteSigner("example.org/log", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="newline"):
        sign_note("no newline", [signer])
    with pytest.raises(NoteError, match="space"):
        NoteSigner("bad name", Ed25519PrivateKey.generate())


def test_vkey_whose_base64_holds_a_plus() -> None:
    # The Go checksum database's published key (golang.org/x/mod, gosumcheck/main.go):
    # its base64 part contains "+", the separator of the vkey's fields.
    vkey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
    verifier = NoteVerifier.from_vkey(vkey)
    assert verifier.name == "sum.golang.org"
    assert verifier.key_id.hex() == "033de0ae"
    assert verifier.verifier_key() == vkey
