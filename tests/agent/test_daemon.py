"""The `edgeseal agent` and `edgeseal keygen` processes: start-up errors, clean stop, key rotation."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

from agent_helpers import (
    Subscriber,
    check_stream,
    make_key,
    run_agent_cli,
    start_agent,
    write_config,
)

from edgeseal.agent.identity import load_key
from edgeseal.agent.outbox import Outbox
from edgeseal.testing.broker import MosquittoBroker, free_port
from edgeseal.testing.devices import simulated_device

GW = "gw-daemon"


# --- keygen ---------------------------------------------------------------------------------


def test_keygen_writes_0600_prints_key_id_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "gw.key"
    out = run_agent_cli("keygen", "--out", str(path))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_key(path)
    assert f"public key: {key.public_key.hex()}" in out.stdout
    assert f"key id:     {key.key_id.hex()}" in out.stdout
    before = path.read_bytes()
    again = run_agent_cli("keygen", "--out", str(path))
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert path.read_bytes() == before


# --- start-up errors: exit status 2 and one message naming the problem -----------------------


def _config(tmp_path: Path, **kw: object) -> Path:
    args: dict[str, object] = {
        "gateway_id": GW,
        "key_path": tmp_path / "gw.key",
        "outbox_path": tmp_path / "outbox.sqlite",
        "broker_port": free_port(),
    }
    args.update(kw)
    return write_config(tmp_path / "agent.toml", **args)  # type: ignore[arg-type]


def _start_fails(config: Path, *needles: str) -> None:
    out = run_agent_cli("agent", "--config", str(config))
    assert out.returncode == 2, (out.returncode, out.stderr)
    for needle in needles:
        assert needle in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    _start_fails(tmp_path / "nope.toml", "nope.toml does not exist")


def test_bad_config_values(tmp_path: Path) -> None:
    make_key(tmp_path / "gw.key")
    _start_fails(_config(tmp_path, max_readings=0), "batch.max_readings = 0 is outside [1, 65535]")
    _start_fails(_config(tmp_path, gateway_id="gw/1"), "gateway.id 'gw/1' is invalid")
    _start_fails(
        _config(tmp_path, extra="[mqtt.tls]\nca_file = 'missing-ca.pem'\n"), "mqtt.tls.ca_file"
    )
    (tmp_path / "broken.toml").write_text("[gateway\nid = 1\n")
    _start_fails(tmp_path / "broken.toml", "is not valid TOML")


def test_missing_or_unreadable_key_file(tmp_path: Path) -> None:
    _start_fails(_config(tmp_path), "does not exist", "edgeseal keygen --out")
    (tmp_path / "gw.key").mkdir()
    _start_fails(_config(tmp_path), "is not a regular file")


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    make_key(tmp_path / "gw.key")
    os.chmod(tmp_path / "gw.key", 0o644)
    _start_fails(_config(tmp_path), "mode 0644", "chmod 600")


def test_key_file_with_garbage_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "gw.key"
    key.write_bytes(b"not a key")
    os.chmod(key, 0o600)
    _start_fails(_config(tmp_path), "not an unencrypted PEM private key")


def test_outbox_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    make_key(tmp_path / "gw.key")
    ob = Outbox(tmp_path / "outbox.sqlite", gateway_id=GW, max_bytes=1 << 20)
    ob.set_active_key_id(b"\x05" * 16)
    ob.close()
    _start_fails(_config(tmp_path), "signed by key id 0505", "gateway.key_path holds")


def test_check_mode_summarises(tmp_path: Path) -> None:
    key = make_key(tmp_path / "gw.key")
    out = run_agent_cli("agent", "--config", str(_config(tmp_path)), "--check")
    assert out.returncode == 0, out.stderr
    assert key.key_id.hex() in out.stdout and "chain at batch 0" in out.stdout


# --- running: SIGTERM flushes; key rotation -------------------------------------------------


def _run_for(config: Path, log: Path, seconds: float) -> int:
    agent = start_agent(config, log)
    time.sleep(seconds)
    agent.send_signal(signal.SIGTERM)
    return agent.wait(30)


def test_sigterm_flushes_and_key_rotation_is_announced_then_used(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    old = make_key(tmp_path / "old.key")
    new = make_key(tmp_path / "new.key")
    log = tmp_path / "agent.log"
    common = {
        "gateway_id": GW,
        "outbox_path": tmp_path / "outbox.sqlite",
        "broker_port": mqtt_broker.port,
        "max_readings": 50,
        "max_delay_s": 5.0,
    }
    with (
        Subscriber(mqtt_broker.host, mqtt_broker.port) as sub,
        simulated_device(device_id=21, rate=200, link=tmp_path / "ttyDEV21") as dev,
    ):
        cfg = write_config(
            tmp_path / "a.toml", key_path=tmp_path / "old.key", ports=[dev.port], **common
        )
        assert _run_for(cfg, log, 2.0) == 0
        # SIGTERM sealed the readings waiting for the 5 s delay and waited for their PUBACK:
        ob = Outbox(tmp_path / "outbox.sqlite", gateway_id=GW, max_bytes=1 << 20)
        assert ob.pending_count == 0 and ob.batch_count == 0
        first_run_batches = ob.chain_head().seq
        ob.close()
        assert first_run_batches >= 1
        statuses = [json.loads(s) for s in sub.statuses]
        assert statuses[-1]["state"] == "offline" and statuses[-1]["reason"] == "shutdown"

        cfg = write_config(
            tmp_path / "b.toml",
            key_path=tmp_path / "old.key",
            next_key_path=tmp_path / "new.key",
            ports=[dev.port],
            **common,
        )
        assert _run_for(cfg, log, 2.0) == 0
        # After the rotation the old key alone no longer matches the chain.
        out = run_agent_cli("agent", "--config", str(tmp_path / "a.toml"), "--check")
        assert out.returncode == 2 and new.key_id.hex() in out.stderr

        cfg = write_config(
            tmp_path / "c.toml", key_path=tmp_path / "new.key", ports=[dev.port], **common
        )
        assert _run_for(cfg, log, 1.5) == 0
        dev.stop()
        acked = dev.acked_keys()
    report = check_stream(sub.snapshot(), old.public_key, gateway_id=GW)
    announcing = [b for b in report.batches.values() if b.header.next_public_key is not None]
    assert len(announcing) == 1 and announcing[0].header.next_public_key == new.public_key
    rotation_seq = announcing[0].header.seq
    assert first_run_batches < rotation_seq < max(report.batches)
    assert acked <= report.reading_keys()
