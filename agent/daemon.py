"""``edgeseal agent --config agent.toml``: the gateway daemon.

Start-up checks everything that can be wrong before touching a device (config,
key files and their permissions, the outbox and the key that signed its chain)
and exits with status 2 and one clear message if something is. Then it runs the
pipeline until SIGTERM or SIGINT, flushes (seals pending readings, waits up to
``mqtt.flush_timeout_s`` for PUBACKs), publishes the retained 'offline' status
and exits 0. Whatever is not acknowledged stays in the outbox for the next start.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from edgeseal.agent.config import AgentConfig, ConfigError, load_config
from edgeseal.agent.identity import GatewayKey, KeyFileError, load_key
from edgeseal.agent.linkkeys import load_link_keys
from edgeseal.agent.metrics import AgentMetrics
from edgeseal.agent.outbox import Outbox, OutboxError
from edgeseal.agent.pipeline import Pipeline
from edgeseal.agent.publisher import BatchPublisher
from edgeseal.agent.rotation import KeyMismatchError, KeyPlan

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_STARTUP = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the agent's TOML configuration")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the configuration, keys and outbox, print a summary and exit",
    )


class StartupError(RuntimeError):
    """Something the operator must fix before the agent can run."""


@dataclass(frozen=True)
class Loaded:
    config: AgentConfig
    key: GatewayKey
    next_key: GatewayKey | None
    link_keys: dict[int, bytes]


def _load(path: Path) -> Loaded:
    try:
        config = load_config(path)
        key = load_key(config.gateway.key_path)
        next_key = load_key(config.gateway.next_key_path) if config.gateway.next_key_path else None
        links = config.devices.link_keys_path
        link_keys = load_link_keys(links) if links else {}
    except (ConfigError, KeyFileError) as exc:
        raise StartupError(str(exc)) from None
    return Loaded(config, key, next_key, link_keys)


def _open_outbox(config: AgentConfig) -> Outbox:
    try:
        config.outbox.path.parent.mkdir(parents=True, exist_ok=True)
        return Outbox(
            config.outbox.path, gateway_id=config.gateway.id, max_bytes=config.outbox.max_bytes
        )
    except OutboxError as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(
            f"cannot create outbox directory for {config.outbox.path}: {exc}"
        ) from None


def run(args: argparse.Namespace) -> int:
    try:
        loaded = _load(args.config)
        config = loaded.config
        outbox = _open_outbox(config)
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_STARTUP
    try:
        try:
            keys = KeyPlan.resolve(outbox.chain_head(), loaded.key, loaded.next_key)
        except KeyMismatchError as exc:
            log.error("cannot start: %s", exc)
            return EXIT_STARTUP
        if args.check:
            head = outbox.chain_head()
            print(
                f"gateway {config.gateway.id}: key id {keys.active.key_id.hex()}, chain at batch "
                f"{head.seq}, {outbox.pending_count} readings and {outbox.batch_count} batches "
                f"in the outbox ({outbox.stored_bytes} of {config.outbox.max_bytes} bytes)"
            )
            return EXIT_OK
        return _serve(config, outbox, keys, loaded.link_keys)
    finally:
        outbox.close()


def _serve(config: AgentConfig, outbox: Outbox, keys: KeyPlan, link_keys: dict[int, bytes]) -> int:
    # firmware_bridge pulls in pyserial and the frame codec: only the daemon needs it.
    from edgeseal.firmware_bridge.link import DeviceLinks, PortConfig

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: flushing and stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    metrics = AgentMetrics()
    if config.metrics_port:
        try:
            metrics.serve(config.metrics_port)
        except OSError as exc:
            log.error("cannot start: metrics port 127.0.0.1:%d: %s", config.metrics_port, exc)
            return EXIT_STARTUP
    publisher = BatchPublisher(config.mqtt, config.gateway.id, link=config.verifier)
    if config.verifier.end_to_end:
        log.info(
            "end-to-end acknowledgement: batches are kept until the verifier (key %s) "
            "signs 'accepted'; re-published after %.3g s without a verdict (up to %.3g s)",
            (config.verifier.public_key or b"").hex()[:16],
            config.verifier.republish_min_s,
            config.verifier.republish_max_s,
        )
    else:
        log.warning(
            "LEGACY MODE: no [verifier] public_key, so batches are forgotten on the broker's "
            "PUBACK and are lost if no verifier is subscribed at that moment; configure the "
            "verifier's public key (docs/agent.md, 'End-to-end acknowledgement')"
        )
    pipeline = Pipeline(
        config=config, outbox=outbox, keys=keys, publisher=publisher, metrics=metrics
    )
    pipeline.starting()
    links = DeviceLinks(
        [PortConfig(url=p.path, baudrate=p.baudrate) for p in config.serial],
        # Readings stored before a restart are not delivered again (their ACK may
        # have been lost); the pipeline filters them too, as a second line.
        resume_from=outbox.device_progress(),
        link_keys=link_keys,
    )
    log.info(
        "agent for gateway %s: key id %s, %d serial port(s), batches of <= %d readings / %.3g s",
        config.gateway.id,
        keys.active.key_id.hex(),
        len(config.serial),
        config.batch.max_readings,
        config.batch.max_delay_s,
    )
    publisher.start()
    links.start()
    try:
        try:
            pipeline.run(links, stop)
            pipeline.stopping("signal received: clean shutdown")
            pipeline.flush(links, config.mqtt.flush_timeout_s)
        finally:
            links.stop()
    finally:
        publisher.stop(timeout=config.mqtt.flush_timeout_s)
        metrics.close()
    log.info("stopped cleanly; chain at batch %d", outbox.chain_head().seq)
    return EXIT_OK
