"""``edgeseal verifier --report``: what an operator needs to see in the store at a glance.

Chain heads per gateway, batches held while waiting for a missing seq (a gap that
does not close needs attention: a lost batch or a gateway that stopped publishing),
and quarantine counts by reason.
"""

from __future__ import annotations

import datetime as dt

from edgeseal.verifier.store import VerifierStore, now_us


def _age(received_us: int) -> str:
    seconds = max(0, now_us() - received_us) // 1_000_000
    return str(dt.timedelta(seconds=seconds))


def store_report(store: VerifierStore) -> tuple[str, bool]:
    """The report text, and whether any batch is held (a gap is open)."""
    lines = [f"verifier store {store.path}", "", "chain heads:"]
    heads = store.chain_heads()
    lines += [
        f"  {gw}: seq {seq}, {store.reading_count(gw)} readings, head {h.hex()[:16]}..."
        for gw, seq, h in heads
    ] or ["  (no accepted batch yet)"]
    gaps = store.gaps()
    lines += ["", "held batches (waiting for a missing seq):"]
    lines += [
        f"  {g.gateway_id}: WAITING FOR SEQ {g.waiting_for}; holding {g.held} batch(es) "
        f"(seqs {', '.join(map(str, g.held_seqs[:20]))}{' ...' if g.held > 20 else ''}), "
        f"oldest received {_age(g.oldest_received_us)} ago"
        for g in gaps
    ] or ["  none"]
    counts = store.quarantine_counts()
    lines += ["", "quarantine:"]
    lines += [f"  {gw or '(no gateway)'}: {reason} x {n}" for gw, reason, n in counts] or [
        "  empty"
    ]
    return "\n".join(lines) + "\n", bool(gaps)
