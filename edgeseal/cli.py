"""The ``edgeseal`` command: one entry point, one module per subcommand.

Each subcommand lives next to the code it drives and exposes two functions:
``configure(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int``. Modules are imported only when their
subcommand is used, so a gateway never loads the verifier and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


COMMANDS: dict[str, Command] = {
    "info": Command(
        "edgeseal.native.info", "show the native core's CPU features and active SHA-256 variant"
    ),
    "simulate-device": Command(
        "edgeseal.firmware_bridge.simulate", "run a simulated sensor device on a pseudo-terminal"
    ),
    "keygen": Command("edgeseal.agent.keygen", "create the gateway's Ed25519 signing key"),
    "agent": Command(
        "edgeseal.agent.daemon", "run the gateway agent (serial -> signed batches -> MQTT)"
    ),
    "verifier": Command(
        "edgeseal.verifier.service", "run the back-end verifier (MQTT -> verified store)"
    ),
    "verifier-accept-loss": Command(
        "edgeseal.verifier.accept_loss",
        "record an operator's audited decision that seqs N..M of a gateway are lost",
    ),
    "verifier-migrate": Command(
        "edgeseal.verifier.migrate",
        "upgrade the verifier's store (SQLite or PostgreSQL) to this version's schema",
    ),
    "receipt": Command(
        "edgeseal.verifier.receipt_cli", "write a third-party receipt for one stored reading"
    ),
    "completeness": Command(
        "edgeseal.verifier.completeness_cli",
        "per device and boot: readings stored, lost (signed notices) and unexplained gaps",
    ),
    "check-receipt": Command(
        "edgeseal.verifier.check_receipt_cli", "check a receipt and explain any failure"
    ),
    "witness": Command(
        "edgeseal.witness.cli",
        "run a transparency-log witness (C2SP tlog-witness) that cosigns consistent checkpoints",
    ),
    "log": Command(
        "edgeseal.verifier.log_cli",
        "the transparency log: show its checkpoint, audit it, print inclusion/consistency proofs",
    ),
    "demo": Command("edgeseal.demo", "run broker, devices, agent and verifier locally for a while"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: edgeseal COMMAND [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines += ["", "Run 'edgeseal COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    # `edgeseal verifier migrate` (the operator's spelling) is `edgeseal verifier-migrate`;
    # `edgeseal verifier` itself takes no positional argument, so nothing is shadowed.
    if rest and not rest[0].startswith("-") and f"{name}-{rest[0]}" in COMMANDS:
        name, rest = f"{name}-{rest[0]}", rest[1:]
    if name == "--version":
        from edgeseal import __version__

        print(__version__)
        return 0
    command = COMMANDS.get(name)
    if command is None:
        print(f"edgeseal: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(command.module)
    parser = argparse.ArgumentParser(prog=f"edgeseal {name}", description=command.summary)
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold (default INFO)",
    )
    module.configure(parser)
    parsed = parser.parse_args(rest)
    logging.basicConfig(
        level=parsed.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(module.run(parsed))


if __name__ == "__main__":
    sys.exit(main())
