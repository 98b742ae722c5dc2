"""The verifier's NATS bus over TLS and with credentials (``[bus]`` tls_*, username and
EDGESEAL_NATS_PASSWORD, EDGESEAL_NATS_TOKEN, creds_file; issue 15).

Real processes: a one-node nats-server (JetStream, MQTT listener) whose client port
speaks TLS only with a certificate of a CA made by the test, and which wants a user
and password, a token or a client certificate; `edgeseal verifier` workers as child
processes. What the server saw is read from its monitoring endpoint (``/connz``: the
TLS version and the user of each connection), not taken from the worker's word. A
refusal that retrying cannot cure stops the worker with exit status 2 and a message
naming the setting to fix, and no secret reaches its log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from verifier_builders import GatewayChain, config_toml
from verifier_mqtt import ProcessWorker, wait_until

from edgeseal.plumbing.config_toml import ConfigError, Section
from edgeseal.testing.nats_cluster import NatsCluster
from edgeseal.testing.secure_broker import Pki, make_pki
from edgeseal.verifier.bus_config import BUS_KEYS, BusConfig, parse_bus
from edgeseal.verifier.bus_nats import BusStartError, auth_options, tls_context
from edgeseal.verifier.config import config_from_mapping, load_config
from edgeseal.verifier.store import VerifierStore
from edgeseal.wire.topics import Topics

READY = "consuming batches from NATS stream"
# Distinctive, so that finding it in a log means it leaked.
PASSWORD = "pw-7f3a9c-verifier-only"
WRONG_PASSWORD = "pw-0b1d2e-not-the-one"
TOKEN = "tok-5e8d1a-verifier-only"
USERS = {"verifier": PASSWORD, "gateway": "pw-gateway"}
STOP_WITHIN_S = 30.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA, which signed neither the server nor our client."""
    return make_pki(tmp_path_factory.mktemp("stranger"), client_name="stranger")


@pytest.fixture
def secure(tmp_path: Path, pki: Pki) -> Iterator[NatsCluster]:
    """TLS on the client port and two users; MQTT clients without credentials are 'gateway'."""
    with NatsCluster(
        size=1, workdir=tmp_path / "nats", pki=pki, users=USERS, mqtt_no_auth_user="gateway"
    ) as cluster:
        yield cluster


def write_config(
    tmp_path: Path,
    cluster: NatsCluster,
    bus: str,
    *,
    gateways: dict[str, bytes] | None = None,
    name: str = "verifier.toml",
) -> Path:
    servers = ", ".join(f'"{url}"' for url in cluster.servers)
    text = config_toml(tmp_path / "verifier.sqlite", gateways or {}, port=1)
    path = tmp_path / name
    path.write_text(
        text
        + f'\n[bus]\nkind = "nats"\nservers = [{servers}]\nstream = "BATCHES"\n'
        + "replicas = 1\nack_wait_s = 10.0\n"
        + bus
    )
    return path


def start_worker(
    config: Path, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, **env: str
) -> ProcessWorker:
    """A worker whose environment holds exactly the NATS secrets in ``env``."""
    with monkeypatch.context() as m:  # ProcessWorker copies os.environ when it starts
        for variable in ("EDGESEAL_NATS_PASSWORD", "EDGESEAL_NATS_TOKEN"):
            m.delenv(variable, raising=False)
        for variable, value in env.items():
            m.setenv(variable, value)
        return ProcessWorker(config, name, tmp_path / f"{name}.log")


def wait_ready(worker: ProcessWorker) -> None:
    wait_until(lambda: READY in worker.log_text() or worker.process.poll() is not None, 60, "ready")
    assert worker.process.poll() is None, worker.log_text()[-3000:]


def connection(cluster: NatsCluster, name: str) -> dict[str, object]:
    """What nats-server says of the client connection called ``name``."""
    for conn in cluster.nodes[0].monitor("/connz?auth=true").get("connections") or []:
        if conn.get("name") == name:
            return dict(conn)
    raise AssertionError(f"nats-server has no connection named {name!r}")


def publish(cluster: NatsCluster, topics: Topics, chain: GatewayChain, count: int) -> None:
    """``count`` batches of ``chain`` over MQTT 3.1.1 to the MQTT listener, QoS 1."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"pub-{chain.gateway_id}",
        protocol=mqtt.MQTTv311,
    )
    if cluster.mqtt_credentials is not None:
        client.username_pw_set(*cluster.mqtt_credentials)
    client.connect("127.0.0.1", cluster.nodes[0].mqtt_port)
    client.loop_start()
    try:
        sent = [
            client.publish(topics.batch(chain.gateway_id), batch.to_payload(), qos=1)
            for batch in chain.batches(count)
        ]
        for info in sent:
            info.wait_for_publish(20)
            assert info.is_published(), "nats-server did not acknowledge a batch"
    finally:
        client.loop_stop()
        client.disconnect()


def accepted(tmp_path: Path, gateway_id: str, count: int) -> None:
    with VerifierStore(tmp_path / "verifier.sqlite") as store:
        wait_until(lambda: len(store.accepted_batches(gateway_id)) == count, 30, "every batch")
        assert store.quarantined() == []


# -- against nats-server ------------------------------------------------------------------


def test_tls_and_a_password_carry_batches_and_the_password_stays_out_of_the_log(
    tmp_path: Path, secure: NatsCluster, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = GatewayChain("gw-tls")
    # The CA by a path relative to the configuration file, as an operator writes it.
    local = tmp_path / "conf"
    local.mkdir()
    (local / "ca.pem").write_bytes(pki.ca.read_bytes())
    config = write_config(
        local,
        secure,
        'tls_ca_file = "ca.pem"\nusername = "verifier"\n',
        gateways={chain.gateway_id: chain.enrolled_key},
    )
    worker = start_worker(config, tmp_path, "w-tls", monkeypatch, EDGESEAL_NATS_PASSWORD=PASSWORD)
    try:
        wait_ready(worker)
        seen = connection(secure, "w-tls")
        assert str(seen.get("tls_version", "")).startswith("1."), seen
        assert seen.get("authorized_user") == "verifier", seen
        # The gateways' side: MQTT without credentials, as the no_auth_user "gateway".
        publish(secure, Topics(), chain, 20)
        accepted(local, chain.gateway_id, 20)
        assert worker.stop() == 0, worker.log_text()[-3000:]
    finally:
        if worker.process.poll() is None:
            worker.kill()
    log = worker.log_text()
    assert "(TLS, user 'verifier')" in log, log[-3000:]
    assert PASSWORD not in log


def test_a_wrong_password_stops_the_worker_naming_the_settings_without_logging_it(
    tmp_path: Path, secure: NatsCluster, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = f'tls_ca_file = "{pki.ca}"\nusername = "verifier"\n'
    config = write_config(tmp_path, secure, bus)
    wrong = start_worker(
        config, tmp_path, "w-wrong", monkeypatch, EDGESEAL_NATS_PASSWORD=WRONG_PASSWORD
    )
    # No credentials at all: the server wants some.
    config_none = write_config(tmp_path, secure, f'tls_ca_file = "{pki.ca}"\n', name="none.toml")
    none = start_worker(config_none, tmp_path, "w-none", monkeypatch)
    log = wrong.refusal(STOP_WITHIN_S)
    assert (
        "NATS: the server refused the credentials (authorization violation): check "
        "bus.username ('verifier') and EDGESEAL_NATS_PASSWORD; stopping"
    ) in log, log[-3000:]
    assert WRONG_PASSWORD not in log and PASSWORD not in log
    log = none.refusal(STOP_WITHIN_S)
    assert "the server wants credentials (authorization violation): set bus.username" in log


def test_a_ca_that_did_not_sign_the_server_or_another_host_name_stops_the_worker(
    tmp_path: Path, secure: NatsCluster, pki: Pki, stranger: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = 'username = "verifier"\n'
    config = write_config(tmp_path, secure, f'tls_ca_file = "{stranger.ca}"\n' + bus)
    # The right CA, but the server's certificate names 127.0.0.1 only.
    by_name = write_config(tmp_path, secure, f'tls_ca_file = "{pki.ca}"\n' + bus, name="name.toml")
    by_name.write_text(by_name.read_text().replace("tls://127.0.0.1:", "tls://localhost:"))
    worker = start_worker(config, tmp_path, "w-ca", monkeypatch, EDGESEAL_NATS_PASSWORD=PASSWORD)
    named = start_worker(by_name, tmp_path, "w-name", monkeypatch, EDGESEAL_NATS_PASSWORD=PASSWORD)
    log = worker.refusal(STOP_WITHIN_S)
    assert "the server's certificate does not verify against bus.tls_ca_file" in log, log[-3000:]
    assert "set bus.tls_ca_file to the CA that signed" in log
    assert PASSWORD not in log
    log = named.refusal(STOP_WITHIN_S)
    assert "the server's certificate is not for the host name or address in bus.servers" in (log), (
        log[-3000:]
    )
    assert PASSWORD not in log


def test_a_client_certificate_gets_in_where_the_server_wants_one_and_none_is_refused(
    tmp_path: Path, pki: Pki, stranger: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    with NatsCluster(size=1, workdir=tmp_path / "nats", pki=pki, verify_clients=True) as cluster:
        chain = GatewayChain("gw-mtls")
        with_cert = write_config(
            tmp_path,
            cluster,
            f'tls_ca_file = "{pki.ca}"\ntls_cert_file = "{pki.client_cert}"\n'
            f'tls_key_file = "{pki.client_key}"\n',
            gateways={chain.gateway_id: chain.enrolled_key},
        )
        without = write_config(
            tmp_path, cluster, f'tls_ca_file = "{pki.ca}"\n', name="no-cert.toml"
        )
        foreign = write_config(
            tmp_path,
            cluster,
            f'tls_ca_file = "{pki.ca}"\ntls_cert_file = "{stranger.client_cert}"\n'
            f'tls_key_file = "{stranger.client_key}"\n',
            name="foreign.toml",
        )
        good = start_worker(with_cert, tmp_path, "w-cert", monkeypatch)
        bare = start_worker(without, tmp_path, "w-bare", monkeypatch)
        alien = start_worker(foreign, tmp_path, "w-alien", monkeypatch)
        try:
            log = bare.refusal(STOP_WITHIN_S)
            assert "it wants a client certificate: set bus.tls_cert_file and bus.tls_key_file" in (
                log
            ), log[-3000:]
            log = alien.refusal(STOP_WITHIN_S)
            assert "the server refused the client certificate" in log, log[-3000:]
            assert "check bus.tls_cert_file and bus.tls_key_file" in log
            wait_ready(good)
            assert str(connection(cluster, "w-cert").get("tls_version", "")).startswith("1.")
            publish(cluster, Topics(), chain, 5)
            accepted(tmp_path, chain.gateway_id, 5)
            assert good.stop() == 0, good.log_text()[-3000:]
        finally:
            if good.process.poll() is None:
                good.kill()


def test_a_token_logs_in_and_gateways_give_it_as_their_mqtt_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with NatsCluster(size=1, workdir=tmp_path / "nats", token=TOKEN) as cluster:
        chain = GatewayChain("gw-token")
        config = write_config(
            tmp_path, cluster, "", gateways={chain.gateway_id: chain.enrolled_key}
        )
        worker = start_worker(config, tmp_path, "w-token", monkeypatch, EDGESEAL_NATS_TOKEN=TOKEN)
        wrong = start_worker(
            config, tmp_path, "w-token-wrong", monkeypatch, EDGESEAL_NATS_TOKEN=WRONG_PASSWORD
        )
        try:
            log = wrong.refusal(STOP_WITHIN_S)
            assert (
                "refused the credentials (authorization violation): check EDGESEAL_NATS_TOKEN"
                in (log)
            ), log[-3000:]
            assert WRONG_PASSWORD not in log
            wait_ready(worker)
            publish(cluster, Topics(), chain, 5)
            accepted(tmp_path, chain.gateway_id, 5)
            assert worker.stop() == 0, worker.log_text()[-3000:]
        finally:
            if worker.process.poll() is None:
                worker.kill()
        assert TOKEN not in worker.log_text()


def test_with_tls_configured_a_server_without_tls_gets_no_credentials(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py upgrades to TLS only when the server asks; this one does not (as someone
    in the path could pretend), and would accept the password in clear."""
    with NatsCluster(size=1, workdir=tmp_path / "nats", users=USERS) as cluster:
        config = write_config(
            tmp_path, cluster, f'tls_ca_file = "{pki.ca}"\nusername = "verifier"\n'
        )
        worker = start_worker(
            config, tmp_path, "w-plain", monkeypatch, EDGESEAL_NATS_PASSWORD=PASSWORD
        )
        log = worker.refusal(STOP_WITHIN_S)
        assert "the server offers no TLS, but TLS is configured" in log, log[-3000:]
        assert "no credentials were sent to it" in log
        # nats-server never saw a login as the verifier: nothing but refusals.
        connections = cluster.nodes[0].monitor("/connz?auth=true").get("connections") or []
        assert not [c for c in connections if c.get("authorized_user") == "verifier"]


# -- [bus] settings ---------------------------------------------------------------------


def parse(tmp_path: Path, bus: dict[str, object], **env: str) -> BusConfig:
    return parse_bus(Section("bus", bus, BUS_KEYS, base=tmp_path), Topics(), env=env)


def test_tls_files_are_checked_at_load_and_taken_from_the_config_directory(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    nats = {"kind": "nats", "servers": ["nats://127.0.0.1:4222"]}
    with pytest.raises(ConfigError, match=r"bus.tls_ca_file = '.*missing.pem' is not a readable"):
        parse(tmp_path, {**nats, "tls_ca_file": "missing.pem"})
    with pytest.raises(ConfigError, match="bus.tls_cert_file and bus.tls_key_file go together"):
        parse(tmp_path, {**nats, "tls_ca_file": str(pki.ca), "tls_cert_file": str(pki.client_cert)})
    with pytest.raises(ConfigError, match="bus.tls_key_file = '.*' is not a readable"):
        parse(
            tmp_path,
            {
                **nats,
                "tls_ca_file": str(pki.ca),
                "tls_cert_file": str(pki.client_cert),
                "tls_key_file": "k",
            },
        )
    client = {"tls_cert_file": str(pki.client_cert), "tls_key_file": str(pki.client_key)}
    with pytest.raises(ConfigError, match="a client certificate needs TLS"):
        parse(tmp_path, {**nats, **client})
    # tls:// alone turns TLS on (with the system's CAs).
    tls_only = parse(tmp_path, {"kind": "nats", "servers": ["tls://n1:4222"], **client})
    assert tls_only.tls and tls_only.tls_ca_file is None
    assert not parse(tmp_path, nats).tls
    with pytest.raises(ConfigError, match="ws:// is plain WebSocket: use wss://"):
        parse(tmp_path, {"kind": "nats", "servers": ["ws://n1:80"], "tls_ca_file": str(pki.ca)})
    # Relative to the configuration file's directory, via the real loader.
    conf_dir = tmp_path / "etc"
    (conf_dir / "tls").mkdir(parents=True)
    for source, name in ((pki.ca, "ca.pem"), (pki.client_cert, "c.pem"), (pki.client_key, "c.key")):
        (conf_dir / "tls" / name).write_bytes(source.read_bytes())
    path = conf_dir / "verifier.toml"
    path.write_text(
        '[bus]\nkind = "nats"\ntls_ca_file = "tls/ca.pem"\ntls_cert_file = "tls/c.pem"\n'
        'tls_key_file = "tls/c.key"\nusername = "verifier"\n'
    )
    monkeypatch.setenv("EDGESEAL_NATS_PASSWORD", PASSWORD)
    monkeypatch.delenv("EDGESEAL_NATS_TOKEN", raising=False)
    bus = load_config(path).bus
    assert bus.tls_ca_file == conf_dir / "tls" / "ca.pem"
    assert bus.tls_key_file == conf_dir / "tls" / "c.key"
    assert bus.password == PASSWORD and PASSWORD not in repr(bus)
    context = tls_context(bus)
    assert context is not None and context.check_hostname
    assert context.minimum_version.name == "TLSv1_2"
    # A key that is not the certificate's: said at start, naming both keys.
    mismatched = parse(
        tmp_path,
        {
            **nats,
            "tls_ca_file": str(pki.ca),
            "tls_cert_file": str(pki.client_cert),
            "tls_key_file": str(pki.server_key),
        },
    )
    with pytest.raises(
        BusStartError, match="cannot use bus.tls_cert_file .* with bus.tls_key_file"
    ):
        tls_context(mismatched)
    not_a_ca = parse(tmp_path, {**nats, "tls_ca_file": str(pki.client_key)})
    with pytest.raises(BusStartError, match="bus.tls_ca_file .* holds no usable CA"):
        tls_context(not_a_ca)


def test_credentials_come_from_the_environment_and_one_way_to_log_in_is_chosen(
    tmp_path: Path,
) -> None:
    nats = {"kind": "nats"}
    user = parse(tmp_path, {**nats, "username": "verifier"}, EDGESEAL_NATS_PASSWORD=PASSWORD)
    assert auth_options(user) == {"user": "verifier", "password": PASSWORD}
    assert PASSWORD not in repr(user) and user.auth == "user 'verifier'"
    token = parse(tmp_path, nats, EDGESEAL_NATS_TOKEN=TOKEN)
    assert auth_options(token) == {"token": TOKEN} and TOKEN not in repr(token)
    assert auth_options(parse(tmp_path, nats)) == {}
    with pytest.raises(
        ConfigError, match="give the password in the environment variable EDGESEAL_NATS_PASSWORD"
    ):
        parse(tmp_path, {**nats, "username": "verifier"})
    with pytest.raises(ConfigError, match="EDGESEAL_NATS_PASSWORD is set but bus.username is not"):
        parse(tmp_path, nats, EDGESEAL_NATS_PASSWORD=PASSWORD)
    for key, variable in (("password", "EDGESEAL_NATS_PASSWORD"), ("token", "EDGESEAL_NATS_TOKEN")):
        with pytest.raises(ConfigError, match=f"bus.{key}: secrets are not kept .* {variable}"):
            parse(tmp_path, {**nats, "username": "verifier", key: "in-the-file"})
    with pytest.raises(ConfigError, match="bus.username and EDGESEAL_NATS_TOKEN: choose one"):
        parse(
            tmp_path,
            {**nats, "username": "verifier"},
            EDGESEAL_NATS_PASSWORD=PASSWORD,
            EDGESEAL_NATS_TOKEN=TOKEN,
        )
    with pytest.raises(ConfigError, match="put no credentials in a server URL") as refused:
        parse(tmp_path, {**nats, "servers": [f"nats://verifier:{PASSWORD}@n1:4222"]})
    assert PASSWORD not in str(refused.value)
    # A credentials file: present, and shaped as nsc writes one.
    with pytest.raises(ConfigError, match="bus.creds_file = '.*' is not a readable file"):
        parse(tmp_path, {**nats, "creds_file": "user.creds"})
    (tmp_path / "user.creds").write_text("not a credentials file\n")
    with pytest.raises(ConfigError, match="is not a NATS credentials file"):
        parse(tmp_path, {**nats, "creds_file": "user.creds"})
    (tmp_path / "user.creds").write_text(
        "-----BEGIN NATS USER JWT-----\neyJ0eXAi.e30.c2ln\n------END NATS USER JWT------\n\n"
        "-----BEGIN USER NKEY SEED-----\nSUAEXAMPLE\n------END USER NKEY SEED------\n"
    )
    creds = parse(tmp_path, {**nats, "creds_file": "user.creds"})
    assert auth_options(creds) == {"user_credentials": str(tmp_path / "user.creds")}
    with pytest.raises(ConfigError, match="bus.username and bus.creds_file: choose one"):
        parse(
            tmp_path,
            {**nats, "creds_file": "user.creds", "username": "v"},
            EDGESEAL_NATS_PASSWORD="p",
        )


def test_the_new_keys_are_for_nats_only(tmp_path: Path, pki: Pki) -> None:
    for key, value in (
        ("tls_ca_file", str(pki.ca)),
        ("username", "verifier"),
        ("creds_file", "user.creds"),
        ("tls_cert_file", str(pki.client_cert)),
    ):
        with pytest.raises(ConfigError, match=rf"\[bus\] {key}: only used with kind = \"nats\""):
            config_from_mapping({"bus": {"kind": "mqtt", key: value}})
    # With the MQTT bus the NATS secrets in the environment are not looked at.
    mqtt_bus = parse(tmp_path, {"kind": "mqtt"}, EDGESEAL_NATS_PASSWORD=PASSWORD)
    assert mqtt_bus.password is None and not mqtt_bus.nats
