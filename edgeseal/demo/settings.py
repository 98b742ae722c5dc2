"""What the demo is asked to do: its command-line options, checked once into DemoSettings."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from edgeseal.demo.errors import DemoError
from edgeseal.wire.topics import Topics

GATEWAY_ID = "demo-gw"
TOPICS = Topics()  # the default prefix, which the generated configs leave as it is
STARTUP_TIMEOUT_S = 30.0


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
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep everything running after --seconds (devices, agent, broker, verifier and "
        "its console) until Ctrl-C, then wind down and summarize; keep the working directory",
    )


def settings_from_args(args: argparse.Namespace) -> DemoSettings:
    """The parsed options, range-checked; DemoError names the first one out of range."""
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
        seconds=args.seconds,
        devices=args.devices,
        rate=args.rate,
        batch_readings=args.batch_readings,
        batch_delay_s=args.batch_delay,
        broker=args.broker,
        workdir=args.workdir,
        keep=args.keep,
    )
