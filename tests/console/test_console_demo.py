"""`edgeseal demo --keep`: prints the console's URL and keeps everything running past
--seconds until Ctrl-C, with the console answering; Ctrl-C then winds down and sums up."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from console_client import get_json


def test_demo_keep_runs_until_ctrl_c_with_the_console_up(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeseal", "demo", "--workdir", str(workdir), "--keep"]
        + ["--seconds", "1", "--devices", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    progressed = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if re.search(r"signed +[1-9]", line):
                progressed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert progressed.wait(90), "no progress:\n" + "".join(lines)
        url = re.search(r"^console: (http://\S+)/#token=(\S+)$", "".join(lines), re.MULTILINE)
        assert url, "".join(lines)
        base, token = url.group(1), url.group(2)
        time.sleep(2.5)  # well past --seconds 1: still running
        assert proc.poll() is None, "".join(lines)
        status, body = get_json(f"{base}/api/v1/gateways", token)
        assert status == 200 and body["gateways"][0]["gateway_id"] == "demo-gw"
        assert body["gateways"][0]["head_seq"] >= 1
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(90)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    out = "".join(lines)
    # Ctrl-C under --keep is the normal end: wound down and summed up (not exit 130, the
    # interrupted run), with the run's own checks passed.
    assert rc == 0, out + (proc.stderr.read() if proc.stderr else "")
    assert "result: OK" in out and "check-receipt: VALID" in out, out
