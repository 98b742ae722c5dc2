"""One received batch -> one stored verdict (plus the verdicts of held batches it releases).

The data path, top to bottom: decode (decode.py) -> enrolled gateway (trust.py) ->
content checks (checks.py) -> the key the chain expects (trust.py) -> signatures
(checks.py) -> chain placement (chain.py) -> store (store.py).

Signatures are checked outside the store's write lock, so workers verify in
parallel; the chain head is read again inside the write transaction and the
decision is taken on that fresh state. Only if a key rotation was accepted in
between (the key changed) is the batch verified again, then inside the lock.

``handle_many`` settles several messages in one write transaction: with small
batches the commit (WAL pages of the readings' indexes, written once per
transaction) costs more than the checks, so a worker with a backlog commits it
together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from edgeseal.verifier.chain import ChainState, Placement, place
from edgeseal.verifier.checks import (
    ContentReport,
    Problem,
    ReadingVerifier,
    check_contents,
    check_signatures,
    describe,
    describe_alteration,
    list_indices,
    native_reading_verifier,
    primary,
)
from edgeseal.verifier.decode import MalformedBatch, decode_batch
from edgeseal.verifier.limits import StoreLimits
from edgeseal.verifier.store import QuarantineResult, ReplayDetected, VerifierStore
from edgeseal.verifier.trust import KeyChoice, TrustStore, key_for_batch
from edgeseal.verifier.verdict import Outcome, Reason, Verdict
from edgeseal.wire.batch import SealedBatch, key_id_of
from edgeseal.wire.topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Received:
    sealed: SealedBatch
    topic: str
    payload: bytes
    # Held batches remember the key all their signatures verified under.
    verified_key: bytes | None = None


@dataclass(frozen=True)
class _Checked:
    """One message after the checks that need no write lock, ready to be settled."""

    topic: str
    payload: bytes
    malformed: MalformedBatch | None = None  # the payload is not a batch
    got: _Received | None = None
    problems: tuple[Problem, ...] = ()  # found before the chain is consulted: quarantine
    # The payload accepted under this header hash: the message is a re-send, exact or
    # altered (accepted batches never change, so this holds inside the lock too).
    accepted_payload: bytes | None = None
    contents: ContentReport | None = None
    # Signature problems per key (the same batch is never verified twice under one key);
    # filled in by _check, and by _place when a rotation changed the key meanwhile.
    checked: dict[bytes, tuple[Problem, ...]] = field(default_factory=dict)


class BatchProcessor:
    """Turns received batch messages into stored verdicts. One per worker process."""

    def __init__(
        self,
        store: VerifierStore,
        trust: TrustStore,
        *,
        worker: str,
        reading_verifier: ReadingVerifier = native_reading_verifier,
        topics: Topics | None = None,
        limits: StoreLimits | None = None,
    ) -> None:
        self._topics = topics if topics is not None else Topics()
        self._limits = limits if limits is not None else StoreLimits()
        self._store = store
        self._trust = trust
        self._worker = worker
        self._reading_verifier = reading_verifier

    def handle(self, topic: str, payload: bytes) -> list[Verdict]:
        """Verify and store one message; returns its verdict, then any it released.

        Returns only after every verdict is committed to the store, so the caller may
        acknowledge the message.
        """
        return self.handle_many([(topic, payload)])[0]

    def handle_many(self, messages: Sequence[tuple[str, bytes]]) -> list[list[Verdict]]:
        """``handle`` for several messages, in order, committed in one write transaction.

        Returns one list of verdicts per message. If storing fails, nothing of the
        group is committed and the exception propagates: acknowledge none of them.
        """
        prepared = [self._check(topic, payload) for topic, payload in messages]
        # Settling a message touches the chain of its header's gateway only (a held batch
        # it releases is of the same gateway): lock those, and let other workers write
        # other gateways meanwhile (PostgreSQL; SQLite writers run one at a time anyway).
        gateway_ids = {i.got.sealed.header.gateway_id for i in prepared if i.got is not None}
        with self._store.write(gateway_ids):
            results = [self._settle(item) for item in prepared]
        for verdicts in results:
            for v in verdicts:
                level = (
                    logging.WARNING
                    if v.outcome in (Outcome.QUARANTINED, Outcome.PENDING)
                    else logging.DEBUG
                )
                if log.isEnabledFor(level):  # describe() only for lines that are written
                    log.log(level, "%s", v.describe())
        return results

    # -- steps -----------------------------------------------------------------------

    def _budget(self, gateway_id: str | None) -> str:
        """Whose quarantine bytes a refusal counts against: all unenrolled ids share one."""
        if gateway_id is not None and self._trust.enrolled_key(gateway_id) is not None:
            return gateway_id
        return ""

    def _stored_note(self, gateway_id: str | None, reason: Reason, kept: QuarantineResult) -> str:
        """What the verdict detail adds about the quarantine row (limits.py)."""
        if kept.full is None:
            return ""
        if kept.not_stored & (kept.not_stored - 1) == 0:  # 1, 2, 4, 8 ...: not a log flood
            log.error(
                "quarantine of %s is full (%s): %d %s refusal(s) counted but not stored; "
                "look into the quarantined batches (--report) and remove those investigated",
                gateway_id if self._budget(gateway_id) else "unenrolled gateway ids",
                kept.full,
                kept.not_stored,
                reason.value,
            )
        return f"; not stored: {kept.full} reached"

    def _quarantine_malformed(self, topic: str, payload: bytes, exc: MalformedBatch) -> Verdict:
        """Store a payload that is not a batch in quarantine (call inside a write transaction)."""
        kept = self._store.quarantine(
            gateway_id=exc.topic_gateway,
            seq=None,
            header_hash=None,
            reason=Reason.MALFORMED.value,
            detail=exc.detail,
            topic=topic,
            payload=payload,
            worker=self._worker,
            keep_payload=False,
            budget=self._budget(exc.topic_gateway),
            limits=self._limits,
        )
        return Verdict(
            Outcome.QUARANTINED,
            exc.topic_gateway,
            None,
            None,
            None,
            Reason.MALFORMED,
            exc.detail + self._stored_note(exc.topic_gateway, Reason.MALFORMED, kept),
            worker=self._worker,
        )

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
            outcome,
            h.gateway_id,
            h.seq,
            got.sealed.hash,
            h.count,
            reason=reason,
            detail=detail,
            waiting_for=waiting_for,
            worker=self._worker,
        )

    def _quarantine(
        self,
        got: _Received,
        problems: tuple[Problem, ...] | list[Problem],
        *,
        keep_payload: bool = False,
    ) -> Verdict:
        """Store the batch in quarantine (call inside a write transaction).

        ``keep_payload``: its header signature verified under the gateway's key, so the
        payload is evidence of what the gateway signed and may be kept whole.
        """
        reason = primary(problems).reason
        detail = describe(problems)
        h = got.sealed.header
        kept = self._store.quarantine(
            gateway_id=h.gateway_id,
            seq=h.seq,
            header_hash=got.sealed.hash,
            reason=reason.value,
            detail=detail,
            topic=got.topic,
            payload=got.payload,
            worker=self._worker,
            keep_payload=keep_payload,
            budget=self._budget(h.gateway_id),
            limits=self._limits,
        )
        detail += self._stored_note(h.gateway_id, reason, kept)
        return self._verdict(got, Outcome.QUARANTINED, reason=reason, detail=detail)

    def _resent(self, got: _Received, accepted_payload: bytes) -> Verdict:
        """A batch whose header hash is accepted: an exact re-send is a duplicate; any
        other bytes under that header are an altered copy, quarantined (inside a write
        transaction)."""
        if got.payload == accepted_payload:
            return self._verdict(
                got, Outcome.DUPLICATE, detail="exact re-send of an accepted batch"
            )
        header = got.sealed.header
        differences = describe_alteration(SealedBatch.from_payload(accepted_payload), got.sealed)
        detail = (
            f"batch seq {header.seq} with header hash {got.sealed.hash.hex()} was accepted with "
            f"other bytes; this copy has {differences}"
        )
        return self._quarantine(got, [Problem(Reason.ALTERED_COPY, detail)])

    def _key_choice(self, got: _Received, state: ChainState) -> KeyChoice:
        header = got.sealed.header
        at = (
            self._store.accepted_at(header.gateway_id, header.seq)
            if header.seq <= state.head_seq
            else None
        )
        return key_for_batch(state, header, at[1] if at else None)

    def _check(self, topic: str, payload: bytes, verified_key: bytes | None = None) -> _Checked:
        """Everything that needs no write lock: decode, enrollment, contents, signatures.

        Signatures are verified under the key the committed chain expects now; if a
        rotation changes that key before the batch is settled, ``_place`` verifies again.
        """
        try:
            decoded = decode_batch(self._topics, topic, payload)
        except MalformedBatch as exc:
            return _Checked(topic, payload, malformed=exc)
        got = _Received(decoded.sealed, topic, payload, verified_key)
        sealed = got.sealed
        gateway_id = sealed.header.gateway_id
        enrolled = self._trust.enrolled_key(gateway_id)
        if enrolled is None:
            problem = Problem(Reason.UNKNOWN_GATEWAY, f"gateway {gateway_id!r} is not enrolled")
            return _Checked(topic, payload, got=got, problems=(problem,))
        accepted_payload = self._store.accepted_payload(sealed.hash)
        if accepted_payload is not None:
            return _Checked(topic, payload, got=got, accepted_payload=accepted_payload)
        contents = check_contents(sealed)
        if contents.records is None:  # a record did not decode: nothing else can be checked
            return _Checked(topic, payload, got=got, problems=contents.problems)
        checked = _Checked(topic, payload, got=got, contents=contents)
        if verified_key is not None:
            checked.checked[verified_key] = ()
        state = self._store.chain_state(gateway_id, enrolled)
        if sealed.header.seq > state.head_seq + self._limits.max_seq_jump:
            return checked  # refused in _decide, whatever its signatures: spare the work
        choice = self._key_choice(got, state)
        if choice.key is not None and choice.key not in checked.checked:
            checked.checked[choice.key] = check_signatures(
                sealed, choice.key, self._reading_verifier
            )
        return checked

    def _settle(self, item: _Checked) -> list[Verdict]:
        """The verdict of one checked message, then those of the held batches it releases
        (inside the write transaction)."""
        if item.malformed is not None:
            return [self._quarantine_malformed(item.topic, item.payload, item.malformed)]
        got = item.got
        assert got is not None
        if item.problems:
            return [self._quarantine(got, item.problems)]
        if item.accepted_payload is not None:
            return [self._resent(got, item.accepted_payload)]
        verdict = self._place(got, item)
        if verdict.outcome is not Outcome.ACCEPTED:
            return [verdict]
        return [verdict, *self._release_successors(got.sealed.header.gateway_id)]

    def _place(self, got: _Received, item: _Checked) -> Verdict:
        """Decide on the fresh chain state (inside the write transaction)."""
        gateway_id = got.sealed.header.gateway_id
        enrolled = self._trust.enrolled_key(gateway_id)
        assert enrolled is not None and item.contents is not None
        state = self._store.chain_state(gateway_id, enrolled)
        choice = self._key_choice(got, state)
        if choice.key is not None and choice.key not in item.checked:
            # A rotation was accepted after the checks (by another worker, or earlier in
            # this transaction): verify under the new key, here, inside the lock.
            item.checked[choice.key] = check_signatures(
                got.sealed, choice.key, self._reading_verifier
            )
        return self._decide(got, item.contents, state, choice, item.checked)

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
        if header.seq > state.head_seq + self._limits.max_seq_jump:
            detail = (
                f"seq {header.seq} is {header.seq - state.head_seq} past the accepted head "
                f"(seq {state.head_seq}); batches are held at most max_seq_jump = "
                f"{self._limits.max_seq_jump} ahead: re-send it after seq {state.next_seq}"
            )
            return self._quarantine(got, [Problem(Reason.TOO_FAR_AHEAD, detail)])
        if header.seq <= state.head_seq and choice.key is None:
            # No batch was accepted at this seq below the head: an operator declared it lost.
            lost = self._lost_seq_detail(got)
            if lost is not None:
                return self._quarantine(got, [Problem(Reason.FORK, lost)])
        if choice.key is None and not choice.provisional:
            return self._quarantine(got, [Problem(Reason.UNKNOWN_KEY, choice.detail)])
        key = choice.key
        if key is None:
            # Ahead of the chain under a key it does not know yet: held only if a held,
            # verified batch before it announced that key, and verified under it first,
            # so that nobody without a gateway's key can make the store hold anything.
            key = self._announced_key(got)
            if key is None:
                detail = (
                    f"{choice.detail}; no held batch before seq {header.seq} announces it, "
                    "so it is not held: re-send it after that rotation is accepted"
                )
                return self._quarantine(got, [Problem(Reason.UNKNOWN_KEY, detail)])
            if key not in checked:
                checked[key] = check_signatures(sealed, key, self._reading_verifier)
        # Signature and content problems together: the quarantine reason is the first
        # by precedence (a tampered reading reads as a bad signature, not a bad root).
        problems = checked[key] + contents.problems
        if problems:
            signed = all(p.reason is not Reason.BAD_HEADER_SIGNATURE for p in problems)
            return self._quarantine(got, problems, keep_payload=signed)
        at = (
            self._store.accepted_at(header.gateway_id, header.seq)
            if header.seq <= state.head_seq
            else None
        )
        decision = place(
            state,
            seq=header.seq,
            prev_hash=header.prev_hash,
            header_hash=sealed.hash,
            accepted_hash_at_seq=at[0] if at else None,
        )
        if decision.placement is Placement.DUPLICATE:
            # Accepted since the checks (by another worker, or earlier in this group).
            accepted_payload = self._store.accepted_payload(sealed.hash)
            assert accepted_payload is not None
            return self._resent(got, accepted_payload)
        if decision.placement is Placement.FORK:
            return self._quarantine(got, [Problem(Reason.FORK, decision.detail)], keep_payload=True)
        if decision.placement is Placement.AHEAD:
            refusal = self._held_limit(got, state)
            if refusal is not None:
                return self._quarantine(got, [refusal])
            self._store.hold(
                sealed=sealed,
                topic=got.topic,
                payload=got.payload,
                verified_key=key,
                worker=self._worker,
            )
            detail = (
                decision.detail
                if key == choice.key
                else f"{decision.detail}; signed by key {key.hex()}, announced by a held batch"
            )
            return self._verdict(
                got, Outcome.PENDING, reason=Reason.GAP, detail=detail, waiting_for=state.next_seq
            )
        assert choice.key is not None and not choice.provisional and contents.records is not None
        if contents.events:
            bad = self._store.accounts.check_events(
                header.gateway_id, contents.records, contents.events
            )
            if bad:
                problem = Problem(Reason.BAD_EVENT, "; ".join(bad))
                return self._quarantine(got, [problem], keep_payload=True)
        try:
            batch_id = self._store.accept(
                state=state,
                sealed=sealed,
                records=contents.records,
                public_key=choice.key,
                payload=got.payload,
                worker=self._worker,
                leaf_indices=contents.leaf_indices,
            )
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
                keep_payload=True,
            )
        accounts = self._store.accounts
        accounts.apply(
            gateway_id=header.gateway_id,
            batch_id=batch_id,
            batch_seq=header.seq,
            records=contents.records,
            events=contents.events,
        )
        gaps = accounts.due_gaps(header.gateway_id, header.seq, self._limits.gap_margin_batches)
        for gap in gaps:
            log.warning("unexplained gap: %s", gap.describe())
        detail = ""
        if header.next_public_key is not None:
            detail = f"key rotation: batches after seq {header.seq} must be signed by {header.next_public_key.hex()}"
            log.info("gateway %s rotated its key at seq %d", header.gateway_id, header.seq)
        verdict = replace(
            self._verdict(got, Outcome.ACCEPTED, detail=detail), readings=len(contents.records)
        )
        if gaps:
            verdict = replace(verdict, unexplained_gaps=tuple(g.as_dict() for g in gaps))
        return verdict

    def _lost_seq_detail(self, got: _Received) -> str | None:
        """Why a batch for a seq an operator declared lost is refused (None: not lost)."""
        header = got.sealed.header
        loss = self._store.loss_covering(header.gateway_id, header.seq)
        if loss is None:
            return None
        if header.seq == loss.last_seq:
            matches = "matches" if got.sealed.hash == loss.claimed_prev_hash else "does NOT match"
            link = f"; its header hash {matches} the prev_hash seq {loss.last_seq + 1} claimed"
        else:
            link = ""
        return (
            f"seq {header.seq} was declared lost (seqs {loss.first_seq}..{loss.last_seq}, "
            f"loss #{loss.loss_id} decided by {loss.decided_by!r}: {loss.reason!r}) and the chain "
            f"continued past it; this batch arrived after that decision{link}"
        )

    def release_held(self, gateway_id: str) -> list[Verdict]:
        """Settle the held batches the chain now reaches, as ``_release_successors`` does,
        but verify each one again in full, whatever key it was held under (call inside
        ``store.write()``; used after an operator's decision moved the head: accept_loss.py).
        """
        return self._release_successors(gateway_id, reverify=True)

    def _announced_key(self, got: _Received) -> bytes | None:
        """The key a verified held batch before this one announced, if it is the one named."""
        header = got.sealed.header
        for key in self._store.held_announced_keys(header.gateway_id, header.seq):
            if key_id_of(key) == header.key_id:
                return key
        return None

    def _held_limit(self, got: _Received, state: ChainState) -> Problem | None:
        """Why the batch may not be held (limits.py), or None (inside the write transaction)."""
        sealed = got.sealed
        if self._store.is_held(sealed.hash):
            return None  # a re-send of a held batch takes no room
        held, held_bytes, all_bytes = self._store.held_usage(sealed.header.gateway_id)
        limits, size = self._limits, len(got.payload)
        if held + 1 > limits.held_batches_per_gateway:
            reached = f"held_batches_per_gateway = {limits.held_batches_per_gateway}"
        elif held_bytes + size > limits.held_bytes_per_gateway:
            reached = f"held_bytes_per_gateway = {limits.held_bytes_per_gateway}"
        elif all_bytes + size > limits.held_bytes_total:
            reached = f"held_bytes_total = {limits.held_bytes_total}"
        else:
            return None
        detail = (
            f"gateway {state.gateway_id} holds {held} batch(es) ({held_bytes} bytes) waiting for "
            f"seq {state.next_seq}; {reached} reached, so seq {sealed.header.seq} is not held: "
            f"re-send it after seq {state.next_seq} is accepted"
        )
        log.error("%s", detail)
        return Problem(Reason.HELD_LIMIT, detail)

    def _release_successors(self, gateway_id: str, *, reverify: bool = False) -> list[Verdict]:
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
                # Checked again inside the lock (held batches are few); their signatures
                # were verified when they were held, under the key they name.
                checked = self._check(
                    item.topic, item.payload, None if reverify else item.verified_key
                )
                if (
                    checked.malformed is not None
                    or checked.problems
                    or checked.accepted_payload is not None
                ):
                    released += self._settle(checked)
                    continue
                assert checked.got is not None
                verdict = self._place(checked.got, checked)
                released.append(verdict)
                advanced = advanced or verdict.outcome is Outcome.ACCEPTED
            if not advanced:
                return released
