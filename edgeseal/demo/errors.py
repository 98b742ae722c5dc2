"""How the demo ends: its exit statuses and the two exceptions that stop it early."""

from __future__ import annotations

EXIT_OK = 0  # batches were verified, none quarantined, the receipt checked out
EXIT_FAILED = 1  # it ran, but something in the chain did not hold
EXIT_STARTUP = 2  # it could not start: bad options, a used --workdir, no broker
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop everything, print what we have."""
