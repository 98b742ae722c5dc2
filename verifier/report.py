"""``edgeseal verifier --report``: what an operator needs to see in the store at a glance.

Chain heads per gateway, enrolled gateways that have no accepted batch, batches held
while waiting for a missing seq (a gap that does not close needs attention: a lost
batch or a gateway that stopped publishing), the gaps operators closed by accepting
their loss (who, why, when: these no longer make the report exit 1), and quarantine
counts by reason.

What the report cannot see: batches published where this verifier does not
subscribe (another broker, another ``mqtt.topic_prefix``) never reach the store. An
enrolled gateway the store knows nothing of is the trace they leave, so the report
names it, with the topic it would have to publish on, and asks for attention.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from edgeseal.verifier.store import VerifierStore, now_us
from edgeseal.wire.topics import Topics


@dataclass(frozen=True)
class StoreReport:
    text: str
    gaps_open: bool  # batches are held, waiting for a missing seq
    silent_gateways: tuple[str, ...]  # enrolled, but no batch of theirs accepted

    @property
    def needs_attention(self) -> bool:
        """What ``--report`` exits 1 for (usable from monitoring)."""
        return self.gaps_open or bool(self.silent_gateways)


def _age(received_us: int) -> str:
    seconds = max(0, now_us() - received_us) // 1_000_000
    return str(dt.timedelta(seconds=seconds))


def utc_time(us: int) -> str:
    """A store time (µs since the epoch) for operators, in UTC."""
    moment = dt.datetime.fromtimestamp(us / 1e6, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _unaccepted(
    store: VerifierStore, enrolled: Collection[str], topics: Topics
) -> tuple[list[str], list[str]]:
    """(gateways, report lines) of the enrolled gateways without an accepted batch."""
    accepted = {gw for gw, _seq, _hash in store.chain_heads()}
    held = {g.gateway_id: g.held for g in store.gaps()}
    quarantined: dict[str, int] = {}
    for gw, _reason, n in store.quarantine_counts():
        if gw is not None:
            quarantined[gw] = quarantined.get(gw, 0) + n
    silent = sorted(set(enrolled) - accepted)
    lines = []
    for gw in silent:
        if gw in held or gw in quarantined:
            lines.append(
                f"  {gw}: NO BATCH ACCEPTED; {quarantined.get(gw, 0)} quarantined, "
                f"{held.get(gw, 0)} held (see below)"
            )
        else:
            lines.append(
                f"  {gw}: NOTHING RECEIVED on {topics.batch(gw)}; is the gateway running, "
                f"on this broker, with mqtt.topic_prefix = {topics.prefix!r} as here?"
            )
    return silent, lines


def store_report(
    store: VerifierStore, *, enrolled: Collection[str] = (), topics: Topics | None = None
) -> StoreReport:
    """The report over ``store``; ``enrolled`` are the gateways of ``[gateways]``, and
    ``topics`` the topics this verifier reads (its ``mqtt.topic_prefix``)."""
    topics = topics if topics is not None else Topics()
    lines = [f"verifier store {store.where}", "", "chain heads:"]
    heads = store.chain_heads()
    lines += [
        f"  {gw}: seq {seq}, {store.reading_count(gw)} readings, head {h.hex()[:16]}..."
        for gw, seq, h in heads
    ] or ["  (no accepted batch yet)"]
    silent, silent_lines = _unaccepted(store, enrolled, topics)
    if silent_lines:
        lines += ["", "enrolled gateways with no accepted batch:", *silent_lines]
    gaps = store.gaps()
    lines += ["", "held batches (waiting for a missing seq):"]
    lines += [
        f"  {g.gateway_id}: WAITING FOR SEQ {g.waiting_for}; holding {g.held} batch(es) "
        f"(seqs {', '.join(map(str, g.held_seqs[:20]))}{' ...' if g.held > 20 else ''}), "
        f"oldest received {_age(g.oldest_received_us)} ago"
        for g in gaps
    ] or ["  none"]
    losses = store.accepted_losses()
    if losses:
        # Operator decisions: each closed a gap on the operator's word (accept_loss.py).
        lines += ["", "accepted losses (gaps closed by an operator decision):"]
        lines += [
            f"  {x.gateway_id}: LOST SEQS {x.first_seq}..{x.last_seq}, accepted by "
            f"{x.decided_by!r} on {utc_time(x.decided_us)}: {x.reason!r}; chain continued at seq "
            f"{x.last_seq + 1} (batch {x.continued_by.hex()[:16]}..., its prev_hash "
            f"{x.claimed_prev_hash.hex()[:16]}... taken on the operator's word)"
            for x in losses
        ]
    counts = store.quarantine_counts()
    lines += ["", "quarantine:"]
    lines += [f"  {gw or '(no gateway)'}: {reason} x {n}" for gw, reason, n in counts] or [
        "  empty"
    ]
    return StoreReport("\n".join(lines) + "\n", bool(gaps), tuple(silent))
