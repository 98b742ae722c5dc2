"""Key rotation: which key signs, which key the next batch announces, and when to switch.

Every decision about the gateway's signing key is made here (docs/agent.md, "Rotation"):

* At start-up, ``KeyPlan.resolve`` compares the key that signs the outbox's chain (the
  outbox remembers its id) with ``gateway.key_path`` and ``gateway.next_key_path``: no
  rotation, one pending, one already done, or a key that does not belong to this chain.
* While the agent runs, ``KeyRotation`` holds the signer in use and the key still to be
  announced. The pipeline asks ``announcement`` which key, if any, the batch it is sealing
  announces, and calls ``announced`` once that batch is committed; from then on readings
  and headers are signed with the new key.

What this module does not do is store: the outbox writes the announcing batch and the new
active key id in one transaction (``Outbox.commit_batch(..., next_key_id=...)``), so after
a crash the chain and the stored key id agree and ``KeyPlan.resolve`` finds the rotation
either not started or complete, never half done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edgeseal.agent.identity import GatewayKey
from edgeseal.agent.outbox import ChainHead, Outbox
from edgeseal.agent.signer import RecordSigner

log = logging.getLogger(__name__)


class KeyMismatchError(RuntimeError):
    """The outbox's chain is signed by a key that is not configured."""


@dataclass(frozen=True)
class KeyPlan:
    """The outcome of start-up: the key that signs now and the one to announce, if any."""

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
                next_key.key_id.hex(),
                next_key.path,
            )
            return cls(active=next_key, announce=None)
        raise KeyMismatchError(
            f"the outbox chain (batch {head.seq}) is signed by key id {stored.hex()}, but "
            f"gateway.key_path holds {key.key_id.hex()}"
            + (f" and gateway.next_key_path holds {next_key.key_id.hex()}" if next_key else "")
            + "; configure the key this gateway used, or rotate with gateway.next_key_path"
        )


class KeyRotation:
    """The signing key of one running pipeline and the rotation it has yet to announce.

    Used from the pipeline's thread only, like the outbox it writes to.
    """

    def __init__(self, gateway_id: str, plan: KeyPlan, outbox: Outbox) -> None:
        self._gateway_id = gateway_id
        self._signer = RecordSigner(gateway_id, plan.active)
        self._next = plan.announce
        if outbox.chain_head().active_key_id is None:
            # A new outbox: remember which key starts the chain, so that a restart with
            # another key is refused (KeyPlan.resolve) instead of forking the trust.
            outbox.set_active_key_id(plan.active.key_id)
        if self._next is not None:
            log.info(
                "key rotation pending: the next batch announces key id %s",
                self._next.key_id.hex(),
            )

    @property
    def signer(self) -> RecordSigner:
        """Signs readings, and its key signs batch headers, until the rotation switches it."""
        return self._signer

    @property
    def pending(self) -> GatewayKey | None:
        """The key still to be announced, or None."""
        return self._next

    def announcement(self, *, takes_all_pending: bool) -> GatewayKey | None:
        """The key the batch being sealed announces, or None.

        Only the batch that takes the last readings signed with the old key announces
        (``takes_all_pending``): readings stored after it are signed with the new key,
        so no batch mixes readings of both keys.
        """
        return self._next if takes_all_pending else None

    def announced(self, seq: int) -> None:
        """Batch ``seq``, which announced the pending key, is committed: sign with that key."""
        key = self._next
        if key is None:
            raise RuntimeError(f"batch {seq} cannot have announced a key: no rotation is pending")
        log.info(
            "key rotation: batch %d announced key id %s; signing with it from now on",
            seq,
            key.key_id.hex(),
        )
        self._signer = RecordSigner(self._gateway_id, key)
        self._next = None
