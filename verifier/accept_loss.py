"""``edgeseal verifier-accept-loss``: an operator accepts that seqs N..M of a gateway are lost.

A gap that no resend request can fill (the gateway no longer has the batches) stops the
gateway's chain: later batches stay held. This command is the audited way past it, for a
real gap only: N is the chain head + 1 and M + 1 is the seq of the first held batch.

In one write transaction it records who decided, why and when, the head hash the chain
had and the held batch that continues it, moves the chain head over the lost seqs, and
settles the held batches through the pipeline with every check verified again. The one
thing not verified is the link across the gap: the held batch at M + 1 names the header
hash of seq M as its prev_hash, and the verifier never saw seq M. That hash is stored as
claimed, on the operator's word. If the batch at M + 1 fails any other check, nothing is
changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.verifier.config import VerifierConfig, load_config
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.report import utc_time
from edgeseal.verifier.store import AcceptedLoss, HeldBatch, StoreError, VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Verdict
from edgeseal.wire.batch import SealedBatch

log = logging.getLogger(__name__)

# The ``worker`` named in the verdicts this command settles.
OPERATOR_WORKER = "operator"
_MAX_SEQ = 2**63 - 1
_SEQS = re.compile(r"\s*(\d+)\s*(?:(?:-|\.\.)\s*(\d+)\s*)?")


class LossRefused(Exception):
    """The loss was not accepted (the message says why); nothing was changed."""


@dataclass(frozen=True)
class LossClosed:
    """What an accepted loss did: the audit row, and the verdicts of the batches it released."""

    loss: AcceptedLoss
    verdicts: list[Verdict]


def parse_seqs(text: str) -> tuple[int, int]:
    """``N-M`` (or ``N..M``, or ``N`` alone) -> (N, M), with 1 <= N <= M < 2^63."""
    match = _SEQS.fullmatch(text)
    if match is None:
        raise LossRefused(f"--seqs {text!r}: give the lost seqs as N-M (or N for one seq)")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if not 1 <= first <= last <= _MAX_SEQ:
        raise LossRefused(f"--seqs {text!r}: need 1 <= N <= M < 2^63")
    return first, last


def describe_loss(loss: AcceptedLoss) -> str:
    """One line naming the decision, for verdicts, logs and the report."""
    return (
        f"loss #{loss.loss_id}: seqs {loss.first_seq}..{loss.last_seq} accepted as lost by "
        f"{loss.decided_by!r} on {utc_time(loss.decided_us)}, reason {loss.reason!r}"
    )


def _continuing_batch(
    gateway_id: str, head_seq: int, held: list[HeldBatch], first: int, last: int
) -> HeldBatch:
    """The held batch at ``last + 1``, if N..M is exactly the gap before it; else refused."""
    wanted = f"seqs {first}..{last}"
    head = f"gateway {gateway_id}'s chain is accepted up to seq {head_seq}"
    if first <= head_seq:
        raise LossRefused(
            f"{wanted} overlap accepted batches: {head}; a loss can only start at seq "
            f"{head_seq + 1}"
        )
    if not held:
        raise LossRefused(
            f"no gap there: {head} and no batch of it is held, so nothing waits for {wanted}"
        )
    lowest = held[0].seq
    gap = f"seqs {head_seq + 1}..{lowest - 1}"
    if lowest == head_seq + 1:  # cannot happen while the store is consistent
        raise LossRefused(f"no gap there: seq {lowest} is held and is the next seq of the chain")
    if first > head_seq + 1:
        raise LossRefused(
            f"{wanted} are not contiguous with the chain head: {head}, so a loss starts at seq "
            f"{head_seq + 1} (the gap is {gap}, the first held batch is seq {lowest})"
        )
    if last + 1 > lowest:
        raise LossRefused(
            f"{wanted} include seq {lowest}, which is held (not lost): the gap is {gap}"
        )
    if last + 1 < lowest:
        raise LossRefused(
            f"seq {last + 1} is missing too and no held batch continues the chain after seq "
            f"{last}: the gap is {gap} (the first held batch is seq {lowest}); accept all of "
            "it or wait for the missing batches"
        )
    rivals = [h for h in held if h.seq == lowest]
    if len(rivals) > 1:
        hashes = ", ".join(h.header_hash.hex() for h in rivals)
        raise LossRefused(
            f"{len(rivals)} different batches are held for seq {lowest} ({hashes}): which one "
            "continues the chain cannot be told; look into them first"
        )
    return rivals[0]


def accept_loss(
    store: VerifierStore,
    config: VerifierConfig,
    *,
    gateway_id: str,
    first: int,
    last: int,
    decided_by: str,
    reason: str,
) -> LossClosed:
    """Accept the loss of seqs first..last of a gateway and let its chain continue.

    Raises ``LossRefused`` (nothing changed) unless first..last is exactly the gap
    before a held batch and that batch passes every check but the link across the gap.
    """
    if not decided_by.strip():
        raise LossRefused("--by is empty: name who decides")
    if not reason.strip():
        raise LossRefused("--reason is empty: say why the batches are lost")
    trust = TrustStore(config.gateways)
    enrolled = trust.enrolled_key(gateway_id)
    if enrolled is None:
        raise LossRefused(
            f"gateway {gateway_id!r} is not enrolled in [gateways] of the configuration"
        )
    processor = BatchProcessor(
        store, trust, worker=OPERATOR_WORKER, topics=config.mqtt.topics, limits=config.limits
    )
    with store.write():
        state = store.chain_state(gateway_id, enrolled)
        held = [h for h in store.held_up_to(gateway_id, _MAX_SEQ) if h.seq > state.head_seq]
        continuing = _continuing_batch(gateway_id, state.head_seq, held, first, last)
        # The hash of seq ``last`` as the batch after it names it: never verified.
        claimed = SealedBatch.from_payload(continuing.payload).header.prev_hash
        loss_id = store.record_loss(
            state=state,
            last_seq=last,
            decided_by=decided_by,
            reason=reason,
            continued_by=continuing.header_hash,
            claimed_prev_hash=claimed,
        )
        loss = next(x for x in store.accepted_losses(gateway_id) if x.loss_id == loss_id)
        verdicts = processor.release_held(gateway_id)
        settled = next(
            (v for v in verdicts if v.header_hash == continuing.header_hash),
            None,
        )
        if settled is None or settled.outcome is not Outcome.ACCEPTED:
            why = "not settled" if settled is None else f"{settled.describe()}"
            # Raising rolls the whole transaction back: no audit row, head unchanged.
            raise LossRefused(
                f"the held batch at seq {last + 1} does not pass the checks ({why}); "
                "nothing was changed"
            )
    note = (
        f"accepted across a gap closed by an operator decision ({describe_loss(loss)}); "
        f"its prev_hash {claimed.hex()} names seq {last}, which was never verified: "
        "that link is taken on the operator's word"
    )
    verdicts = [
        dataclasses.replace(v, detail=f"{v.detail}; {note}" if v.detail else note)
        if v is settled
        else v
        for v in verdicts
    ]
    log.warning(
        "gateway %s: gap closed by an operator decision, %s; the chain continues at seq %d "
        "(prev_hash %s taken on the operator's word)",
        gateway_id,
        describe_loss(loss),
        last + 1,
        claimed.hex(),
    )
    return LossClosed(loss, verdicts)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, type=Path, help="verifier.toml (see docs/verifier.md)"
    )
    parser.add_argument("--store", type=Path, help="override store.path")
    parser.add_argument("--gateway", required=True, help="the gateway id, as in [gateways]")
    parser.add_argument(
        "--seqs",
        required=True,
        help="the lost seqs, N-M: N is the chain head + 1, M + 1 the first held batch",
    )
    parser.add_argument("--by", required=True, help="who decides (recorded in the store)")
    parser.add_argument("--reason", required=True, help="why the batches are lost (recorded)")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    path: Path | str = args.store if args.store else config.store.location
    if isinstance(path, Path) and not path.exists():
        log.error("store %s does not exist (has the verifier run yet?)", path)
        return 2
    try:
        first, last = parse_seqs(args.seqs)
        with VerifierStore(
            path, synchronous=config.store.synchronous, busy_timeout_s=config.store.busy_timeout_s
        ) as store:
            closed = accept_loss(
                store,
                config,
                gateway_id=args.gateway,
                first=first,
                last=last,
                decided_by=args.by,
                reason=args.reason,
            )
    except LossRefused as exc:
        log.error("refused: %s", exc)
        return 1
    except StoreError as exc:
        log.error("%s", exc)
        return 2
    print(describe_loss(closed.loss))
    for verdict in closed.verdicts:
        print(f"  {verdict.describe()}")
        if verdict.detail and verdict.outcome is Outcome.ACCEPTED:
            print(f"    {verdict.detail}")
    return 0
