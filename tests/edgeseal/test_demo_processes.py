"""The parent-death signal of the demo's children, without running the demo.

Between fork and exec the child of a threaded process must not load libraries (the
loader's lock may be held by a thread that no longer exists there): prctl is looked up
in the demo before the fork. test_demo.py checks the effect end to end (a killed demo
takes its children along).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys

import pytest

from edgeseal.demo import processes

# The child reports its parent-death signal (PR_GET_PDEATHSIG), which survives exec.
REPORT_PDEATHSIG = (
    "import ctypes; s = ctypes.c_int(-1); "
    "ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(s)); print(s.value)"
)


def test_children_get_sigterm_on_the_demos_death_without_loading_libc_after_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    preexec = processes.parent_death_signal()
    assert preexec is not None

    def no_loading(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("libc loaded between fork and exec")

    # In the forked child too: a preexec_fn that loaded libc would raise, and Popen with it.
    monkeypatch.setattr(ctypes, "CDLL", no_loading)
    child = subprocess.run(
        [sys.executable, "-c", REPORT_PDEATHSIG],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        preexec_fn=preexec,
    )
    assert int(child.stdout) == signal.SIGTERM


def test_a_child_forked_just_before_the_demo_died_does_not_run() -> None:
    """PR_SET_PDEATHSIG only covers deaths after the call: the child checks its parent."""
    # A parent pid that is not the child's: as if the demo died between fork and prctl.
    preexec = processes._ParentDeathSignal(lambda _option, _value: 0, parent_pid=-1)
    child = subprocess.run(
        [sys.executable, "-c", "print('ran')"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        preexec_fn=preexec,
    )
    assert child.stdout == ""
    assert child.returncode == 128 + signal.SIGTERM
