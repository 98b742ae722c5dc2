"""``[log]``: the transparency log's configuration (docs/anchoring.md).

::

    [log]
    enabled = true
    origin = "example.org/edgeseal/log"   # the checkpoint's first line and the key name
    key_path = "log.key"                 # the log's Ed25519 key (edgeseal keygen)
    checkpoint_interval_s = 10           # a checkpoint at least this often, when new entries
    checkpoint_entries = 1024            # ... or as soon as this many are waiting
    witness_policy = 1                   # cosignatures a checkpoint needs to be published

    [[log.witnesses]]
    url = "http://127.0.0.1:7380"        # where POST /add-checkpoint lives
    vkey = "witness1+1234abcd+AQ..."     # its signed-note verifier key

    [log.anchors.tsa]
    url = "http://tsa.example/"          # RFC 3161 over HTTP
    ca_certs = ["tsa-ca.pem"]

    [log.anchors.evm]
    rpc_url = "embedded"                 # or "https://..." (JSON-RPC)
    contract = "0x..."                   # CheckpointAnchor address ("" with embedded: deploy)
    account_key_path = "anchor.key"      # hex secp256k1 key paying gas (real chains)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgeseal.plumbing.config_toml import ConfigError, Section
from edgeseal.tlog.cosignature import CosignatureVerifier
from edgeseal.tlog.note import NoteError

LOG_KEYS = frozenset(
    {
        "enabled",
        "origin",
        "key_path",
        "checkpoint_interval_s",
        "checkpoint_entries",
        "witnesses",
        "witness_policy",
        "witness_timeout_s",
        "anchors",
    }
)
_WITNESS_KEYS = ("url", "vkey")
_TSA_KEYS = ("url", "ca_certs", "timeout_s")
_EVM_KEYS = ("rpc_url", "contract", "account_key_path")
# C2SP tlog-checkpoint: the origin is a non-empty line, by convention a schema-less URL;
# it is also the log key's name in the signed note, which rules out '+' and spaces.
_ORIGIN_RE = re.compile(r"[!-*,-~]{1,255}")
_CONTRACT_RE = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class WitnessConfig:
    url: str
    vkey: str

    @property
    def name(self) -> str:
        return self.vkey.split("+", 1)[0]


@dataclass(frozen=True)
class TsaConfig:
    url: str
    ca_certs: tuple[Path, ...] = ()
    timeout_s: float = 10.0


@dataclass(frozen=True)
class EvmConfig:
    rpc_url: str  # "embedded": an in-process chain (eth-tester), else http(s)://
    contract: str = ""  # "" only with "embedded": deployed at start
    account_key_path: Path | None = None


@dataclass(frozen=True)
class LogConfig:
    enabled: bool = False
    origin: str = ""
    key_path: Path | None = None
    checkpoint_interval_s: float = 10.0
    checkpoint_entries: int = 1024
    witnesses: tuple[WitnessConfig, ...] = ()
    witness_policy: int = 0
    witness_timeout_s: float = 10.0
    tsa: TsaConfig | None = None
    evm: EvmConfig | None = None


def _bool(section: Section, key: str, default: bool) -> bool:
    value = section.data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{section.where(key)} must be true or false, got {value!r}")
    return value


def _url(section: Section, key: str) -> str:
    url = section.required_str(key)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{section.where(key)} = {url!r}: use an http:// or https:// URL")
    return url


def parse_log_config(section: Section) -> LogConfig:
    """The ``[log]`` table (already checked for unknown keys against LOG_KEYS)."""
    enabled = _bool(section, "enabled", False)
    if not enabled:
        return LogConfig()
    origin = section.required_str("origin")
    if _ORIGIN_RE.fullmatch(origin) is None:
        raise ConfigError(
            f"{section.where('origin')} = {origin!r}: use 1 to 255 printable ASCII characters "
            'without spaces or "+", e.g. "example.org/edgeseal/log"'
        )
    key_path = section.readable_file("key_path", section.required_path("key_path"))
    witnesses = []
    for w in section.tables("witnesses", _WITNESS_KEYS):
        vkey = w.required_str("vkey")
        try:
            CosignatureVerifier.from_vkey(vkey)  # tlog-cosignature: key type 0x04
        except (NoteError, ValueError) as exc:
            raise ConfigError(f"{w.where('vkey')}: not a witness cosignature key: {exc}") from None
        witnesses.append(WitnessConfig(_url(w, "url"), vkey))
    names = [w.name for w in witnesses]
    if len(set(names)) != len(names):
        raise ConfigError(f"{section.where('witnesses')}: two witnesses have the same key name")
    anchors = section.table("anchors", ("tsa", "evm"))
    tsa = None
    if "tsa" in anchors:
        t = anchors.table("tsa", _TSA_KEYS)
        certs = t.data.get("ca_certs", [])
        if not isinstance(certs, list) or not all(isinstance(c, str) and c for c in certs):
            raise ConfigError(f"{t.where('ca_certs')} must be a list of PEM file paths")
        tsa = TsaConfig(
            _url(t, "url"),
            tuple(t.readable_file("ca_certs", t._path("ca_certs", c)) for c in certs),
            t.get_float("timeout_s", 10.0, 0, 600, low_open=True),
        )
    evm = None
    if "evm" in anchors:
        e = anchors.table("evm", _EVM_KEYS)
        rpc = e.required_str("rpc_url")
        if rpc != "embedded" and not rpc.startswith(("http://", "https://")):
            raise ConfigError(f'{e.where("rpc_url")} = {rpc!r}: use "embedded" or an http(s) URL')
        contract = e.get_str("contract", "")
        if contract and _CONTRACT_RE.fullmatch(contract) is None:
            raise ConfigError(f"{e.where('contract')} = {contract!r}: use 0x and 40 hex digits")
        if not contract and rpc != "embedded":
            raise ConfigError(f"{e.where('contract')} is required with a real chain")
        account = e.optional_path("account_key_path")
        if account is None and rpc != "embedded":
            raise ConfigError(f"{e.where('account_key_path')} is required with a real chain")
        evm = EvmConfig(rpc, contract, account)
    policy = section.get_int("witness_policy", len(witnesses), 0, len(witnesses))
    return LogConfig(
        enabled=True,
        origin=origin,
        key_path=key_path,
        checkpoint_interval_s=section.get_float(
            "checkpoint_interval_s", 10.0, 0, 86400, low_open=True
        ),
        checkpoint_entries=section.get_int("checkpoint_entries", 1024, 1, 1 << 20),
        witnesses=tuple(witnesses),
        witness_policy=policy,
        witness_timeout_s=section.get_float("witness_timeout_s", 10.0, 0, 600, low_open=True),
        tsa=tsa,
        evm=evm,
    )
