"""Per-gateway write locks on PostgreSQL (store_postgres.py, "Locking"), on a real server:
writers of different gateways commit while each other's transactions are open, writers of
one gateway wait for each other, and the transparency log stays gap-free in commit order."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator

import pytest
from verifier_builders import GatewayChain, batch_topic

from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.checks import check_contents
from edgeseal.verifier.limits import StoreLimits
from edgeseal.verifier.store import VerifierStore
from edgeseal.wire.batch import SealedBatch


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def _accept(store: VerifierStore, chain: GatewayChain, sealed: SealedBatch) -> int:
    """Accept one batch of ``chain`` (inside ``store.write()``), as the pipeline does."""
    records = check_contents(sealed).records
    assert records is not None
    state = store.chain_state(chain.gateway_id, chain.enrolled_key)
    assert state.next_seq == sealed.header.seq
    return store.accept(
        state=state,
        sealed=sealed,
        records=records,
        public_key=chain.public_key,
        payload=sealed.to_payload(),
        worker="test",
    )


def _log(store: VerifierStore) -> list[tuple[int, int]]:
    rows = store._conn.execute(
        "SELECT log_index, batch_id FROM log_entries ORDER BY log_index"
    ).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def test_writers_of_other_gateways_commit_while_a_gateway_is_locked(
    postgres: PostgresServer,
) -> None:
    """Writer A keeps gateway X's transaction open (a batch accepted, not committed);
    writer B commits gateway Y's batch meanwhile (under one store-wide lock it would wait
    for A and time out), and waits for X. The log's indexes follow the commit order:
    B's entry first, A's second."""
    url = postgres.create_database("per_gateway")
    x, y = GatewayChain(gateway_id="gw-x"), GatewayChain(gateway_id="gw-y")
    bx, by = x.next_batch(), y.next_batch()
    with (
        VerifierStore(url) as a,
        VerifierStore(url, busy_timeout_s=2.0) as b,
        VerifierStore(url, busy_timeout_s=0.3) as impatient,
    ):
        with a.write(["gw-x"]):
            id_x = _accept(a, x, bx)
            with b.write(["gw-y"]):
                id_y = _accept(b, y, by)
            assert b.accepted_batches("gw-y") == [("gw-y", 1, by.hash)]
            assert _log(b) == [(0, id_y)]
            # X is A's until it commits: its writers, and a writer of every gateway, wait.
            for gateways in (["gw-x"], ["gw-y", "gw-x"], None):
                with (
                    pytest.raises(sqlite3.OperationalError, match="lock timeout"),
                    impatient.write(gateways),
                ):
                    pass
            assert b.accepted_batches("gw-x") == []  # not committed yet
        assert _log(b) == [(0, id_y), (1, id_x)]
        assert a.log.size() == 2


def _quarantine_one(store: VerifierStore, chain: GatewayChain) -> None:
    store.quarantine(
        gateway_id=chain.gateway_id,
        seq=1,
        header_hash=chain.next_batch().hash,
        reason="bad-signature",
        detail="test",
        topic=batch_topic(chain.gateway_id),
        payload=b"refused",
        worker="a",
        keep_payload=False,
        budget=chain.gateway_id,
        limits=StoreLimits(),
    )


def _read_held_usage(store: VerifierStore, chain: GatewayChain) -> None:
    assert store.held_usage(chain.gateway_id) == (0, 0, 0)


@pytest.mark.parametrize("shared", [_quarantine_one, _read_held_usage])
def test_what_all_gateways_share_is_read_under_the_log_lock_to_commit(
    postgres: PostgresServer, shared: Callable[[VerifierStore, GatewayChain], None]
) -> None:
    """The quarantine's budgets and the bytes held in all are shared by every gateway: a
    writer that quarantined, or checked the held limits, keeps the log lock to its
    COMMIT, so another gateway's writer cannot append its log entry meanwhile; it fails
    after its busy timeout with nothing stored, and succeeds afterwards."""
    url = postgres.create_database(f"shared_{shared.__name__.strip('_')}")
    x, y = GatewayChain(gateway_id="gw-x"), GatewayChain(gateway_id="gw-y")
    by = y.next_batch()
    with VerifierStore(url) as a, VerifierStore(url, busy_timeout_s=0.3) as b:
        with a.write(["gw-x"]):
            shared(a, x)
            with pytest.raises(sqlite3.OperationalError, match="lock timeout"), b.write(["gw-y"]):
                _accept(b, y, by)
            assert b.accepted_batches("gw-y") == []
        with b.write(["gw-y"]):
            _accept(b, y, by)
        assert b.log.size() == 1


def _group_worker(
    url: str, keys: dict[str, bytes], groups: list[list[tuple[str, bytes]]], name: str
) -> None:
    from edgeseal.verifier.pipeline import BatchProcessor
    from edgeseal.verifier.trust import TrustStore

    with VerifierStore(url) as store:
        proc = BatchProcessor(store, TrustStore(keys), worker=name)
        for group in groups:
            proc.handle_many(group)


def test_two_processes_on_overlapping_gateways_keep_chains_and_the_log_whole(
    postgres: PostgresServer,
) -> None:
    """Two processes settle groups of messages of several gateways each, in opposite
    orders (locks taken in any other order than one global one would deadlock), every
    batch sent to both and a fork of each gateway: each seq accepted once, no fork, and
    the log holds each accepted batch once at indexes 0..n-1, each gateway's batches in
    seq order (its seq N+1 commits after its seq N)."""
    url = postgres.create_database("groups")
    VerifierStore(url).close()
    chains = [GatewayChain(gateway_id=f"gw-{i}") for i in range(4)]
    per_gateway = 8
    batches = {c.gateway_id: c.batches(per_gateway) for c in chains}
    messages: list[tuple[str, bytes]] = []
    for i in range(per_gateway):
        for c in chains:
            messages.append((batch_topic(c.gateway_id), batches[c.gateway_id][i].to_payload()))
    forks: list[tuple[str, bytes]] = []
    for c in chains:
        rival = GatewayChain(gateway_id=c.gateway_id, key=c.key)
        rival.next_batch()
        rival.prev_hash = batches[c.gateway_id][0].hash
        forks.append((batch_topic(c.gateway_id), rival.next_batch(5).to_payload()))

    def grouped(items: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
        return [items[i : i + 4] for i in range(0, len(items), 4)]

    keys = {c.gateway_id: c.enrolled_key for c in chains}
    orders = [grouped(messages[:8] + forks + messages[8:]), grouped(list(reversed(messages)))]
    ctx = multiprocessing.get_context("fork")
    workers = [
        ctx.Process(target=_group_worker, args=(url, keys, order, f"w{n}"))
        for n, order in enumerate(orders)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    # The reversed order leaves batches held; a last pass (either worker would) settles them.
    _group_worker(url, keys, grouped(messages), "w2")
    with VerifierStore(url) as store:
        for c in chains:
            got = store.accepted_batches(c.gateway_id)
            assert got == [(c.gateway_id, b.header.seq, b.hash) for b in batches[c.gateway_id]]
        accepted = {h for _g, _s, h in store.accepted_batches()}
        assert {SealedBatch.from_payload(f[1]).hash for f in forks}.isdisjoint(accepted)
        total = len(chains) * per_gateway
        rows = store._conn.execute(
            "SELECT l.log_index, b.batch_id, b.gateway_id, b.seq, l.header_hash = b.header_hash"
            " FROM log_entries l JOIN batches b ON b.batch_id = l.batch_id ORDER BY l.log_index"
        ).fetchall()
        assert [r[0] for r in rows] == list(range(total))
        assert sorted(r[1] for r in rows) == sorted(
            int(r[0]) for r in store._conn.execute("SELECT batch_id FROM batches").fetchall()
        )
        assert all(r[4] for r in rows)
        for c in chains:
            assert [r[3] for r in rows if r[2] == c.gateway_id] == list(range(1, per_gateway + 1))
