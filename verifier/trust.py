"""Which public key must have signed a batch.

Enrollment gives each gateway one key (config ``[gateways]``). A gateway rotates
by announcing ``next_public_key`` in a batch signed by its current key; from the
next seq on, only the announced key is valid. The current key is part of the
chain state in the store, so every worker sees a rotation the moment it is
accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edgeseal.verifier.chain import ChainState
from edgeseal.wire.batch import BatchHeader, key_id_of


@dataclass(frozen=True)
class TrustStore:
    """Enrolled gateways: id -> the raw Ed25519 public key given at enrollment."""

    enrolled: Mapping[str, bytes]

    def __post_init__(self) -> None:
        object.__setattr__(self, "enrolled", MappingProxyType(dict(self.enrolled)))

    def enrolled_key(self, gateway_id: str) -> bytes | None:
        return self.enrolled.get(gateway_id)


@dataclass(frozen=True)
class KeyChoice:
    """The key to verify a batch with; ``key`` is None when it cannot be known (yet)."""

    key: bytes | None
    detail: str = ""
    # True when the batch is ahead of the chain and its key may still be replaced
    # by a rotation in a batch not yet seen: the choice is checked again on release.
    provisional: bool = False


def key_for_batch(
    state: ChainState, header: BatchHeader, accepted_key_at_seq: bytes | None
) -> KeyChoice:
    """The key that must have signed ``header``, given the chain head ``state``.

    ``accepted_key_at_seq``: the key of the batch already accepted at ``header.seq``
    (only consulted for seq <= head, where the batch is a re-send or a fork).
    """
    named = header.key_id.hex()
    if header.seq <= state.head_seq:
        expected = accepted_key_at_seq
        if expected is not None and key_id_of(expected) == header.key_id:
            return KeyChoice(expected)
        have = key_id_of(expected).hex() if expected is not None else "none"
        return KeyChoice(
            None,
            f"header key_id {named} is not the key that signed accepted seq {header.seq} ({have})",
        )
    current_id = key_id_of(state.public_key)
    if header.key_id == current_id:
        return KeyChoice(state.public_key, provisional=header.seq > state.next_seq)
    if header.seq == state.next_seq:
        return KeyChoice(
            None,
            f"header key_id {named} is not the gateway's current key {current_id.hex()} "
            "(no accepted rotation announced it)",
        )
    return KeyChoice(
        None,
        f"header key_id {named} is not the current key {current_id.hex()}; "
        f"a rotation in a batch before seq {header.seq} may announce it",
        provisional=True,
    )
