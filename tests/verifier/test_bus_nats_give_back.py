"""What a stopping NATS worker gives back reaches another worker at once, every time.

In process: a real 1-node nats-server (JetStream), the verifier's ``NatsBus`` pulling
from the durable consumer with ``ack_wait_s`` at 60 s. Each round a bus pulls every
batch, holds them (never settles) and is stopped while its pull loop keeps a lingering
pull request open on the empty stream; the next round's bus must get them all within a
few seconds. A batch given back (nak) into the stopping bus's own pull request, still
open on the server, would only return after ack_wait: the round fails.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats

from edgeseal.testing.nats_cluster import NatsCluster
from edgeseal.verifier.bus import Inbound
from edgeseal.verifier.bus_config import BusConfig
from edgeseal.verifier.bus_nats import NatsBus
from edgeseal.wire.topics import Topics

BATCHES = 8
ROUNDS = 8


def publish(servers: list[str], subjects: list[str]) -> None:
    async def run() -> None:
        nc = await nats.connect(servers=servers)
        try:
            js = nc.jetstream()
            for subject in subjects:
                await js.publish(subject, subject.encode())
        finally:
            await nc.close()

    asyncio.run(run())


def test_batches_given_back_on_stop_go_to_the_next_worker_at_once(tmp_path: Path) -> None:
    topics = Topics("edgeseal/v1")
    with NatsCluster(size=1, workdir=tmp_path / "nats") as cluster:
        config = BusConfig(
            kind="nats",
            servers=tuple(cluster.servers),
            stream="GIVE_BACK",
            replicas=1,
            ack_wait_s=60.0,
        )
        subjects = [f"edgeseal.v1.gw-{i}.batch" for i in range(BATCHES)]
        for round_ in range(ROUNDS):
            got: list[Inbound] = []  # list.append: safe from the bus thread
            bus = NatsBus(config, topics, name=f"w{round_}", deliver=got.append, max_outstanding=64)
            bus.start()
            try:
                assert bus.ready.wait(30), bus.failure
                if round_ == 0:
                    publish(cluster.servers, subjects)
                want = {s.replace(".", "/") for s in subjects}
                deadline = time.monotonic() + 10
                while {i.topic for i in list(got)} != want and time.monotonic() < deadline:
                    time.sleep(0.02)
                missing = want - {i.topic for i in list(got)}
                assert not missing, (
                    f"round {round_}: {sorted(missing)} not delivered again within 10 s "
                    "(ack_wait is 60 s: given back into a pull request of the stopped worker)"
                )
                # Stop at a different point of the bus's lingering pull (1 s) each round.
                time.sleep(0.13 * round_)
            finally:
                bus.stop()
