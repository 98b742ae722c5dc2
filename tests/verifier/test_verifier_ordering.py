"""Property: whatever order, duplication and split between two workers the broker
delivers a gateway's batches in, every batch is accepted exactly once, in chain
order, and no gap or quarantine remains."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from verifier_builders import GatewayChain, batch_topic

from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome

CHAINS = [GatewayChain("gw-a"), GatewayChain("gw-b", device_id=3)]
BATCHES = [(c.gateway_id, b.to_payload()) for c in CHAINS for b in c.batches(6, n=2)]
TRUST = TrustStore({c.gateway_id: c.enrolled_key for c in CHAINS})


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[int, int]]:
    """(batch index, worker) pairs: every batch at least once, some twice, any order."""
    indices = list(range(len(BATCHES)))
    indices += draw(st.lists(st.sampled_from(indices), max_size=4))  # re-sends
    order = draw(st.permutations(indices))
    return [(i, draw(st.integers(0, 1))) for i in order]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_any_delivery_order_ends_with_the_whole_chain_accepted_once(
    plan: list[tuple[int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.sqlite"
        stores = [VerifierStore(path, synchronous="normal") for _ in range(2)]
        try:
            workers = [BatchProcessor(s, TRUST, worker=f"w{i}") for i, s in enumerate(stores)]
            accepted: list[bytes] = []
            for index, worker in plan:
                gateway_id, payload = BATCHES[index]
                for verdict in workers[worker].handle(batch_topic(gateway_id), payload):
                    assert verdict.outcome is not Outcome.QUARANTINED, verdict
                    if verdict.outcome is Outcome.ACCEPTED:
                        assert verdict.header_hash is not None
                        accepted.append(verdict.header_hash)
            store = stores[0]
            assert len(accepted) == len(set(accepted)) == len(BATCHES)
            for chain in CHAINS:
                assert [s for _g, s, _h in store.accepted_batches(chain.gateway_id)] == list(
                    range(1, 7)
                )
            assert store.gaps() == [] and store.quarantined() == []
            assert store.reading_count() == 2 * len(BATCHES)
        finally:
            for s in stores:
                s.close()
