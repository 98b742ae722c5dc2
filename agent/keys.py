"""Which key signs now, and whether the next batch must announce a rotation.

Rotation (docs/agent.md): with ``gateway.next_key_path`` set, the next batch is
sealed with the old key and carries the new public key in ``next_public_key``;
the same outbox transaction records the new key as active, so after a crash the
agent knows which key signs. From then on readings and headers use the new key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edgeseal.agent.identity import GatewayKey
from edgeseal.agent.outbox import ChainHead

log = logging.getLogger(__name__)


class KeyMismatchError(RuntimeError):
    """The outbox's chain is signed by a key that is not configured."""


@dataclass(frozen=True)
class KeyPlan:
    active: GatewayKey
    announce: GatewayKey | None  # the key the next batch announces, if a rotation is pending

    @classmethod
    def resolve(cls, head: ChainHead, key: GatewayKey, next_key: GatewayKey | None) -> KeyPlan:
        stored = head.active_key_id
        if stored is None or stored == key.key_id:
            if next_key is not None and next_key.key_id == key.key_id:
                raise KeyMismatchError(
                    "gateway.next_key_path holds the same key as gateway.key_path"
                )
            return cls(active=key, announce=next_key)
        if next_key is not None and stored == next_key.key_id:
            log.warning(
                "key rotation to %s is complete; move %s to gateway.key_path and remove "
                "gateway.next_key_path",
                next_key.key_id.hex(), next_key.path,
            )  # fmt: skip
            return cls(active=next_key, announce=None)
        raise KeyMismatchError(
            f"the outbox chain (batch {head.seq}) is signed by key id {stored.hex()}, but "
            f"gateway.key_path holds {key.key_id.hex()}"
            + (f" and gateway.next_key_path holds {next_key.key_id.hex()}" if next_key else "")
            + "; configure the key this gateway used, or rotate with gateway.next_key_path"
        )
