"""The verifier on a disk that fills up (issue 11, item 9): one clear line, no traceback,
a non-zero exit, and nothing lost that it had acknowledged.

A real small filesystem (tmpfs, mounted for the test: the suite runs as root, as CI
does) holds the store; a real `edgeseal verifier` process stores batches published on
a real mosquitto until the disk is full. Then the disk gets room and the worker is
started again: the broker delivers what was never acknowledged, and the chain is
complete.
"""

from __future__ import annotations

from pathlib import Path

import tomli_w
from verifier_builders import GatewayChain, batch_topic
from verifier_mqtt import ProcessWorker, Publisher, VerdictListener, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.filesystems import resize, small_filesystem
from edgeseal.verifier.store import VerifierStore

GW = "gw-full"


def write_config(path: Path, store: Path, port: int, gateways: dict[str, bytes]) -> Path:
    config = {
        "mqtt": {"host": "127.0.0.1", "port": port, "session_expiry_s": 300, "keepalive_s": 10},
        "store": {"path": str(store), "synchronous": "full"},
        "gateways": {gw: key.hex() for gw, key in gateways.items()},
    }
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


def test_a_full_disk_stops_the_verifier_with_one_line_and_loses_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = GatewayChain(GW)
    with small_filesystem(tmp_path / "disk", "1m") as disk:
        store_path = disk / "verifier.sqlite"
        config = write_config(
            tmp_path / "verifier.toml", store_path, mqtt_broker.port, {GW: gw.enrolled_key}
        )
        listener = VerdictListener(mqtt_broker.port)
        publisher = Publisher(mqtt_broker.port)
        worker = ProcessWorker(config, "verifier-full", tmp_path / "verifier.log")
        restarted: ProcessWorker | None = None
        try:
            worker.wait_subscribed()
            published = 0
            # About 40 KiB per batch of 200 readings: a 1 MiB disk is full after ~25.
            while worker.process.poll() is None:
                assert published < 200, "the disk never filled up"
                publisher.publish(batch_topic(GW), gw.next_batch(200).to_payload())
                published += 1
                wait_until(
                    lambda n=published: (
                        len(listener.snapshot()) >= n or worker.process.poll() is not None
                    ),
                    30,
                    f"verdict {published} or the worker's exit",
                )
            status = worker.stop()
            log = worker.log_text()
            assert status == 1, log[-3000:]
            assert "Traceback" not in log, log[-3000:]
            errors = [line for line in log.splitlines() if " ERROR " in line]
            assert len(errors) == 1, errors
            assert "database or disk is full" in errors[0] and str(store_path) in errors[0], errors
            assert "not acknowledged" in errors[0], errors
            acknowledged = {v["seq"] for v in listener.snapshot() if v["verdict"] == "accepted"}
            assert len(acknowledged) >= 3 and len(acknowledged) < published, acknowledged

            # Every batch it acknowledged is in the store (read on the full disk).
            with VerifierStore(store_path) as store:
                stored = {seq for _g, seq, _h in store.accepted_batches(GW)}
            assert acknowledged <= stored, sorted(acknowledged - stored)

            # Room again: a restarted worker gets what was never acknowledged.
            resize(disk, "64m")
            restarted = ProcessWorker(config, "verifier-full", tmp_path / "verifier-2.log")
            restarted.wait_subscribed()
            with VerifierStore(store_path) as store:
                wait_until(
                    lambda: len(store.accepted_batches(GW)) == published,
                    60,
                    f"all {published} batches accepted",
                )
                seqs = [seq for _g, seq, _h in store.accepted_batches(GW)]
                assert seqs == list(range(1, published + 1))
                assert store.reading_count(GW) == 200 * published
                assert store.quarantined() == [] and store.gaps() == []
            assert restarted.stop() == 0, restarted.log_text()[-3000:]
        finally:
            for w in (worker, restarted):
                if w is not None and w.process.poll() is None:
                    w.kill()
            publisher.close()
            listener.close()
