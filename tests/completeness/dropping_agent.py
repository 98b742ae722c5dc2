"""A dishonest gateway for the tests: the real ``edgeseal agent`` with one change, it
silently drops readings ``EDGESEAL_DROP_FIRST..EDGESEAL_DROP_LAST`` (of every device)
before signing, ACKs the devices as usual and signs and seals the rest, with no loss
notice: what a faulty or malicious gateway would do. Run as a script, with the agent's
command-line arguments."""

from __future__ import annotations

import os
import sys

from edgeseal.agent.pipeline import HeldReading, Pipeline
from edgeseal.cli import main

FIRST = int(os.environ["EDGESEAL_DROP_FIRST"])
LAST = int(os.environ["EDGESEAL_DROP_LAST"])
_honest_store_held = Pipeline.store_held


def _store_held_dropping(self: Pipeline, acks: object) -> bool:
    self._held = [
        h for h in self._held if not (isinstance(h, HeldReading) and FIRST <= h.reading.seq <= LAST)
    ]
    return _honest_store_held(self, acks)  # type: ignore[arg-type]


Pipeline.store_held = _store_held_dropping  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(["agent", *sys.argv[1:]]))
