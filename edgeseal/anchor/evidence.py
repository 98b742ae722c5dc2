"""Anchor evidence: what an anchor hands back, and the one entry point that checks it.

An anchor puts a checkpoint somewhere the log's operator cannot rewrite (an RFC 3161
Time-Stamping Authority, a smart contract) and returns evidence of it. The evidence is a
small JSON object (docs/formats.md, "Anchor evidence"), checked against the checkpoint it
claims to anchor by :func:`check_evidence`, offline from the evidence alone or online
against the outside party.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from edgeseal.tlog.checkpoint import Checkpoint

EVIDENCE_VERSION = 1
KINDS = ("rfc3161", "evm")


# web3 and its in-process chain are an extra (a gateway never needs them).
EVM_EXTRA_MISSING = "EVM anchors need web3: install edgeseal[evm]"


class AnchorError(RuntimeError):
    """Anchoring failed: the TSA or the chain could not be reached, or refused it."""


class EvidenceError(ValueError):
    """An evidence object that is not well formed (wrong kind, version or fields)."""


@dataclass(frozen=True)
class AnchorEvidence:
    """One anchor's evidence for one checkpoint: ``kind`` says how to read ``data``."""

    kind: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": EVIDENCE_VERSION, **self.data}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> AnchorEvidence:
        if not isinstance(obj, Mapping):
            raise EvidenceError("anchor evidence must be a JSON object")
        kind = obj.get("kind")
        if kind not in KINDS:
            raise EvidenceError(f"unknown anchor evidence kind {kind!r} (known: {KINDS})")
        if obj.get("version") != EVIDENCE_VERSION:
            raise EvidenceError(
                f"anchor evidence version {obj.get('version')!r} is not {EVIDENCE_VERSION}"
            )
        return cls(kind, {k: v for k, v in obj.items() if k not in ("kind", "version")})


@dataclass(frozen=True)
class AnchorTrust:
    """What a checker trusts beyond the evidence itself.

    ``tsa_roots``: PEM CA certificates; a TSA token must chain to one of them.
    ``evm_rpc_url`` or ``evm_web3`` (a ``web3.Web3``, e.g. an embedded chain's): where an
    online check re-reads an EVM anchor. ``evm_contracts``: if not empty, the only
    contract addresses (any case) whose records count, so a log cannot point at a contract
    of its own making.
    """

    tsa_roots: tuple[bytes, ...] = ()
    evm_rpc_url: str | None = None
    evm_web3: Any = field(default=None, compare=False)
    evm_contracts: tuple[str, ...] = ()


class Anchor(Protocol):
    """Something that anchors checkpoints; ``kind`` names its evidence."""

    kind: str

    def anchor(self, checkpoint: Checkpoint, note: bytes) -> AnchorEvidence: ...


def checkpoint_body(checkpoint: Checkpoint) -> bytes:
    """The bytes every anchor commits to: the checkpoint's note text (what the log signs)."""
    return checkpoint.body().encode("utf-8")


def note_problem(checkpoint: Checkpoint, note: bytes) -> str | None:
    """Why ``note`` is not a signed note of ``checkpoint`` (C2SP signed-note: the text,
    then an empty line, then the signature lines), or None."""
    if not note.startswith(checkpoint_body(checkpoint) + b"\n"):
        return "the signed note does not carry this checkpoint's text"
    return None


def check_evidence(
    evidence: AnchorEvidence,
    checkpoint: Checkpoint,
    note: bytes,
    *,
    online: bool = False,
    trust: AnchorTrust | None = None,
) -> str | None:
    """None when ``evidence`` anchors ``checkpoint``; otherwise the reason it does not.

    Offline checks use the evidence alone (plus ``trust.tsa_roots`` if given); online
    checks also ask the outside party: the chain is re-read (rfc3161: the token must chain
    to ``trust.tsa_roots``, which an online check requires).
    """
    problem = note_problem(checkpoint, note)
    if problem is not None:
        return problem
    match evidence.kind:
        case "rfc3161":
            from edgeseal.anchor.tsa import check_tsa_evidence

            return check_tsa_evidence(evidence, checkpoint, online=online, trust=trust)
        case "evm":
            try:
                from edgeseal.anchor.evm import check_evm_evidence
            except ImportError as exc:
                return f"{EVM_EXTRA_MISSING} ({exc})"
            return check_evm_evidence(evidence, checkpoint, online=online, trust=trust)
        case other:
            return f"unknown anchor evidence kind {other!r}"
