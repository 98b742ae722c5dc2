"""C2SP signed-note: text signed by one or more keys, with Ed25519 note signatures.

A note is its text (ending in a newline), a blank line, then one signature line per
signature: ``— <key name> base64(key ID || signature)``. Parsing is strict (UTF-8, no
control characters but newline, canonical base64, well-formed names) because the same
bytes travel between logs, witnesses and auditors written by others. References are to
https://c2sp.org/signed-note (sections "Format", "Signatures", "Verifier keys").

The key ID is ``SHA-256(name || 0x0A || type || public key)[:4]``; this module implements
type 0x01 (Ed25519 over the note text). Cosignatures (type 0x04) live in
:mod:`edgeseal.tlog.cosignature` and reuse the note syntax from here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edgeseal.native import ed25519

ED25519_TYPE = 0x01
KEY_ID_LEN = 4
SIG_PREFIX = "\u2014 "  # em dash, space
# The spec asks verifiers to accept at least 16 signatures; the Go implementation
# (golang.org/x/mod/sumdb/note) stops at 100. Beyond that a note is refused as malformed.
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or signature is malformed, or a required signature is missing or bad."""


class SignatureError(NoteError):
    """The note is well formed but not (validly) signed by the key that was asked for."""


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and 4-byte ID, and the bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """signed-note "Signatures": SHA-256(name || 0x0A || type || public key)[:4]."""
    check_key_name(name)
    material = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_LEN]


def check_key_name(name: str) -> None:
    """Key names are non-empty, with no Unicode space and no '+' (signed-note "Format")."""
    if not name:
        raise NoteError("a key name must not be empty")
    if "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name {name!r} contains a space or '+'")
    _check_chars(name, "key name")


def _check_chars(text: str, what: str) -> None:
    for c in text:
        if c < " " and c != "\n":
            raise NoteError(f"{what} contains the control character {ord(c):#04x}")


def check_text(text: str) -> None:
    """A note text: non-empty, ends in a newline, no control character but newline."""
    if not text.endswith("\n"):
        raise NoteError("a note text must end with a newline")
    _check_chars(text, "note text")


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 with padding (RFC 4648 section 4); nothing else is accepted."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64: {text[:60]!r}") from None
    # A non-canonical encoding (stray bits in the last character) decodes too: refuse it,
    # so one signature has exactly one spelling.
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64: {text[:60]!r}")
    return raw


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def encode_vkey(name: str, sig_type: int, public_key: bytes) -> str:
    """signed-note "Verifier keys": ``name+hex(key ID)+base64(type || public key)``."""
    kid = key_id(name, sig_type, public_key)
    blob = base64.b64encode(bytes([sig_type]) + public_key).decode("ascii")
    return f"{name}+{kid.hex()}+{blob}"


def decode_vkey(vkey: str, sig_type: int, key_len: int = 32) -> tuple[str, bytes, bytes]:
    """(name, key ID, public key) of a vkey of ``sig_type``; its key ID must be the computed one."""
    parts = vkey.strip().split("+", 2)  # base64 may contain "+" itself
    if len(parts) != 3:
        raise NoteError(f"verifier key {vkey!r} is not name+keyid+key")
    name, hex_id, blob = parts
    check_key_name(name)
    if len(hex_id) != 2 * KEY_ID_LEN or hex_id != hex_id.lower():
        raise NoteError(f"verifier key {vkey!r}: the key ID must be 8 lowercase hex digits")
    try:
        kid = bytes.fromhex(hex_id)
    except ValueError:
        raise NoteError(f"verifier key {vkey!r}: the key ID is not hex") from None
    raw = b64decode_strict(blob, f"verifier key {name}")
    if len(raw) != 1 + key_len or raw[0] != sig_type:
        found = f"type {raw[0]:#04x}, {len(raw) - 1} key bytes" if raw else "nothing"
        raise NoteError(
            f"verifier key {name} holds {found}; expected type {sig_type:#04x} "
            f"with a {key_len}-byte key"
        )
    public_key = raw[1:]
    if key_id(name, sig_type, public_key) != kid:
        raise NoteError(f"verifier key {name}: key ID {hex_id} does not match the key")
    return name, kid, public_key


class NoteSigner:
    """Signs note texts with an Ed25519 key under ``name`` (signature type 0x01)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = name
        self._private_key = private_key
        self.public_key = public_key_bytes(private_key)
        self.key_id = key_id(name, ED25519_TYPE, self.public_key)

    def verifier_key(self) -> str:
        return encode_vkey(self.name, ED25519_TYPE, self.public_key)

    def sign(self, text: str) -> NoteSignature:
        check_text(text)
        sig = self._private_key.sign(text.encode("utf-8"))
        return NoteSignature(self.name, self.key_id, sig)


class NoteVerifier:
    """Checks Ed25519 note signatures of one key (name, key ID, public key)."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise NoteError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, ED25519_TYPE, self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        name, _kid, public_key = decode_vkey(vkey, ED25519_TYPE)
        return cls(name, public_key)

    def verifier_key(self) -> str:
        return encode_vkey(self.name, ED25519_TYPE, self.public_key)

    def matches(self, sig: NoteSignature) -> bool:
        """The signature claims to be by this key (same name and key ID)."""
        return sig.name == self.name and sig.key_id == self.key_id

    def verify(self, text: str, sig: NoteSignature) -> bool:
        if not self.matches(sig) or len(sig.signature) != 64:
            return False
        return ed25519.verify(self.public_key, text.encode("utf-8"), sig.signature)


def sign_note(text: str, signers: Sequence[NoteSigner]) -> bytes:
    """The full note: text, blank line, one signature line per signer."""
    if not signers:
        raise NoteError("a note needs at least one signature")
    check_text(text)
    return add_signatures((text + "\n").encode("utf-8"), [s.sign(text) for s in signers])


def add_signatures(note: bytes, sigs: Sequence[NoteSignature]) -> bytes:
    """``note`` with ``sigs`` appended (each line checked); no signature is ever repeated.

    ``note`` may also be just a text followed by its blank line (no signature yet).
    """
    existing: set[bytes] = set()
    if not note.endswith(b"\n\n"):
        parsed = parse_note(note)
        existing = {s.line().encode("utf-8") for s in parsed.signatures}
    out = bytearray(note)
    for sig in sigs:
        check_key_name(sig.name)
        if len(sig.key_id) != KEY_ID_LEN:
            raise NoteError(f"signature by {sig.name}: the key ID must have 4 bytes")
        line = sig.line().encode("utf-8")
        if line not in existing:
            existing.add(line)
            out += line
    return bytes(out)


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— name base64`` line, without its newline."""
    if not line.startswith(SIG_PREFIX):
        raise NoteError(f"not a signature line: {line[:60]!r}")
    fields = line[len(SIG_PREFIX) :].split(" ")
    if len(fields) != 2:
        raise NoteError(f"a signature line is '— <name> <base64>': {line[:60]!r}")
    name, blob = fields
    check_key_name(name)
    raw = b64decode_strict(blob, f"signature by {name}")
    if len(raw) <= KEY_ID_LEN:
        raise NoteError(f"signature by {name} is too short to hold a key ID and a signature")
    return NoteSignature(name, raw[:KEY_ID_LEN], raw[KEY_ID_LEN:])


def parse_signature_lines(block: str) -> list[NoteSignature]:
    """Signature lines, each ending in a newline (a witness's response body, a note's tail)."""
    if not block.endswith("\n"):
        raise NoteError("signature lines must each end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return [parse_signature_line(line) for line in lines]


def parse_note(data: bytes) -> Note:
    """A signed note, checked against signed-note "Format"; signatures are not verified."""
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("a note must be UTF-8") from None
    _check_chars(whole, "note")
    split = whole.rfind("\n\n")
    if split < 0:
        raise NoteError("no blank line separates the note text from its signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block:
        raise NoteError("the note has no signature lines")
    return Note(text, tuple(parse_signature_lines(block)))


def verified_by(note: Note, verifier: NoteVerifier) -> bool:
    """True iff a signature of ``verifier``'s key verifies and none of its signatures fails.

    Signatures of other keys are ignored (signed-note "Signatures"); a failing signature
    that claims to be this key's makes the whole note unacceptable.
    """
    return signed_by_problem(note, verifier) is None


def signed_by_problem(note: Note, verifier: NoteVerifier) -> str | None:
    """Why ``note`` is not validly signed by ``verifier`` (None: it is)."""
    mine = [s for s in note.signatures if verifier.matches(s)]
    key = f"{verifier.name}+{verifier.key_id.hex()}"
    if not mine:
        return f"the note carries no signature by {key}"
    for sig in mine:
        if not verifier.verify(note.text, sig):
            return f"the signature by {key} does not verify"
    return None
