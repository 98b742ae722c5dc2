"""The live status line while the devices run."""

from __future__ import annotations

import time
from typing import TextIO

from edgeseal.demo.metrics import PUBLISHED, SIGNED
from edgeseal.demo.watcher import Progress

BAR_WIDTH = 24
NOT_A_TTY_EVERY_S = 2.0


class Display:
    """One status line: redrawn in place on a terminal, printed now and then otherwise."""

    def __init__(self, out: TextIO, total_s: float) -> None:
        self.out = out
        self.total_s = total_s
        self.tty = out.isatty()
        self._last_print = 0.0

    def update(self, elapsed: float, metrics: dict[str, float], progress: Progress) -> None:
        done = int(min(1.0, elapsed / self.total_s) * BAR_WIDTH)
        bar = "#" * done + "-" * (BAR_WIDTH - done)
        with progress.lock:
            verified = progress.verdicts.get("accepted", 0)
            quarantined = progress.verdicts.get("quarantined", 0)
            readings_ok = progress.readings_accepted
        line = (
            f"[{bar}] {elapsed:5.1f}/{self.total_s:g} s | "
            f"signed {int(metrics.get(SIGNED, 0)):6d} | "
            f"published {int(metrics.get(PUBLISHED, 0)):4d} batches | "
            f"verified {verified:4d} batches ({readings_ok} readings)"
            + (f" | QUARANTINED {quarantined}" if quarantined else "")
        )
        now = time.monotonic()
        if self.tty:
            self.out.write("\r" + line + "\x1b[K")
            self.out.flush()
        elif now - self._last_print >= NOT_A_TTY_EVERY_S:
            self.out.write(line + "\n")
            self.out.flush()
            self._last_print = now

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
