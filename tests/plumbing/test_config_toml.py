"""One TOML parser, one ConfigError, one wording: the getters, and the agent and the
verifier giving the same message for the same mistake in their shared [mqtt] keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeseal.agent.config import ConfigError as AgentConfigError
from edgeseal.agent.config import parse_config
from edgeseal.plumbing.config_toml import ConfigError, Section, load_file, read_toml
from edgeseal.verifier.config import ConfigError as VerifierConfigError
from edgeseal.verifier.config import config_from_mapping


def test_one_error_type() -> None:
    assert AgentConfigError is ConfigError is VerifierConfigError


def section(data: dict[str, Any], known: set[str] | None = None) -> Section:
    return Section("s", data, known, base=Path("/etc/edgeseal"))


@pytest.mark.parametrize(
    ("data", "read", "message"),
    [
        ({"n": "1"}, lambda s: s.get_int("n", 0, 0, 9), "s.n must be an integer, got '1'"),
        ({"n": True}, lambda s: s.get_int("n", 0, 0, 9), "s.n must be an integer, got True"),
        ({"n": 10}, lambda s: s.get_int("n", 0, 0, 9), "s.n = 10 is outside [0, 9]"),
        ({"f": "x"}, lambda s: s.get_float("f", 1, 0, 9), "s.f must be a number, got 'x'"),
        ({"f": 0}, lambda s: s.get_float("f", 1, 0, 9, low_open=True), "s.f = 0 is outside (0, 9]"),
        ({}, lambda s: s.required_str("k"), "s.k is required"),
        ({"k": 1}, lambda s: s.get_str("k", ""), "s.k must be a string, got 1"),
        ({"p": ""}, lambda s: s.required_path("p"), "s.p must not be empty"),
        ({"c": "z"}, lambda s: s.get_choice("c", "a", ("a", "b")), 's.c = \'z\': use "a" or "b"'),
        ({"t": 3}, lambda s: s.table("t", set()), "[s.t] must be a table, got int"),
        ({}, lambda s: s.table("t", set(), required=True), "section [s.t] is missing"),
        ({"a": {}}, lambda s: s.tables("a", set()), "s.a must be an array of tables: [[s.a]]"),
    ],
)
def test_getters_name_the_key(data: dict[str, Any], read: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        read(section(data))
    assert str(err.value) == message


def test_values_and_paths() -> None:
    s = section({"n": 3, "f": 2, "p": "rel/x", "q": "/abs", "c": "FULL", "a": [{"k": "v"}]})
    assert s.get_int("n", 0, 0, 9) == 3 and s.get_int("m", 7, 0, 9) == 7
    assert s.get_float("f", 0, 0, 9) == 2.0 and isinstance(s.get_float("f", 0, 0, 9), float)
    assert s.required_path("p") == Path("/etc/edgeseal/rel/x") and s.get_path("q", "") == Path(
        "/abs"
    )
    assert s.optional_path("none") is None and s.get_path("d", "db") == Path("/etc/edgeseal/db")
    assert s.get_choice("c", "normal", ("full", "normal"), fold_case=True) == "full"
    [item] = s.tables("a", {"k"})
    assert item.name == "s.a[0]" and item.required_str("k") == "v"
    assert Section("s", {"p": "x"}, None, base=None).required_path("p") == Path("x")


def test_unknown_keys_and_sections_are_named() -> None:
    with pytest.raises(ConfigError, match=r"^\[s\] has unknown key\(s\) b, c; known keys: a$"):
        section({"a": 1, "b": 2, "c": 3}, {"a"})
    with pytest.raises(ConfigError, match=r"^unknown section\(s\) x; known: a, b$"):
        Section.top({"x": {}}, ("a", "b"), base=None)
    assert section({"any": 1}, None).data == {"any": 1}


def test_file_errors_say_which_file(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^cannot read agent config: .*missing\.toml does not exist$"
    ):
        read_toml(tmp_path / "missing.toml", "agent config")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff")
    with pytest.raises(ConfigError, match=r"^verifier config .*bad\.toml is not UTF-8$"):
        read_toml(bad, "verifier config")
    bad.write_text("[x")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML: "):
        read_toml(bad, "verifier config")
    bad.write_text("[x]\nk = 1\n")

    def parse(data: Any, base: Path) -> None:
        assert base == tmp_path.resolve()
        Section.top(data, (), base=base)

    with pytest.raises(ConfigError, match=r"^.*bad\.toml: unknown section\(s\) x; known: $"):
        load_file(bad, "test config", parse)


AGENT_BASE: dict[str, Any] = {
    "gateway": {"id": "gw-1", "key_path": "k"},
    "outbox": {"path": "o"},
}


@pytest.mark.parametrize(
    "mqtt",
    [
        {"port": 0},
        {"port": "1883"},
        {"protocol": "4"},
        {"host": ""},
        {"keepalive_s": 1},
        {"topic_prefix": "a/#"},
        {"password": "p"},
        {"reconnect_min_s": 5, "reconnect_max_s": 1},
        {"tls": {}},
        {"tls": {"ca_file": "/nonexistent/ca.pem"}},
        {"tls": {"ca_file": "x", "crl": "y"}},
    ],
)
def test_the_agent_and_the_verifier_word_mqtt_mistakes_alike(mqtt: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as agent:
        parse_config({**AGENT_BASE, "mqtt": mqtt}, base=Path("/etc"), env={})
    with pytest.raises(ConfigError) as verifier:
        config_from_mapping({"mqtt": mqtt}, Path("/etc"), env={})
    assert str(agent.value) == str(verifier.value)
    assert "mqtt." in str(agent.value) or "[mqtt" in str(agent.value)
