"""The demo's child processes: started in their own session, logged, stopped in order.

Every child also gets SIGTERM from the kernel if the demo dies without cleaning up
(PR_SET_PDEATHSIG, Linux), so even ``kill -9`` of the demo leaves nothing running.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from edgeseal.demo.errors import DemoError
from edgeseal.demo.settings import STARTUP_TIMEOUT_S

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class _ParentDeathSignal:
    """A ``preexec_fn``: in the child, between fork and exec, ask for SIGTERM on the
    demo's death.

    The demo has threads when it forks, and the child inherits whatever locks they held
    (the dynamic loader's, malloc's) with nobody left to release them. So everything
    that could take one, loading libc and finding ``prctl`` in it, happens here in the
    parent, before any fork; the child only calls the function pointer and getppid().

    The kernel sends the signal when the *thread* that forked the child ends: the demo
    starts its children from the main thread, which lives as long as the demo.
    """

    def __init__(self, prctl: Callable[[int, int], int], *, parent_pid: int) -> None:
        self._prctl = prctl
        self._parent = parent_pid
        self._signal = int(signal.SIGTERM)

    def __call__(self) -> None:
        self._prctl(PR_SET_PDEATHSIG, self._signal)
        if os.getppid() != self._parent:
            # The demo died between fork and prctl, too early for the kernel to signal
            # it: do not run at all (the status a SIGTERM would have given).
            os._exit(128 + self._signal)


def parent_death_signal() -> Callable[[], None] | None:
    """The ``preexec_fn`` that sets PR_SET_PDEATHSIG, or None where there is no prctl
    (then the demo's own cleanup is what stops its children)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    return _ParentDeathSignal(prctl, parent_pid=os.getpid())


def edgeseal_argv(*argv: str) -> list[str]:
    """The command line of an edgeseal child: this interpreter, ``-m edgeseal``.

    ``python -m`` puts its working directory first on ``sys.path``, so every child
    runs in the demo's working directory (new or empty at the start, holding only what
    the demo writes). Started from the caller's directory, a source checkout there would
    shadow the installed package, and an unbuilt one has no compiled modules
    (``No module named 'edgeseal.native._hashing'``).
    """
    return [sys.executable, "-m", "edgeseal", *argv]


def run_edgeseal(workdir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run an edgeseal command to completion in the demo's working directory."""
    return subprocess.run(
        edgeseal_argv(*argv), cwd=workdir, capture_output=True, text=True, timeout=60, check=False
    )


def tail(path: Path, lines: int = 12) -> str:
    """The last lines of a log, indented, to quote in an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


@dataclass
class Child:
    name: str
    process: subprocess.Popen[str]
    log_path: Path
    ready: threading.Event = field(default_factory=threading.Event)
    stdout_lines: list[str] = field(default_factory=list)

    def check_running(self) -> None:
        """DemoError, quoting its log, if the process has already exited."""
        if self.process.poll() is not None:
            raise DemoError(
                f"{self.name} exited early with status {self.process.returncode}; "
                f"its log: {self.log_path}\n{tail(self.log_path)}"
            )


class Children:
    """Every process the demo starts; stop_all() ends them, newest first."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir  # their logs go here, and it is their working directory
        self.started: list[Child] = []
        self._preexec = parent_death_signal()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_stderr: str | None = None,
        ready_stdout: bool = False,
    ) -> Child:
        """Start ``argv``; its output goes to ``<name>.log``. It counts as ready at its
        first line on stdout (``ready_stdout``) or at a stderr line containing
        ``ready_stderr``."""
        log_path = self.workdir / f"{name}.log"
        # Own session: the terminal's Ctrl-C reaches only the demo, which then stops
        # the children in order (devices, agent, verifier) instead of all at once.
        # cwd: see edgeseal_argv.
        process = subprocess.Popen(
            list(argv),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=self._preexec,  # noqa: PLW1509 - see _ParentDeathSignal
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
                    f"before {what}; its log: {child.log_path}\n{tail(child.log_path)}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"{child.name} did not report {what} within {timeout:.0f} s; "
                    f"its log: {child.log_path}\n{tail(child.log_path)}"
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
