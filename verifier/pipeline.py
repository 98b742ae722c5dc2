"""One received batch -> one stored verdict (plus the verdicts of held batches it releases).

The data path, top to bottom: decode (decode.py) -> enrolled gateway (trust.py) ->
content checks (checks.py) -> the key the chain expects (trust.py) -> signatures
(checks.py) -> chain placement (chain.py) -> store (store.py).

Signatures are checked outside the store's write lock, so workers verify in
parallel; the chain head is read again inside the write transaction and the
decision is taken on that fresh state. Only if a key rotation was accepted in
between (the key changed) is the batch verified again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.batch import SealedBatch
from verifier.chain import ChainState, Placement, place
from verifier.checks import (
    ContentReport,
    Problem,
    ReadingVerifier,
    check_contents,
    check_signatures,
    describe,
    list_indices,
    native_reading_verifier,
    primary,
)
from verifier.decode import MalformedBatch, decode_batch
from verifier.store import ReplayDetected, VerifierStore
from verifier.trust import KeyChoice, TrustStore, key_for_batch
from verifier.verdict import Outcome, Reason, Verdict

log = logging.getLogger(__name__)

# A batch is verified again only when a rotation changes its key while it is being
# checked; more rounds than this means something keeps rotating keys: give up loudly.
_MAX_ROUNDS = 8


class VerifierBusy(RuntimeError):
    """The chain state kept changing under one batch; the message is not acknowledged."""


@dataclass(frozen=True)
class _Received:
    sealed: SealedBatch
    topic: str
    payload: bytes
    # Held batches remember the key all their signatures verified under.
    verified_key: bytes | None = None


class BatchProcessor:
    """Turns received batch messages into stored verdicts. One per worker process."""

    def __init__(
        self,
        store: VerifierStore,
        trust: TrustStore,
        *,
        worker: str,
        reading_verifier: ReadingVerifier = native_reading_verifier,
    ) -> None:
        self._store = store
        self._trust = trust
        self._worker = worker
        self._reading_verifier = reading_verifier

    def handle(self, topic: str, payload: bytes) -> list[Verdict]:
        """Verify and store one message; returns its verdict, then any it released.

        Returns only after every verdict is committed to the store, so the caller may
        acknowledge the message.
        """
        try:
            decoded = decode_batch(topic, payload)
        except MalformedBatch as exc:
            return [self._quarantine_malformed(topic, payload, exc)]
        verdict = self._process(_Received(decoded.sealed, topic, payload))
        verdicts = [verdict]
        if verdict.outcome is Outcome.ACCEPTED:
            verdicts += self._release_successors(decoded.gateway_id)
        for v in verdicts:
            level = logging.WARNING if v.outcome in (Outcome.QUARANTINED, Outcome.PENDING) else logging.DEBUG
            if log.isEnabledFor(level):  # describe() only for lines that are written
                log.log(level, "%s", v.describe())
        return verdicts

    # -- steps -----------------------------------------------------------------------

    def _quarantine_malformed(self, topic: str, payload: bytes, exc: MalformedBatch) -> Verdict:
        with self._store.write():
            self._store.quarantine(
                gateway_id=exc.topic_gateway, seq=None, header_hash=None,
                reason=Reason.MALFORMED.value, detail=exc.detail, topic=topic,
                payload=payload, worker=self._worker,
            )  # fmt: skip
        return Verdict(
            Outcome.QUARANTINED, exc.topic_gateway, None, None, None,
            Reason.MALFORMED, exc.detail, worker=self._worker,
        )  # fmt: skip

    def _verdict(
        self,
        got: _Received,
        outcome: Outcome,
        *,
        reason: Reason | None = None,
        detail: str = "",
        waiting_for: int | None = None,
    ) -> Verdict:
        h = got.sealed.header
        return Verdict(
            outcome, h.gateway_id, h.seq, got.sealed.hash, h.count, reason=reason, detail=detail,
            waiting_for=waiting_for, worker=self._worker,
        )  # fmt: skip

    def _quarantine(self, got: _Received, problems: tuple[Problem, ...] | list[Problem]) -> Verdict:
        """Store the batch in quarantine (call inside a write transaction)."""
        reason = primary(problems).reason
        detail = describe(problems)
        h = got.sealed.header
        self._store.quarantine(
            gateway_id=h.gateway_id, seq=h.seq, header_hash=got.sealed.hash,
            reason=reason.value, detail=detail, topic=got.topic, payload=got.payload,
            worker=self._worker,
        )  # fmt: skip
        return self._verdict(got, Outcome.QUARANTINED, reason=reason, detail=detail)

    def _quarantine_now(self, got: _Received, problems: tuple[Problem, ...] | list[Problem]) -> Verdict:
        with self._store.write():
            return self._quarantine(got, problems)

    def _key_choice(self, got: _Received, state: ChainState) -> KeyChoice:
        header = got.sealed.header
        at = self._store.accepted_at(header.gateway_id, header.seq) if header.seq <= state.head_seq else None
        return key_for_batch(state, header, at[1] if at else None)

    def _process(self, got: _Received) -> Verdict:
        sealed = got.sealed
        header = sealed.header
        gateway_id = header.gateway_id
        enrolled = self._trust.enrolled_key(gateway_id)
        if enrolled is None:
            return self._quarantine_now(
                got, [Problem(Reason.UNKNOWN_GATEWAY, f"gateway {gateway_id!r} is not enrolled")]
            )
        if self._store.is_accepted(sealed.hash):
            return self._verdict(got, Outcome.DUPLICATE, detail="exact re-send of an accepted batch")

        contents: ContentReport = check_contents(sealed)
        if contents.records is None:  # a record did not decode: nothing else can be checked
            return self._quarantine_now(got, contents.problems)

        # Signature results per key: the same batch is never verified twice under one key.
        checked: dict[bytes, tuple[Problem, ...]] = {}
        if got.verified_key is not None:
            checked[got.verified_key] = ()
        for _round in range(_MAX_ROUNDS):
            choice = self._key_choice(got, self._store.chain_state(gateway_id, enrolled))
            if choice.key is not None and choice.key not in checked:
                checked[choice.key] = check_signatures(sealed, choice.key, self._reading_verifier)
            with self._store.write():
                state = self._store.chain_state(gateway_id, enrolled)
                fresh = self._key_choice(got, state)
                if fresh.key is not None and fresh.key not in checked:
                    continue  # a rotation changed the key meanwhile: verify again
                return self._decide(got, contents, state, fresh, checked)
        raise VerifierBusy(
            f"gateway {gateway_id} batch seq {header.seq}: the signing key changed {_MAX_ROUNDS} "
            "times while verifying; not acknowledged, the broker will deliver it again"
        )

    def _decide(
        self,
        got: _Received,
        contents: ContentReport,
        state: ChainState,
        choice: KeyChoice,
        checked: dict[bytes, tuple[Problem, ...]],
    ) -> Verdict:
        """Apply the chain decision on the fresh ``state`` (inside the write transaction)."""
        sealed = got.sealed
        header = sealed.header
        if choice.key is None and not choice.provisional:
            return self._quarantine(got, [Problem(Reason.UNKNOWN_KEY, choice.detail)])
        # Signature and content problems together: the quarantine reason is the first
        # by precedence (a tampered reading reads as a bad signature, not a bad root).
        problems = (checked[choice.key] if choice.key is not None else ()) + contents.problems
        if problems:
            return self._quarantine(got, problems)
        at = self._store.accepted_at(header.gateway_id, header.seq) if header.seq <= state.head_seq else None
        decision = place(
            state, seq=header.seq, prev_hash=header.prev_hash, header_hash=sealed.hash,
            accepted_hash_at_seq=at[0] if at else None,
        )  # fmt: skip
        if decision.placement is Placement.DUPLICATE:
            return self._verdict(got, Outcome.DUPLICATE, detail="exact re-send of an accepted batch")
        if decision.placement is Placement.FORK:
            return self._quarantine(got, [Problem(Reason.FORK, decision.detail)])
        if decision.placement is Placement.AHEAD:
            self._store.hold(
                sealed=sealed, topic=got.topic, payload=got.payload,
                verified_key=choice.key, worker=self._worker,
            )  # fmt: skip
            detail = decision.detail if choice.key is not None else f"{decision.detail}; {choice.detail}"
            return self._verdict(
                got, Outcome.PENDING, reason=Reason.GAP, detail=detail, waiting_for=state.next_seq
            )
        assert choice.key is not None and not choice.provisional and contents.records is not None
        try:
            self._store.accept(
                state=state, sealed=sealed, records=contents.records, public_key=choice.key,
                payload=got.payload, worker=self._worker,
            )  # fmt: skip
        except ReplayDetected as exc:
            return self._quarantine(
                got,
                [
                    Problem(
                        Reason.REPLAY,
                        f"readings at indices {list_indices(exc.indices)} were already accepted "
                        f"(in stored batch ids {exc.batch_ids})",
                    )
                ],
            )
        detail = ""
        if header.next_public_key is not None:
            detail = f"key rotation: batches after seq {header.seq} must be signed by {header.next_public_key.hex()}"
            log.info("gateway %s rotated its key at seq %d", header.gateway_id, header.seq)
        return self._verdict(got, Outcome.ACCEPTED, detail=detail)

    def _release_successors(self, gateway_id: str) -> list[Verdict]:
        """Accept held batches that the chain now reaches, one seq after another.

        Held batches for seqs the chain has passed meanwhile (rivals of an accepted
        batch) are settled too, as forks, so that no gap report stays open for them.
        """
        released: list[Verdict] = []
        enrolled = self._trust.enrolled_key(gateway_id)
        assert enrolled is not None
        while True:
            state = self._store.chain_state(gateway_id, enrolled)
            held = self._store.held_up_to(gateway_id, state.next_seq)
            if not held:
                return released
            advanced = False
            for item in held:
                try:
                    decoded = decode_batch(item.topic, item.payload)
                except MalformedBatch as exc:  # cannot happen: it decoded when held
                    released.append(self._quarantine_malformed(item.topic, item.payload, exc))
                    continue
                verdict = self._process(
                    _Received(decoded.sealed, item.topic, item.payload, item.verified_key)
                )
                released.append(verdict)
                advanced = advanced or verdict.outcome is Outcome.ACCEPTED
            if not advanced:
                return released
