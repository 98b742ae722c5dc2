"""A small signed log for witness tests: leaves, checkpoints, proofs, all real."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.native.merkle import consistency_proof, merkle_root
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.note import NoteSigner, sign_note

ORIGIN = "example.org/edgeseal/log"


@dataclass
class SampleLog:
    """A log whose entries are ``<tag> <i>``: two tags give two different trees (a split view)."""

    signer: NoteSigner
    tag: str = "entry"
    leaves: list[bytes] = field(default_factory=list)

    @classmethod
    def new(cls, tag: str = "entry", key: Ed25519PrivateKey | None = None) -> SampleLog:
        return cls(NoteSigner(ORIGIN, key or Ed25519PrivateKey.generate()), tag)

    def grow(self, size: int) -> None:
        self.leaves += [f"{self.tag} {i}".encode() for i in range(len(self.leaves), size)]

    def checkpoint(self, size: int) -> Checkpoint:
        self.grow(size)
        return Checkpoint(ORIGIN, size, merkle_root(self.leaves[:size]))

    def note(self, size: int) -> bytes:
        return sign_note(self.checkpoint(size).body(), [self.signer])

    def proof(self, old: int, new: int) -> list[bytes]:
        self.grow(new)
        return consistency_proof(self.leaves[:new], old) if old else []

    def vkey(self) -> str:
        return self.signer.verifier_key()
