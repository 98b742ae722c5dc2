"""Real sealed batches for the verifier's tests: real Ed25519 keys, the agent's codec.

``GatewayChain`` plays a gateway: it signs readings, seals them into batches that
chain by prev_hash, and can rotate its key, exactly as the agent does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.agent.seal import raw_public_key, seal_batch
from edgeseal.verifier.config import MqttConfig, StoreConfig, VerifierConfig
from edgeseal.wire.batch import ZERO_HASH, SealedBatch
from edgeseal.wire.record import ReadingRecord
from edgeseal.wire.topics import Topics


def batch_topic(gateway_id: str) -> str:
    return Topics().batch(gateway_id)


def reading(
    gateway_id: str,
    device_seq: int,
    *,
    device_id: int = 7,
    boot_id: int = 1,
    time_us: int | None = None,
) -> ReadingRecord:
    return ReadingRecord(
        gateway_id=gateway_id,
        device_id=device_id,
        boot_id=boot_id,
        device_seq=device_seq,
        channel=device_seq % 3,
        unit=1,
        mantissa=2150 + device_seq % 50,
        exponent=-2,
        time_kind=0,
        device_time_ms=1000 * device_seq,
        gateway_time_us=time_us
        if time_us is not None
        else 1_700_000_000_000_000 + 1000 * device_seq,
    )


def seal(
    key: Ed25519PrivateKey,
    gateway_id: str,
    seq: int,
    prev_hash: bytes,
    records: Sequence[ReadingRecord],
    *,
    signer: Ed25519PrivateKey | None = None,
    next_public_key: bytes | None = None,
) -> SealedBatch:
    """Seal ``records``; ``signer`` signs the readings (default: the header key)."""
    encoded = [r.encode() for r in records]
    signer = signer or key
    times = [r.gateway_time_us for r in records]
    return seal_batch(
        private_key=key,
        gateway_id=gateway_id,
        seq=seq,
        prev_hash=prev_hash,
        records=encoded,
        signatures=[signer.sign(e) for e in encoded],
        first_time_us=min(times),
        last_time_us=max(times),
        next_public_key=next_public_key,
    )


@dataclass
class GatewayChain:
    gateway_id: str = "gw-1"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    device_id: int = 7
    seq: int = 0
    prev_hash: bytes = ZERO_HASH
    device_seq: int = 0
    enrolled_key: bytes = b""

    def __post_init__(self) -> None:
        self.enrolled_key = self.public_key

    @property
    def public_key(self) -> bytes:
        return raw_public_key(self.key)

    def next_records(self, n: int) -> list[ReadingRecord]:
        out = [
            reading(self.gateway_id, self.device_seq + i, device_id=self.device_id)
            for i in range(n)
        ]
        self.device_seq += n
        return out

    def next_batch(self, n: int = 4, *, rotate_to: Ed25519PrivateKey | None = None) -> SealedBatch:
        """The next batch in the chain; ``rotate_to`` announces a new key for later batches."""
        self.seq += 1
        sealed = seal(
            self.key,
            self.gateway_id,
            self.seq,
            self.prev_hash,
            self.next_records(n),
            next_public_key=raw_public_key(rotate_to) if rotate_to is not None else None,
        )
        self.prev_hash = sealed.hash
        if rotate_to is not None:
            self.key = rotate_to
        return sealed

    def batches(self, count: int, n: int = 4) -> list[SealedBatch]:
        return [self.next_batch(n) for _ in range(count)]


def verifier_config(
    store_path,
    gateways: dict[str, bytes],
    *,
    port: int = 1883,
    client_id: str = "verifier-test",
    group: str = "verifiers",
    synchronous: str = "normal",
) -> VerifierConfig:
    return VerifierConfig(
        mqtt=MqttConfig(
            host="127.0.0.1",
            port=port,
            client_id=client_id,
            group=group,
            session_expiry_s=300,
            keepalive_s=10,
        ),
        store=StoreConfig(path=store_path, synchronous=synchronous),
        gateways=gateways,
    )


def config_toml(
    store_path,
    gateways: dict[str, bytes],
    *,
    port: int,
    client_id: str = "verifier-test",
    group: str = "verifiers",
) -> str:
    lines = [
        "[mqtt]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'client_id = "{client_id}"',
        f'group = "{group}"',
        "session_expiry_s = 300",
        "keepalive_s = 10",
        "",
        "[store]",
        f'path = "{store_path}"',
        'synchronous = "normal"',
        "",
        "[gateways]",
    ]
    lines += [f'"{gw}" = "{key.hex()}"' for gw, key in gateways.items()]
    return "\n".join(lines) + "\n"
