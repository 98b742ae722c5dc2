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
from typing import Any
from urllib.parse import parse_qs

from console_client import get_json

from edgeseal.verifier.console_files import CONSOLE_DIR


def test_demo_keep_runs_until_ctrl_c_with_the_console_up(browser: Any, tmp_path: Path) -> None:
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

    # The demo's receipt (version 2: through the log) in the checker page, opened from
    # disk with the trusted keys the demo printed in its URL.
    checker = re.search(r"^receipt checker: \S+/console/receipt\.html#(\S+)$", out, re.MULTILINE)
    assert checker, out
    page = browser.new_page()
    try:
        page.goto(f"{(CONSOLE_DIR / 'receipt.html').as_uri()}#{checker.group(1)}")
        page.wait_for_selector("body[data-ready='1']")
        # The escaped verifier key arrived whole ("+" would have become a space).
        (log_key,) = parse_qs(checker.group(1))["log_key"]
        assert page.input_value("#log-key") == log_key and " " not in log_key
        page.set_input_files("#file", str(workdir / "receipt.json"))
        page.wait_for_selector("#outcome.valid, #outcome.invalid, #outcome.unchecked")
        assert page.inner_text("#outcome") == "VALID", page.inner_text("#checks")
        assert page.locator("#checks li.ok[data-check='log inclusion']").count() == 1
    finally:
        page.close()
