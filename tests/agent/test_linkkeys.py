"""Per-device HMAC link keys: file format, permissions, and a real authenticated device."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from agent_helpers import Subscriber, check_stream, make_key, start_agent, write_config

from edgeseal.agent.identity import KeyFileError
from edgeseal.agent.linkkeys import load_link_keys, parse_link_keys
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device

KEY7 = bytes(range(32))


def test_parse_link_keys() -> None:
    text = f"# comment\n\n7 {KEY7.hex()}\n0x2a {KEY7[::-1].hex()}  # trailing comment\n"
    assert parse_link_keys(text, "f") == {7: KEY7, 42: KEY7[::-1]}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("7", "expected '<device id> <64 hex digits>'"),
        (f"seven {KEY7.hex()}", "device id 'seven' is not a number"),
        (f"{2**32} {KEY7.hex()}", "outside u32"),
        ("7 zz", "not hex"),
        ("7 abcd", "is 2 bytes"),
        (f"7 {KEY7.hex()}\n7 {KEY7.hex()}", "listed twice"),
    ],
)
def test_bad_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(KeyFileError, match="keys:1|keys:2") as err:
        parse_link_keys(line, "keys")
    assert message in str(err.value)


def test_permissions_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "link-keys"
    path.write_text(f"7 {KEY7.hex()}\n")
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="mode 0640"):
        load_link_keys(path)
    path.chmod(0o600)
    assert load_link_keys(path) == {7: KEY7}
    with pytest.raises(KeyFileError, match="does not exist"):
        load_link_keys(tmp_path / "missing")


def test_authenticated_device_streams_and_a_wrong_key_is_refused(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    key = make_key(tmp_path / "gw.key")
    keys_file = tmp_path / "link-keys"
    keys_file.write_text(f"7 {KEY7.hex()}\n8 {KEY7.hex()}\n")
    os.chmod(keys_file, 0o600)
    log = tmp_path / "agent.log"
    with (
        Subscriber(mqtt_broker.host, mqtt_broker.port) as sub,
        simulated_device(device_id=7, rate=100, link=tmp_path / "tty7", key=KEY7.hex()) as good,
        simulated_device(device_id=8, rate=100, link=tmp_path / "tty8", key=bytes(32).hex()) as bad,
    ):
        cfg = write_config(
            tmp_path / "agent.toml",
            gateway_id="gw-auth",
            key_path=tmp_path / "gw.key",
            outbox_path=tmp_path / "outbox.sqlite",
            broker_port=mqtt_broker.port,
            ports=[good.port, bad.port],
            extra=f'[devices]\nlink_keys_path = "{keys_file}"\n',
        )
        agent = start_agent(cfg, log)
        time.sleep(2.5)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
        good.stop()
        bad.stop()
    report = check_stream(sub.snapshot(), key.public_key, gateway_id="gw-auth")
    devices = {r.device_id for r in report.readings}
    assert devices == {7}, "only the device with the right link key gets through"
    acked = good.acked_keys()
    assert acked and acked <= report.reading_keys()
    assert all(b["acked"] == 0 for b in bad.summary["boots"])
