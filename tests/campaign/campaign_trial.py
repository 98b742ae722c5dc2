"""One trial of the delivery campaign (issue 11): real processes, random SIGKILLs, an audit.

A trial runs a simulated device on a pty, `edgeseal agent`, one or two `edgeseal
verifier` workers (a shared subscription, one store) on a long-lived persistent
mosquitto, under its own topic prefix, gateway id and files. Its random schedule
(``TrialPlan``, drawn from the trial's seed alone) SIGKILLs the agent and the verifiers
at random moments and reboots the device while the agent is down. Then ``audit``
compares three independent records:

- the simulator's end-of-run summary: per boot, how many readings the device generated
  and how far it got ACKs (the rest of a boot it left was lost with its RAM);
- the verifier's SQLite store, opened read-only: what was accepted;
- the agent's log: the losses it reported (``device D (boot B) on P lost readings F..L``).

Every generated reading must be stored exactly once or inside a reported loss, every
reported loss must be one the device really suffered, and no reported loss may cover a
stored reading.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from campaign_audit import Key, account, generated, reported_losses, suffered

from edgeseal.testing.devices import SimulatorHandle, simulated_device

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "agent"))
sys.path.insert(0, str(TESTS / "verifier"))
from agent_helpers import make_key, start_agent
from verifier_mqtt import ProcessWorker, wait_until


@dataclass(frozen=True)
class Event:
    at_s: float  # seconds after the trial's processes started
    action: str  # kill-agent, start-agent, reboot-device, kill-verifier, start-verifier
    worker: int = 0  # which verifier
    reboot_follows: bool = False  # kill-agent: the device reboots in this outage


@dataclass(frozen=True)
class TrialPlan:
    seed: int
    readings: int  # the device generates this many, then exits once all are ACKed
    rate: int
    verifiers: int
    events: tuple[Event, ...]

    @classmethod
    def draw(cls, seed: int) -> TrialPlan:
        rng = random.Random(seed)
        events: list[Event] = []
        # Agent: one or two SIGKILLs, each followed by a short outage; during about half
        # of the outages the device reboots (its unacknowledged readings are lost).
        t = rng.uniform(0.2, 1.4)
        for _ in range(rng.choice((1, 1, 2))):
            down = rng.uniform(0.2, 1.0)
            reboot = rng.random() < 0.5
            events.append(Event(t, "kill-agent", reboot_follows=reboot))
            if reboot:
                events.append(Event(t + rng.uniform(0.05, down - 0.05), "reboot-device"))
            events.append(Event(t + down, "start-agent"))
            t += down + rng.uniform(0.3, 0.8)
        # Verifiers: one or two SIGKILLs of a random worker, independent of the agent's.
        verifiers = 2 if rng.random() < 0.3 else 1
        t = rng.uniform(0.1, 1.5)
        for _ in range(rng.choice((1, 1, 2))):
            down = rng.uniform(0.2, 1.2)
            worker = rng.randrange(verifiers)
            events.append(Event(t, "kill-verifier", worker))
            events.append(Event(t + down, "start-verifier", worker))
            t += down + rng.uniform(0.3, 0.8)
        events.sort(key=lambda e: e.at_s)
        # Enough readings that the device still samples at the last event (an outage
        # only pauses it: its ring fills and sampling waits).
        rate = 250
        readings = int(rate * (events[-1].at_s + rng.uniform(0.3, 1.0)))
        return cls(seed, readings, rate, verifiers, tuple(events))


@dataclass
class TrialFigures:
    generated: int = 0
    accepted: int = 0
    reported_lost: int = 0
    unacked_at_reboot: int = 0  # held by the device, un-ACKed, when it rebooted: the most it lost
    agent_kills: int = 0
    verifier_kills: int = 0
    reboots: int = 0
    reboots_skipped: int = 0  # the agent had stored nothing of the boot (see run_trial)

    def add(self, other: TrialFigures) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to another process's SQLite file, closed after use."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield db
    finally:
        db.close()


def query(path: Path, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
    """Rows from a database another process may still be creating (none: no rows yet)."""
    if not path.exists():
        return []
    try:
        with read_only(path) as db:
            return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # the process was killed, or is still starting, before its schema
        raise


@dataclass
class Trial:
    """Files, configs and processes of one trial; ``run`` drives it, ``audit`` checks it."""

    tmp: Path
    broker_port: int
    index: int
    plan: TrialPlan
    device_id: int = field(init=False)
    gateway_id: str = field(init=False)
    prefix: str = field(init=False)
    figures: TrialFigures = field(default_factory=TrialFigures)
    agent: subprocess.Popen[bytes] | None = None
    workers: list[ProcessWorker | None] = field(default_factory=list)
    _starts: int = 0

    def __post_init__(self) -> None:
        self.tmp.mkdir()
        self.device_id = 5000 + self.index
        self.gateway_id = f"gw-campaign-{self.index}"
        self.prefix = f"campaign/t{self.index}/v1"  # a non-default prefix, one per trial
        gateway = make_key(self.tmp / "gateway.key")
        verifier = make_key(self.tmp / "verifier.key")
        self.store_path = self.tmp / "verifier.sqlite"
        self.outbox_path = self.tmp / "outbox.sqlite"
        self.agent_log = self.tmp / "agent.log"
        self.verifier_toml = self.tmp / "verifier.toml"
        config: dict[str, Any] = {
            "mqtt": {
                "host": "127.0.0.1",
                "port": self.broker_port,
                "topic_prefix": self.prefix,
                "group": "verifiers",
                "session_expiry_s": 300,
                "keepalive_s": 10,
            },
            "store": {"path": str(self.store_path), "synchronous": "normal"},
            "gateways": {self.gateway_id: gateway.public_key.hex()},
            "verifier": {
                "key_path": str(self.tmp / "verifier.key"),
                "resend_after_s": 1.0,
                "resend_max_s": 4.0,
            },
        }
        self.verifier_toml.write_text(tomli_w.dumps(config), encoding="utf-8")
        self.verifier_public_key = verifier.public_key

    def context(self) -> str:
        return (
            f"trial {self.index}, seed {self.plan.seed} (replay: EDGESEAL_CAMPAIGN_SEED="
            f"{self.plan.seed} EDGESEAL_CAMPAIGN_TRIALS=1), files in {self.tmp}"
        )

    def agent_config(self, port: str) -> Path:
        config: dict[str, Any] = {
            "gateway": {"id": self.gateway_id, "key_path": str(self.tmp / "gateway.key")},
            "serial": [{"path": port}],
            "batch": {"max_readings": 32, "max_delay_s": 0.1},
            "outbox": {"path": str(self.outbox_path)},
            "mqtt": {
                "host": "127.0.0.1",
                "port": self.broker_port,
                "topic_prefix": self.prefix,
                "reconnect_min_s": 1,
                "reconnect_max_s": 1,
                "flush_timeout_s": 3.0,
            },
            "verifier": {
                "public_key": self.verifier_public_key.hex(),
                "republish_min_s": 0.5,
                "republish_max_s": 2.0,
            },
        }
        path = self.tmp / "agent.toml"
        path.write_text(tomli_w.dumps(config), encoding="utf-8")
        return path

    # --- processes ------------------------------------------------------------------------

    def start_verifier(self, worker: int) -> None:
        self._starts += 1
        log = self.tmp / f"verifier-{worker}-{self._starts}.log"
        self.workers[worker] = ProcessWorker(
            self.verifier_toml, f"campaign-{self.index}-v{worker}", log
        )

    def kill_verifier(self, worker: int) -> None:
        running = self.workers[worker]
        assert running is not None
        running.kill()
        self.workers[worker] = None
        self.figures.verifier_kills += 1

    def kill_agent(self) -> None:
        assert self.agent is not None
        self.agent.send_signal(signal.SIGKILL)
        assert self.agent.wait(10) == -signal.SIGKILL, f"agent not killed ({self.context()})"
        self.agent = None
        self.figures.agent_kills += 1

    def current_boot(self, dev: SimulatorHandle) -> int | None:
        """The boot the device is in, if it rebooted in this trial (None: its first boot)."""
        reboots = [r["boot_id"] for r in dev.records if r.get("event") == "rebooted"]
        return reboots[-1] if reboots else None

    def agent_stored_some_of(self, boot: int | None) -> bool:
        """Whether the agent's outbox has a stored reading of the device's current boot."""
        boots = {
            b
            for (b,) in query(
                self.outbox_path,
                "SELECT boot_id FROM device_progress WHERE device_id = ?",
                (self.device_id,),
            )
        }
        return bool(boots) if boot is None else boot in boots

    def reboot(self, dev: SimulatorHandle) -> int | None:
        """Reboot the device (the agent is down); returns the new boot id, or None if skipped.

        Skipped if the device already finished, or (as a guard: ``run`` waits for it
        before the kill) the agent stored nothing of the boot; see
        ``wait_for_a_stored_reading``.
        """
        if dev.proc.poll() is not None or not self.agent_stored_some_of(self.current_boot(dev)):
            self.figures.reboots_skipped += 1
            return None
        before = len(dev.records)
        dev.reboot()
        wait_until(
            lambda: any(r.get("event") == "rebooted" for r in dev.records[before:]),
            10,
            "the simulator to report its reboot",
        )
        self.figures.reboots += 1
        return self.current_boot(dev)

    def wait_for_a_stored_reading(self, dev: SimulatorHandle) -> None:
        """Before a kill the device will reboot after: the agent stored a reading of its boot.

        docs/serial-protocol.md names the losses no gateway can detect, and the schedule
        must not provoke them: a boot the device leaves while the agent is down is
        reported lost only if the outbox holds a reading of it (``resume_from``).
        """
        wait_until(
            lambda: (
                dev.proc.poll() is not None or self.agent_stored_some_of(self.current_boot(dev))
            ),
            20,
            f"the agent to store a reading of the device's boot ({self.context()})",
        )

    def wait_for_hello(self, boot: int) -> None:
        """Before the next agent kill after a reboot: the agent has seen the new boot's HELLO.

        Otherwise the loss of the old boot's tail is undetectable by design (the restarted
        agent would resume in the new boot with no word of the old one; documented in
        docs/serial-protocol.md, "Across a gateway restart, also ...").
        """
        wait_until(
            lambda: f"booted (boot {boot}," in self.agent_log.read_text(errors="replace"),
            20,
            f"the agent to log the HELLO of boot {boot} ({self.context()})",
        )

    # --- the trial --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Stream, disturb per the plan, let the device finish; returns its summary."""
        plan = self.plan
        self.workers = [None] * plan.verifiers
        with simulated_device(
            device_id=self.device_id,
            rate=plan.rate,
            count=plan.readings,
            exit_when_done=True,
            seed=plan.seed,
            link=self.tmp / "ttyDEV",
        ) as dev:
            config = self.agent_config(dev.port)
            try:
                for worker in range(plan.verifiers):
                    self.start_verifier(worker)
                self.agent = start_agent(config, self.agent_log)
                started = time.monotonic()
                unconfirmed_boot: int | None = None
                for event in plan.events:
                    delay = started + event.at_s - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    if event.action == "kill-agent":
                        if unconfirmed_boot is not None:
                            self.wait_for_hello(unconfirmed_boot)
                            unconfirmed_boot = None
                        if event.reboot_follows:
                            self.wait_for_a_stored_reading(dev)
                        self.kill_agent()
                    elif event.action == "reboot-device":
                        unconfirmed_boot = self.reboot(dev) or unconfirmed_boot
                    elif event.action == "start-agent":
                        self.agent = start_agent(config, self.agent_log)
                    elif event.action == "kill-verifier":
                        self.kill_verifier(event.worker)
                    else:
                        self.start_verifier(event.worker)
                # The device exits once it generated its count and got all of it ACKed.
                rc = dev.wait(60)
                assert rc == 0, f"simulator exited with {rc} ({self.context()})"
            except BaseException:
                self.stop()
                raise
        summary = dev.summary
        assert summary is not None, f"the simulator wrote no summary ({self.context()})"
        return summary

    def stop(self) -> int | None:
        """SIGTERM the agent (its exit status) and stop the verifiers."""
        rc: int | None = None
        for worker in self.workers:  # all at once: the trial's end is not under test
            if worker is not None and worker.process.poll() is None:
                worker.process.terminate()
        if self.agent is not None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                rc = self.agent.wait(30)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
            self.agent = None
        for worker in self.workers:
            if worker is not None:
                worker.stop()
        self.workers = []
        return rc

    # --- the audit --------------------------------------------------------------------------

    def reported_losses(self) -> set[Key]:
        return reported_losses(self.agent_log.read_text(errors="replace"), self.device_id)

    def stored(self) -> set[Key]:
        return set(
            query(
                self.store_path,
                "SELECT boot_id, device_seq FROM readings WHERE gateway_id = ? AND device_id = ?",
                (self.gateway_id, self.device_id),
            )
        )

    def audit(self, summary: dict[str, Any]) -> list[str]:
        """Wait for the back end to settle, then every violation found (empty: none)."""
        boots = summary["boots"]
        assert boots[-1]["acked"] == boots[-1]["generated"], self.context()
        made = generated(boots)

        def accounted() -> bool:
            return made <= self.stored() | self.reported_losses()

        problems: list[str] = []
        try:
            wait_until(accounted, 40, "every generated reading stored or reported lost")
            wait_until(self.outbox_empty, 20, "the agent's outbox to empty (all acknowledged)")
        except AssertionError as exc:
            problems.append(str(exc))
        stored, reported = self.stored(), self.reported_losses()
        problems += account(boots, stored, reported)
        problems += self.store_problems()
        self.figures.generated = len(made)
        self.figures.accepted = len(stored & made)
        self.figures.reported_lost = len(reported)
        self.figures.unacked_at_reboot = len(suffered(boots))
        return problems

    def outbox_empty(self) -> bool:
        with read_only(self.outbox_path) as db:
            return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]) == 0

    def store_problems(self) -> list[str]:
        """The store itself: an unbroken chain, each reading once, nothing held or refused."""
        with read_only(self.store_path) as db:
            seqs = [
                s
                for (s,) in db.execute(
                    "SELECT seq FROM batches WHERE gateway_id = ? ORDER BY seq", (self.gateway_id,)
                )
            ]
            in_batches = db.execute(
                "SELECT COALESCE(SUM(count), 0) FROM batches WHERE gateway_id = ?",
                (self.gateway_id,),
            ).fetchone()[0]
            readings = db.execute(
                "SELECT COUNT(*) FROM readings WHERE gateway_id = ?", (self.gateway_id,)
            ).fetchone()[0]
            # batch counts include the signed events sealed among the readings
            in_batches -= db.execute(
                "SELECT COUNT(*) FROM device_events WHERE gateway_id = ?", (self.gateway_id,)
            ).fetchone()[0]
            held = db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
            quarantined = db.execute("SELECT reason, detail FROM quarantine").fetchall()
        problems = []
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"accepted chain has gaps: {seqs[:5]}..{seqs[-5:]}")
        if in_batches != readings:
            problems.append(f"accepted batches hold {in_batches} readings, the store {readings}")
        if held:
            problems.append(f"{held} batches still held (pending)")
        if quarantined:
            problems.append(f"quarantined: {quarantined[:3]}")
        return problems


def run_trial(tmp: Path, broker_port: int, index: int, seed: int) -> tuple[TrialFigures, list[str]]:
    """Run and audit one trial; returns its figures and the violations found."""
    trial = Trial(tmp, broker_port, index, TrialPlan.draw(seed))
    try:
        summary = trial.run()
        problems = trial.audit(summary)
    finally:
        rc = trial.stop()
    if rc not in (0, None):
        problems.append(f"agent exited with {rc} on SIGTERM")
    return trial.figures, [f"{p} ({trial.context()})" for p in problems]


def describe(plan: TrialPlan) -> str:
    """The schedule in one line, for the campaign's log."""
    steps = []
    for e in plan.events:
        worker = f"[{e.worker}]" if e.action.endswith("verifier") else ""
        steps.append(f"{e.at_s:.2f}s {e.action}{worker}")
    return ", ".join(steps)
