"""``edgeseal demo``: the whole chain of custody on one machine, for a while.

It starts, each as a real process where the product runs one:

1. an MQTT broker on a free 127.0.0.1 port: mosquitto when it is installed,
   otherwise an embedded pure-Python broker (amqtt, MQTT 3.1.1, the ``demo``
   extra) running in this process, and it says which;
2. two simulated sensor devices on pseudo-terminals (``edgeseal simulate-device``);
3. the gateway agent (``edgeseal agent``) reading both, signing, batching, chaining
   and publishing;
4. the verifier (``edgeseal verifier``) checking and storing every batch.

Configuration files and keys are generated in a temporary directory. While it
runs it shows readings signed, batches published and batches verified; after
``--seconds`` it stops the devices, lets the agent flush and the verifier catch
up, prints a summary, and writes and checks the receipt of one reading
(``edgeseal receipt`` / ``edgeseal check-receipt``). Every process it started is
stopped on the way out, also on Ctrl-C or SIGTERM; children also get SIGTERM from
the kernel if this process dies without cleaning up (PR_SET_PDEATHSIG).

Exit status: 0 when batches were verified, none was quarantined and the receipt
checked out; 1 otherwise; 2 when the demo could not start; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from edgeseal.testing.broker import BrokerError, MosquittoBroker, find_mosquitto, free_port
from edgeseal.wire.topics import TopicKind, Topics

log = logging.getLogger(__name__)

GATEWAY_ID = "demo-gw"
TOPICS = Topics()  # the default prefix, which the generated configs leave as it is
EXIT_OK, EXIT_FAILED, EXIT_STARTUP, EXIT_INTERRUPTED = 0, 1, 2, 130
STARTUP_TIMEOUT_S = 30.0


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop everything, print what we have."""


# --- settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSettings:
    seconds: float
    devices: int
    rate: float
    batch_readings: int
    batch_delay_s: float
    broker: str  # "auto", "mosquitto" or "embedded"
    workdir: Path | None
    keep: bool


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="how long the devices produce readings (default 20)",
    )
    parser.add_argument("--devices", type=int, default=2, help="simulated devices (default 2)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="readings per second per device (default 20)"
    )
    parser.add_argument(
        "--batch-readings",
        type=int,
        default=64,
        help="seal a batch at this many readings (default 64)",
    )
    parser.add_argument(
        "--batch-delay",
        type=float,
        default=1.0,
        help="... or when the oldest reading has waited this long, s (default 1)",
    )
    parser.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="auto: mosquitto when installed, else the embedded broker",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="put configs, keys, stores and logs here (default: a temporary "
        "directory, removed at the end unless --keep)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory")


def _settings(args: argparse.Namespace) -> DemoSettings:
    if not 0 < args.seconds <= 24 * 3600:
        raise DemoError(f"--seconds {args.seconds}: give a duration between 0 and 86400")
    if not 1 <= args.devices <= 16:
        raise DemoError(f"--devices {args.devices}: give 1 to 16")
    if not 0 < args.rate <= 10_000:
        raise DemoError(f"--rate {args.rate}: give 0 < readings/s per device <= 10000")
    if not 1 <= args.batch_readings <= 65535:
        raise DemoError(f"--batch-readings {args.batch_readings}: give 1 to 65535")
    if not 0.001 <= args.batch_delay <= 3600:
        raise DemoError(f"--batch-delay {args.batch_delay}: give 0.001 to 3600 seconds")
    return DemoSettings(
        args.seconds,
        args.devices,
        args.rate,
        args.batch_readings,
        args.batch_delay,
        args.broker,
        args.workdir,
        args.keep,
    )


# --- the broker ----------------------------------------------------------------------


class EmbeddedBroker:
    """amqtt (pure Python, MQTT 3.1.1) on its own event loop in a background thread."""

    name = "embedded amqtt broker (MQTT 3.1.1)"
    protocol = "3.1.1"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="embedded-mqtt-broker", daemon=True
        )
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._broker: Any = None

    def _serve(self) -> None:
        from amqtt.broker import Broker

        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # noqa: BLE001 - start() raises it in the main thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S) or self._error is not None:
            raise DemoError(
                f"the embedded MQTT broker did not start on {self.host}:{self.port}: "
                f"{self._error or 'timed out'}"
            )

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
            except Exception:  # shutting down anyway; the thread is a daemon
                log.debug("embedded broker shutdown raised", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class _SupervisedMosquitto(MosquittoBroker):
    """MosquittoBroker started like the demo's other children: in its own session (so
    Ctrl-C reaches only the demo, which stops the broker last, after the agent has
    flushed) and with SIGTERM on the demo's death."""

    def _write_config(self) -> Path:
        conf = super()._write_config()
        # Run as root, mosquitto switches to its own user unless told otherwise, and
        # a change of credentials clears the parent-death signal: stay who we are.
        if os.geteuid() == 0 and "\nuser " not in "\n" + conf.read_text(encoding="utf-8"):
            with open(conf, "a", encoding="utf-8") as f:
                f.write("user root\n")
        return conf

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        assert self.executable is not None
        conf = self._write_config()
        with open(self.log_path, "ab") as logfile:
            self._process = subprocess.Popen(
                [self.executable, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - see _die_with_parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with status {self._process.returncode}; "
                    f"its log: {self.log_path}\n{_tail(self.log_path)}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s")


class MosquittoProcess:
    """mosquitto on a free loopback port, under the demo's broker interface."""

    protocol = "5"

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._broker = _SupervisedMosquitto(workdir=workdir)
        self.host, self.port = self._broker.host, self._broker.port
        self.name = f"mosquitto ({self._broker.executable})"

    def start(self) -> None:
        try:
            self._broker.start()
        except BrokerError as exc:
            raise DemoError(str(exc)) from None

    def close(self) -> None:
        self._broker.close()


def _embedded_available() -> bool:
    try:
        import amqtt.broker  # noqa: F401
    except ImportError:
        return False
    return True


def choose_broker(choice: str, workdir: Path) -> MosquittoProcess | EmbeddedBroker:
    if choice in ("auto", "mosquitto") and find_mosquitto() is not None:
        return MosquittoProcess(workdir / "broker")
    if choice == "mosquitto":
        raise DemoError(
            "mosquitto is not installed (looked on PATH and in /usr/sbin); install it "
            "with 'apt-get install mosquitto' or run with --broker embedded"
        )
    if not _embedded_available():
        raise DemoError(
            "no MQTT broker: mosquitto is not installed and the embedded broker "
            "(amqtt) is missing; run \"pip install 'edgeseal[demo]'\" or "
            "'apt-get install mosquitto'"
        )
    return EmbeddedBroker()


# --- child processes -------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the demo dies, however it dies (Linux).

    preexec_fn is the only standard-library hook between fork and exec, and the demo
    has threads by then: this keeps to one foreign call and swallows its failures.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the demo's own cleanup still stops its children


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    log_path: Path
    ready: threading.Event = field(default_factory=threading.Event)
    stdout_lines: list[str] = field(default_factory=list)


class Children:
    """Every process the demo starts; stop_all() ends them, newest first."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir  # their logs go here, and it is their working directory
        self.started: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_stderr: str | None = None,
        ready_stdout: bool = False,
    ) -> Child:
        log_path = self.workdir / f"{name}.log"
        # Own session: the terminal's Ctrl-C reaches only the demo, which then stops
        # the children in order (devices, agent, verifier) instead of all at once.
        # cwd: see _edgeseal.
        process = subprocess.Popen(
            list(argv),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - see _die_with_parent
        )
        child = Child(name, process, log_path)
        self.started.append(child)
        logfile = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by the readers
        lock = threading.Lock()
        pending = [2]

        def pump(stream: TextIO, is_stdout: bool) -> None:
            for line in stream:
                with lock:
                    logfile.write(line)
                    logfile.flush()
                if is_stdout:
                    child.stdout_lines.append(line.rstrip("\n"))
                    if ready_stdout:
                        child.ready.set()
                elif ready_stderr is not None and ready_stderr in line:
                    child.ready.set()
            with lock:
                pending[0] -= 1
                if pending[0] == 0:
                    logfile.close()

        assert process.stdout is not None and process.stderr is not None
        for stream, is_stdout in ((process.stdout, True), (process.stderr, False)):
            threading.Thread(
                target=pump, args=(stream, is_stdout), name=f"{name}-output", daemon=True
            ).start()
        return child

    def wait_ready(self, child: Child, what: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not child.ready.wait(0.1):
            if child.process.poll() is not None:
                raise DemoError(
                    f"{child.name} exited with status {child.process.returncode} "
                    f"before {what}; its log: {child.log_path}\n{_tail(child.log_path)}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{child.name} did not report {what} within {timeout:.0f} s; "
                    f"its log: {child.log_path}\n{_tail(child.log_path)}"
                )

    @staticmethod
    def stop(child: Child, timeout: float = 15.0) -> int:
        """SIGTERM (the programs flush and exit cleanly on it), SIGKILL after ``timeout``."""
        process = child.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s did not stop within %.0f s of SIGTERM; killing it", child.name, timeout
                )
                process.kill()
                process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for child in reversed(self.started):
            self.stop(child, timeout=10.0)


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


# --- watching progress ------------------------------------------------------------------


@dataclass
class Progress:
    """What the demo has seen so far (written by the MQTT thread, read by the display)."""

    batches_seen: int = 0
    readings_in_batches: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    readings_accepted: int = 0
    last_accepted_seq: int = 0
    # A reading from each batch on the wire, by header hash, so that one from an
    # accepted batch can be given a receipt: (device_id, boot_id, device_seq, batch seq).
    sample_reading: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    receipt_candidate: tuple[int, int, int, int] | None = None
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watcher:
    """An MQTT 3.1.1 client (both brokers speak it) on the batch and verdict topics."""

    def __init__(self, host: str, port: int, progress: Progress) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.progress = progress
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="edgeseal-demo-watch", protocol=mqtt.MQTTv311
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self) -> None:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(STARTUP_TIMEOUT_S):
            raise DemoError(f"could not subscribe to the broker on {self._host}:{self._port}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        client.subscribe([(TOPICS.batch(GATEWAY_ID), 1), (TOPICS.verdict(GATEWAY_ID), 1)])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        try:
            if TOPICS.gateway_of(msg.topic, TopicKind.BATCH) is not None:
                self._on_batch(msg.payload)
            else:
                self._on_verdict(json.loads(msg.payload))
        except Exception as exc:  # noqa: BLE001 - a display problem must not stop the demo
            with self.progress.lock:
                self.progress.problems.append(f"could not read a message on {msg.topic}: {exc}")

    def _on_batch(self, payload: bytes) -> None:
        from edgeseal.wire.batch import SealedBatch
        from edgeseal.wire.record import ReadingRecord

        batch = SealedBatch.from_payload(payload)
        middle = ReadingRecord.decode(batch.record(batch.count // 2))
        key = batch.hash.hex()
        with self.progress.lock:
            if key in self.progress.sample_reading:
                return  # an exact re-send (after a reconnect): the same batch, counted once
            self.progress.batches_seen += 1
            self.progress.readings_in_batches += batch.count
            self.progress.sample_reading[key] = (
                middle.device_id,
                middle.boot_id,
                middle.device_seq,
                batch.header.seq,
            )

    def _on_verdict(self, verdict: dict[str, Any]) -> None:
        outcome = str(verdict.get("verdict"))
        with self.progress.lock:
            p = self.progress
            p.verdicts[outcome] = p.verdicts.get(outcome, 0) + 1
            if outcome == "accepted":
                p.readings_accepted += int(verdict.get("count") or 0)
                p.last_accepted_seq = max(p.last_accepted_seq, int(verdict.get("seq") or 0))
                sample = p.sample_reading.get(str(verdict.get("header_hash")))
                if sample is not None and p.receipt_candidate is None:
                    p.receipt_candidate = sample
            elif outcome == "quarantined":
                p.problems.append(
                    f"batch seq {verdict.get('seq')} quarantined "
                    f"({verdict.get('reason')}): {verdict.get('detail')}"
                )


def read_agent_metrics(port: int) -> dict[str, float]:
    """The agent's Prometheus counters and gauges (name -> value); {} if unreachable."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = sample.value
    return values


class Display:
    """One status line: redrawn in place on a terminal, printed now and then otherwise."""

    def __init__(self, out: TextIO, total_s: float) -> None:
        self.out = out
        self.total_s = total_s
        self.tty = out.isatty()
        self._last_print = 0.0

    def update(self, elapsed: float, metrics: dict[str, float], progress: Progress) -> None:
        width = 24
        done = min(1.0, elapsed / self.total_s)
        bar = "#" * int(done * width) + "-" * (width - int(done * width))
        with progress.lock:
            verified = progress.verdicts.get("accepted", 0)
            quarantined = progress.verdicts.get("quarantined", 0)
            readings_ok = progress.readings_accepted
        line = (
            f"[{bar}] {elapsed:5.1f}/{self.total_s:g} s | "
            f"signed {int(metrics.get('edgeseal_agent_readings_signed_total', 0)):6d} | "
            f"published {int(metrics.get('edgeseal_agent_batches_published_total', 0)):4d} batches | "
            f"verified {verified:4d} batches ({readings_ok} readings)"
            + (f" | QUARANTINED {quarantined}" if quarantined else "")
        )
        now = time.monotonic()
        if self.tty:
            self.out.write("\r" + line + "\x1b[K")
            self.out.flush()
        elif now - self._last_print >= 2.0:
            self.out.write(line + "\n")
            self.out.flush()
            self._last_print = now

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


# --- configuration files ------------------------------------------------------------------


def write_agent_config(
    path: Path,
    *,
    key_path: Path,
    ports: Sequence[Path],
    outbox: Path,
    broker_port: int,
    protocol: str,
    metrics_port: int,
    settings: DemoSettings,
) -> None:
    serial = "".join(f'\n[[serial]]\npath = "{p}"\n' for p in ports)
    path.write_text(
        f'# generated by edgeseal demo\n[gateway]\nid = "{GATEWAY_ID}"\nkey_path = "{key_path}"\n'
        f"{serial}\n[batch]\nmax_readings = {settings.batch_readings}\n"
        f"max_delay_s = {settings.batch_delay_s}\n\n"
        f'[outbox]\npath = "{outbox}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\nprotocol = "{protocol}"\n'
        f"reconnect_min_s = 0.2\nreconnect_max_s = 2.0\nflush_timeout_s = 5.0\n\n"
        f"[metrics]\nport = {metrics_port}\n",
        encoding="utf-8",
    )


def write_verifier_config(
    path: Path, *, store: Path, broker_port: int, protocol: str, public_key: bytes
) -> None:
    # MQTT 3.1.1 (the embedded broker) has no shared subscriptions: one worker,
    # plain subscription.
    group = "verifiers" if protocol == "5" else ""
    path.write_text(
        f'# generated by edgeseal demo\n[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\n'
        f'protocol = "{protocol}"\ngroup = "{group}"\nclient_id = "demo-verifier"\n\n'
        f'[store]\npath = "{store}"\n\n'
        f'[gateways]\n{GATEWAY_ID} = "{public_key.hex()}"\n',
        encoding="utf-8",
    )


# --- the run ----------------------------------------------------------------------------


@dataclass
class Outcome:
    generated: int = 0
    signed: int = 0
    published: int = 0
    chain_seq: int = 0
    receipt_ref: str = ""
    receipt_valid: bool = False
    receipt_tamper_caught: bool = False
    receipt_detail: str = ""


def _edgeseal(*argv: str) -> list[str]:
    """The command line of an edgeseal child: this interpreter, ``-m edgeseal``.

    ``python -m`` puts its working directory first on ``sys.path``, so every child
    runs in the demo's working directory (new or empty at the start, holding only what
    the demo writes). Started from the caller's directory, a source checkout there would
    shadow the installed package, and an unbuilt one has no compiled modules
    (``No module named 'edgeseal.native._hashing'``).
    """
    return [sys.executable, "-m", "edgeseal", *argv]


def _run_edgeseal(workdir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run an edgeseal command to completion in the demo's working directory."""
    return subprocess.run(
        _edgeseal(*argv), cwd=workdir, capture_output=True, text=True, timeout=60, check=False
    )


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except DemoError as exc:
        print(f"edgeseal demo: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    # The demo is an application: keep third-party chatter (the embedded broker logs
    # every connection at INFO) out of the progress display.
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    own_dir = settings.workdir is None
    if (
        settings.workdir is not None
        and settings.workdir.exists()
        and (not settings.workdir.is_dir() or any(settings.workdir.iterdir()))
    ):
        # A previous run's key, outbox and store would not match a new gateway key.
        print(
            f"edgeseal demo: --workdir {settings.workdir} is not an empty directory; "
            "give a new or empty one",
            file=sys.stderr,
        )
        return EXIT_STARTUP
    workdir = Path(tempfile.mkdtemp(prefix="edgeseal-demo-")) if own_dir else settings.workdir
    assert workdir is not None
    # Absolute: the children run in it, and their command lines name files in it.
    workdir = workdir.absolute()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"edgeseal demo: cannot create --workdir {workdir}: {exc.strerror}", file=sys.stderr)
        return EXIT_STARTUP
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        return _run(settings, workdir)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if own_dir and not settings.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"working directory kept: {workdir}")


def _run(settings: DemoSettings, workdir: Path) -> int:
    out = sys.stdout
    children = Children(workdir)
    broker: MosquittoProcess | EmbeddedBroker | None = None
    watcher: Watcher | None = None
    progress = Progress()
    outcome = Outcome()
    started = time.monotonic()
    status = EXIT_FAILED
    try:
        try:
            broker = choose_broker(settings.broker, workdir)
            broker.start()
        except DemoError as exc:
            print(f"edgeseal demo: {exc}", file=sys.stderr)
            return EXIT_STARTUP
        fallback = isinstance(broker, EmbeddedBroker)
        why = ""
        if fallback:
            why = (
                "  (chosen with --broker embedded)"
                if settings.broker == "embedded"
                else "  (mosquitto is not installed, so the embedded pure-Python broker is used)"
            )
        print(f"broker: {broker.name} on 127.0.0.1:{broker.port}{why}")

        from edgeseal.agent.identity import GatewayKey, save_key

        key = GatewayKey.generate()
        key_path = workdir / "gateway.key"
        save_key(key, key_path)
        print(
            f"gateway {GATEWAY_ID}: new key, id {key.key_id.hex()}; configs and logs in {workdir}"
        )

        verifier_toml = workdir / "verifier.toml"
        write_verifier_config(
            verifier_toml,
            store=workdir / "verifier.sqlite",
            broker_port=broker.port,
            protocol=broker.protocol,
            public_key=key.public_key,
        )
        verifier = children.start(
            "verifier",
            _edgeseal("verifier", "--config", str(verifier_toml)),
            ready_stderr="subscribed to",
        )
        children.wait_ready(verifier, "its subscription to the batch topic")
        watcher = Watcher("127.0.0.1", broker.port, progress)
        watcher.start()

        links = [workdir / f"device-{i}" for i in range(1, settings.devices + 1)]
        devices = []
        for i, link in enumerate(links, start=1):
            devices.append(
                children.start(
                    f"device-{i}",
                    _edgeseal(
                        "simulate-device",
                        "--device-id",
                        str(i),
                        "--rate",
                        str(settings.rate),
                        "--link",
                        str(link),
                    ),
                    ready_stdout=True,
                )
            )
        for device in devices:
            children.wait_ready(device, "its pseudo-terminal")
        print(
            f"devices: {settings.devices} simulated on pseudo-terminals "
            f"({', '.join(d.stdout_lines[0] for d in devices)}), {settings.rate:g} readings/s each"
        )

        metrics_port = free_port()
        agent_toml = workdir / "agent.toml"
        write_agent_config(
            agent_toml,
            key_path=key_path,
            ports=links,
            outbox=workdir / "outbox.sqlite",
            broker_port=broker.port,
            protocol=broker.protocol,
            metrics_port=metrics_port,
            settings=settings,
        )
        agent = children.start("agent", _edgeseal("agent", "--config", str(agent_toml)))
        print(
            f"agent: signing, batching (<= {settings.batch_readings} readings or "
            f"{settings.batch_delay_s:g} s) and publishing; verifier: checking every batch"
        )

        display = Display(out, settings.seconds)
        run_started = time.monotonic()
        metrics: dict[str, float] = {}
        try:
            while (elapsed := time.monotonic() - run_started) < settings.seconds:
                for child in (agent, verifier, *devices):
                    if child.process.poll() is not None:
                        raise DemoError(
                            f"{child.name} exited early with status "
                            f"{child.process.returncode}; its log: {child.log_path}\n"
                            f"{_tail(child.log_path)}"
                        )
                metrics = read_agent_metrics(metrics_port) or metrics
                display.update(elapsed, metrics, progress)
                time.sleep(0.25)
            display.update(settings.seconds, metrics, progress)
        finally:
            display.finish()

        outcome = _wind_down(children, devices, agent, metrics_port, metrics, progress)
        _receipt(workdir, verifier_toml, key.public_key, progress, outcome)
        children.stop(verifier)
        status = _summary(out, settings, broker, progress, outcome, time.monotonic() - started)
    except Interrupted as exc:
        print(f"\nedgeseal demo: {exc}: stopping every process it started", file=sys.stderr)
        status = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nedgeseal demo: interrupted: stopping every process it started", file=sys.stderr)
        status = EXIT_INTERRUPTED
    except DemoError as exc:
        print(f"\nedgeseal demo: {exc}", file=sys.stderr)
        status = EXIT_FAILED
    except OSError as exc:  # a full disk, a vanished directory: say what, not a traceback
        print(f"\nedgeseal demo: {exc}", file=sys.stderr)
        status = EXIT_FAILED
    finally:
        # Cleanup must finish even if a second Ctrl-C arrives while it runs.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if watcher is not None:
                watcher.close()
            children.stop_all()
            if broker is not None:
                broker.close()
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    return status


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _wind_down(
    children: Children,
    devices: Sequence[Child],
    agent: Child,
    metrics_port: int,
    metrics: dict[str, float],
    progress: Progress,
) -> Outcome:
    """Devices stop first; the agent seals and flushes; the verifier catches up."""
    outcome = Outcome()
    for device in devices:
        children.stop(device)
        summary = next(
            (
                json.loads(line)
                for line in reversed(device.stdout_lines)
                if line.startswith("{") and '"summary"' in line
            ),
            None,
        )
        if summary is not None:
            outcome.generated += int(summary.get("generated", 0))
    # Let the agent sign what is still arriving (frames already in the serial
    # buffers) before asking it to stop: wait until the count holds still for 0.5 s.
    signed_key = "edgeseal_agent_readings_signed_total"
    signed = int(metrics.get(signed_key, 0))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = read_agent_metrics(metrics_port)
        if not now:
            break
        if int(now.get(signed_key, 0)) == signed:
            break
        signed = int(now.get(signed_key, 0))
    outcome.signed = signed
    children.stop(agent, timeout=20.0)  # seals pending readings, waits for PUBACKs
    # Every batch the broker accepted reaches the verifier; wait for its verdicts.
    _wait_until(lambda: _accepted_count(progress) >= progress.batches_seen > 0, 15.0)
    with progress.lock:
        outcome.published = progress.batches_seen
        outcome.chain_seq = progress.last_accepted_seq
    return outcome


def _accepted_count(progress: Progress) -> int:
    """Verdicts that settle a batch (a duplicate verdict answers a re-send, not a batch)."""
    with progress.lock:
        return sum(
            n for outcome, n in progress.verdicts.items() if outcome in ("accepted", "quarantined")
        )


def _receipt(
    workdir: Path, verifier_toml: Path, public_key: bytes, progress: Progress, outcome: Outcome
) -> None:
    """Write the receipt of one accepted reading, check it, and check that a forgery fails."""
    with progress.lock:
        candidate = progress.receipt_candidate
    if candidate is None:
        outcome.receipt_detail = "no accepted batch to take a reading from"
        return
    device_id, boot_id, device_seq, batch_seq = candidate
    outcome.receipt_ref = (
        f"{GATEWAY_ID}/{device_id}/{device_seq} (boot {boot_id}, batch {batch_seq})"
    )
    path = workdir / "receipt.json"
    made = _run_edgeseal(
        workdir,
        "receipt",
        "--reading",
        f"{GATEWAY_ID}/{device_id}/{device_seq}",
        "--boot",
        str(boot_id),
        "--config",
        str(verifier_toml),
        "-o",
        str(path),
    )
    if made.returncode != 0:
        outcome.receipt_detail = f"edgeseal receipt failed: {made.stderr.strip()[-500:]}"
        return
    checked = _run_edgeseal(workdir, "check-receipt", str(path), "--expect-key", public_key.hex())
    outcome.receipt_valid = checked.returncode == 0
    outcome.receipt_detail = (checked.stdout.strip().splitlines() or [checked.stderr.strip()])[-1]
    # The same receipt with the reading's value changed must be refused.
    forged_path = workdir / "receipt-forged.json"
    forged = _forge(path.read_text(encoding="utf-8"))
    if forged is None:
        return
    forged_path.write_text(forged, encoding="utf-8")
    refused = _run_edgeseal(
        workdir, "check-receipt", str(forged_path), "--expect-key", public_key.hex()
    )
    outcome.receipt_tamper_caught = refused.returncode == 1


def _forge(receipt_text: str) -> str | None:
    """The receipt with the reading's mantissa changed by one (a forged measurement)."""
    receipt = json.loads(receipt_text)
    reading = receipt.get("reading")
    if not isinstance(reading, dict) or not isinstance(reading.get("mantissa"), int):
        return None
    reading["mantissa"] += 1
    return json.dumps(receipt, indent=2)


def _summary(
    out: TextIO,
    settings: DemoSettings,
    broker: MosquittoProcess | EmbeddedBroker,
    progress: Progress,
    outcome: Outcome,
    wall_s: float,
) -> int:
    with progress.lock:
        verdicts = dict(progress.verdicts)
        accepted_readings = progress.readings_accepted
        in_batches = progress.readings_in_batches
        problems = list(progress.problems)
    accepted = verdicts.get("accepted", 0)
    quarantined = verdicts.get("quarantined", 0)
    pending = verdicts.get("pending", 0)
    lines = [
        "",
        f"summary ({wall_s:.1f} s in all, devices ran {settings.seconds:g} s; broker: {broker.name})",
        f"  devices:  {settings.devices} simulated, {outcome.generated} readings generated",
        (
            f"  agent:    {outcome.signed} readings signed, {outcome.published} batches "
            f"published ({in_batches} readings)"
        ),
        (
            f"  verifier: {accepted} batches accepted ({accepted_readings} readings, chain up "
            f"to seq {outcome.chain_seq}), {quarantined} quarantined, {pending} held"
        ),
        f"  receipt:  {outcome.receipt_ref or '-'} -> receipt.json; edgeseal check-receipt: "
        + ("VALID" if outcome.receipt_valid else f"NOT VALID ({outcome.receipt_detail})"),
    ]
    if outcome.receipt_valid:
        lines.append(
            "            a copy with the reading's value changed by one is "
            + (
                "refused, as it must be"
                if outcome.receipt_tamper_caught
                else "NOT refused (this is a bug)"
            )
        )
    lines += [f"  problem:  {p}" for p in problems[:10]]
    ok = (
        accepted > 0
        and quarantined == 0
        and outcome.receipt_valid
        and outcome.receipt_tamper_caught
        and accepted_readings == in_batches
    )
    lines.append(
        f"result: {'OK' if ok else 'FAILED'}: every published reading was "
        f"{'verified' if accepted_readings == in_batches else 'NOT verified'}"
    )
    out.write("\n".join(lines) + "\n")
    out.flush()
    return EXIT_OK if ok else EXIT_FAILED


__all__ = ["DemoSettings", "EmbeddedBroker", "choose_broker", "configure", "run"]
