"""One demo run, top to bottom: working directory, broker, key and configs, verifier,
devices, agent; the live display while the devices run; wind-down, receipt, summary;
and, however it ends, every process it started stopped."""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import quote

from edgeseal.demo.anchoring import CHECKPOINT_INTERVAL_S, ORIGIN, DemoLog, start_log
from edgeseal.demo.brokers import Broker, choose_broker, why_this_broker
from edgeseal.demo.configs import agent_config, verifier_config, write_config
from edgeseal.demo.display import Display
from edgeseal.demo.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_STARTUP,
    DemoError,
    Interrupted,
)
from edgeseal.demo.metrics import read_agent_metrics
from edgeseal.demo.processes import Child, Children, edgeseal_argv
from edgeseal.demo.receipt import prove_one_reading
from edgeseal.demo.settings import GATEWAY_ID, DemoSettings, settings_from_args
from edgeseal.demo.summary import print_summary
from edgeseal.demo.watcher import Progress, Watcher
from edgeseal.demo.winddown import wind_down
from edgeseal.testing.broker import free_port

TICK_S = 0.25  # how often the display is redrawn and the children checked


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except DemoError as exc:
        print(f"edgeseal demo: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    # The demo is an application: keep third-party chatter (the embedded broker logs
    # every connection at INFO) out of the progress display.
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    own_dir = settings.workdir is None
    if settings.workdir is not None and _in_use(settings.workdir):
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
        return _run(settings, workdir, sys.stdout)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if own_dir and not settings.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"working directory kept: {workdir}")


def _in_use(workdir: Path) -> bool:
    return workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir()))


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _run(settings: DemoSettings, workdir: Path, out: TextIO) -> int:
    children = Children(workdir)
    broker: Broker | None = None
    watcher: Watcher | None = None
    progress = Progress()
    demo_log: DemoLog | None = None
    started = time.monotonic()
    try:
        try:
            broker = choose_broker(settings.broker, workdir)
            broker.start()
        except DemoError as exc:
            print(f"edgeseal demo: {exc}", file=sys.stderr)
            return EXIT_STARTUP
        print(
            f"broker: {broker.name} on 127.0.0.1:{broker.port}"
            f"{why_this_broker(broker, settings.broker)}"
        )

        from edgeseal.agent.identity import GatewayKey, save_key

        key = GatewayKey.generate()
        key_path = workdir / "gateway.key"
        save_key(key, key_path)
        print(
            f"gateway {GATEWAY_ID}: new key, id {key.key_id.hex()}; configs and logs in {workdir}"
        )

        demo_log = start_log(workdir, children)
        print(
            f"log: {ORIGIN}, a checkpoint every {CHECKPOINT_INTERVAL_S:g} s, cosigned by a "
            f"witness, anchored at a local TSA ({demo_log.tsa.url}) and on an embedded EVM chain"
        )
        verifier_toml = workdir / "verifier.toml"
        console_port = free_port()
        token = secrets.token_urlsafe(24)
        write_config(
            verifier_toml,
            verifier_config(
                store=workdir / "verifier.sqlite",
                broker_port=broker.port,
                protocol=broker.protocol,
                public_key=key.public_key,
                http_port=console_port,
                token=token,
                log=demo_log.section,
            ),
        )
        verifier = children.start(
            "verifier",
            edgeseal_argv("verifier", "--config", str(verifier_toml)),
            ready_stderr="subscribed to",
        )
        children.wait_ready(verifier, "its subscription to the batch topic")
        console = f"http://127.0.0.1:{console_port}"
        # The token rides in the URL's fragment, which the browser never sends anywhere.
        print(f"console: {console}/#token={token}")
        # The keys a checker trusts: the gateway's and the log's ("+" and "/" escaped).
        trusted = f"key={key.public_key.hex()}&log_key={quote(demo_log.log_vkey, safe='')}"
        print(f"receipt checker: {console}/console/receipt.html#{trusted}")
        watcher = Watcher("127.0.0.1", broker.port, progress)
        watcher.start()

        links = [workdir / f"device-{i}" for i in range(1, settings.devices + 1)]
        devices = _start_devices(children, links, settings.rate)
        print(
            f"devices: {settings.devices} simulated on pseudo-terminals "
            f"({', '.join(d.stdout_lines[0] for d in devices)}), {settings.rate:g} readings/s each"
        )

        metrics_port = free_port()
        agent_toml = workdir / "agent.toml"
        write_config(
            agent_toml,
            agent_config(
                key_path=key_path,
                ports=links,
                outbox=workdir / "outbox.sqlite",
                broker_port=broker.port,
                protocol=broker.protocol,
                metrics_port=metrics_port,
                settings=settings,
            ),
        )
        agent = children.start("agent", edgeseal_argv("agent", "--config", str(agent_toml)))
        print(
            f"agent: signing, batching (<= {settings.batch_readings} readings or "
            f"{settings.batch_delay_s:g} s) and publishing; verifier: checking every batch"
        )

        if settings.keep:
            print(
                f"--keep: everything keeps running after {settings.seconds:g} s, "
                "until Ctrl-C; then the demo winds down and sums up"
            )
        metrics = _show_progress(
            out,
            settings.seconds,
            [agent, verifier, *devices],
            metrics_port,
            progress,
            until_interrupted=settings.keep,
        )
        outcome = wind_down(children, devices, agent, metrics_port, metrics, progress)
        with progress.lock:
            candidate = progress.receipt_candidate
        outcome.receipt = prove_one_reading(
            workdir, verifier_toml, key.public_key, candidate, demo_log.check_args()
        )
        children.stop(verifier)
        wall_s = time.monotonic() - started
        return print_summary(out, settings, broker.name, progress, outcome, wall_s)
    except Interrupted as exc:
        print(f"\nedgeseal demo: {exc}: stopping every process it started", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nedgeseal demo: interrupted: stopping every process it started", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (DemoError, OSError) as exc:  # OSError: a full disk, a vanished directory
        print(f"\nedgeseal demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        _stop_everything(children, watcher, broker)
        if demo_log is not None:
            demo_log.close()


def _start_devices(children: Children, links: Sequence[Path], rate: float) -> list[Child]:
    """One simulated device per link, each waited for until its pseudo-terminal is up."""
    devices = [
        children.start(
            f"device-{i}",
            edgeseal_argv(
                "simulate-device", "--device-id", str(i), "--rate", str(rate), "--link", str(link)
            ),
            ready_stdout=True,
        )
        for i, link in enumerate(links, start=1)
    ]
    for device in devices:
        children.wait_ready(device, "its pseudo-terminal")
    return devices


def _show_progress(
    out: TextIO,
    seconds: float,
    running: Sequence[Child],
    metrics_port: int,
    progress: Progress,
    *,
    until_interrupted: bool = False,
) -> dict[str, float]:
    """Redraw the status line until ``seconds`` have passed (``until_interrupted``: until
    Ctrl-C, however long that is); the agent's last metrics.

    DemoError as soon as one of the ``running`` children exits.
    """
    display = Display(out, seconds)
    run_started = time.monotonic()
    metrics: dict[str, float] = {}
    try:
        try:
            while (elapsed := time.monotonic() - run_started) < seconds or until_interrupted:
                for child in running:
                    child.check_running()
                metrics = read_agent_metrics(metrics_port) or metrics
                display.update(elapsed, metrics, progress)
                time.sleep(TICK_S)
        except KeyboardInterrupt:
            if not until_interrupted:
                raise
            # --keep: Ctrl-C ends the live phase; the wind-down and summary follow.
        display.update(max(seconds, time.monotonic() - run_started), metrics, progress)
    finally:
        display.finish()
    return metrics


def _stop_everything(children: Children, watcher: Watcher | None, broker: Broker | None) -> None:
    """Watcher, children newest first, broker last; a second Ctrl-C cannot cut this short."""
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
