"""The Ed25519 core chooses its vector kernels once per process (ed25519_dispatch.c):
the environment is read when the extension is loaded and never on a call path, where
the GIL is released and another thread may be rewriting the environment."""

from __future__ import annotations

import os
import subprocess
import sys

from edgeseal.native import ed25519

# Another thread adds and removes environment variables while batches run. setenv()
# reallocates the environ array and unsetenv() shifts it; a getenv() walking it
# without the GIL (as the core did on every batch, MSM and decoding) read freed
# memory and crashed the process within about a second.
_ENVIRONMENT_WRITER = """
import os, threading, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from edgeseal import native
sk = Ed25519PrivateKey.from_private_bytes(bytes(32))
pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
msgs = [b"reading %d" % i for i in range(16)]
sigs = [sk.sign(m) for m in msgs]
stop = time.monotonic() + 2.0
def writer():
    i = 0
    while time.monotonic() < stop:
        os.environ["EDGESEAL_TEST_W%d" % i] = "y"
        i += 1
        if i % 2000 == 0:
            for j in range(i - 2000, i):
                del os.environ["EDGESEAL_TEST_W%d" % j]
t = threading.Thread(target=writer)
t.start()
calls = 0
while time.monotonic() < stop:
    assert native.verify_batch([pk] * 16, msgs, sigs) == [True] * 16
    calls += 1
t.join()
print("calls", calls)
"""


def test_batches_survive_a_thread_rewriting_the_environment() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _ENVIRONMENT_WRITER],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, (
        f"batch verification crashed ({run.returncode}) while another thread wrote "
        f"os.environ:\n{run.stderr[-2000:]}"
    )
    assert run.stdout.startswith("calls ")


def test_the_environment_is_read_once_when_the_core_is_loaded() -> None:
    chosen = ed25519.implementation()
    previous = os.environ.get("EDGESEAL_ED25519")
    os.environ["EDGESEAL_ED25519"] = "avx512ifma" if chosen == "portable" else "portable"
    try:
        assert ed25519.implementation() == chosen
    finally:
        if previous is None:
            del os.environ["EDGESEAL_ED25519"]
        else:
            os.environ["EDGESEAL_ED25519"] = previous


def test_every_variant_name_can_be_forced_when_the_cpu_runs_it() -> None:
    native_choice = ed25519.implementation()
    order = ["portable", "avx512f", "avx512ifma"]
    for name in order[: order.index(native_choice) + 1] if native_choice in order else order[:1]:
        env = dict(os.environ, EDGESEAL_ED25519=name)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from edgeseal.native import ed25519 as e; print(e.implementation())",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == name
