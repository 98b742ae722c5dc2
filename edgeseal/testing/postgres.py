"""Run a private PostgreSQL server on a free loopback port (test scaffolding).

Used by the tests and the benchmarks of the verifier's PostgreSQL store, never by the
verifier itself. The server is Debian's ``postgresql`` package (``initdb`` and
``pg_ctl`` from /usr/lib/postgresql/<version>/bin or PATH), its data directory a
temporary directory, its only listener 127.0.0.1 (no Unix socket), every loopback
connection trusted (no passwords: nothing but this machine can reach it).

PostgreSQL refuses to run as root, so when the caller is root the server runs as the
unprivileged user ``nobody`` (``setpriv``) and owns its data directory.

    with PostgresServer() as pg:
        url = pg.create_database("verifier")   # postgresql://edgeseal@127.0.0.1:PORT/verifier
        pg.stop()                              # the database goes away (-m immediate)
        pg.start()                             # and comes back on the same port
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgeseal.testing.processes import Harness, free_port

log = logging.getLogger(__name__)

SUPERUSER = "edgeseal"
# The unprivileged account the server runs as when the caller is root.
SERVER_ACCOUNT = "nobody"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresError(RuntimeError):
    """PostgreSQL is not installed, or the server did not start or stop."""


def find_postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl: Debian's newest version, else PATH."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    return None


@dataclass
class PostgresServer(Harness):
    """A PostgreSQL server on ``host:port`` with its data in ``workdir``; restartable.

    ``durable=False`` (the default) turns fsync off: the data survives the server being
    killed (the kernel keeps what was written), not the machine losing power, which
    tests do not do. It makes each commit much cheaper on a loaded test machine.
    """

    host: str = "127.0.0.1"
    port: int = 0
    workdir: Path | None = None
    durable: bool = False
    # Networks (CIDR, e.g. "10.77.0.0/24") whose clients are trusted besides loopback:
    # for a server listening on another address than 127.0.0.1 (network namespaces).
    trust_networks: tuple[str, ...] = ()
    _bin: Path | None = field(default=None, init=False, repr=False)
    _own_workdir: bool = field(default=False, init=False, repr=False)
    _initialised: bool = field(default=False, init=False, repr=False)
    _running: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="edgeseal-postgres-"))
            self._own_workdir = True
        self._bin = find_postgres_bin()

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    @property
    def running(self) -> bool:
        return self._running

    @property
    def pid(self) -> int:
        """The postmaster's process id (the server's parent process), while it runs."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        """The URL of one database of this server (``[store] url`` takes it as is)."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _run(self, args: list[str], what: str, timeout: float = 60.0) -> None:
        command = list(args)
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_ACCOUNT)
            command = [
                "setpriv",
                f"--reuid={account.pw_uid}",
                f"--regid={account.pw_gid}",
                "--clear-groups",
                "--",
                *command,
            ]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                cwd=self.workdir,
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(f"{what} did not finish within {timeout} s") from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            server_log = ""
            if self.log_path.exists():
                server_log = self.log_path.read_text(errors="replace")[-2000:]
            raise PostgresError(
                f"{what} failed with status {done.returncode}: {output}\nserver log: {server_log}"
            )

    def _initdb(self) -> None:
        assert self.workdir is not None and self._bin is not None
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_ACCOUNT)
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
        self._run(
            [
                str(self._bin / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            "initdb",
        )
        if self.trust_networks:
            with (self.data_dir / "pg_hba.conf").open("a", encoding="utf-8") as hba:
                for network in self.trust_networks:
                    hba.write(f"host all all {network} trust\n")
        self._initialised = True

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (initialising its data directory the first time); waits
        until it accepts connections."""
        if self._running:
            return
        if self._bin is None:
            raise PostgresError(
                "PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin "
                "or on PATH); install it with 'apt-get install postgresql'"
            )
        if not self._initialised:
            self._initdb()
        options = (
            f"-c listen_addresses={self.host} -c port={self.port}"
            " -c unix_socket_directories='' -c max_connections=100"
            " -c shared_buffers=64MB"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        assert self._bin is not None
        self._run(
            [
                str(self._bin / "pg_ctl"),
                "start",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_path),
                "--wait",
                "--timeout",
                str(int(timeout)),
                "-o",
                options,
            ],
            f"starting PostgreSQL on {self.host}:{self.port}",
            timeout=timeout + 5,
        )
        self._running = True
        log.debug("PostgreSQL listening on %s:%d", self.host, self.port)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` (the default) aborts every backend at once, as a
        crashed database would (it recovers from its WAL on the next start); ``fast``
        rolls back open transactions and shuts down cleanly."""
        if not self._running or self._bin is None:
            return
        self._run(
            [str(self._bin / "pg_ctl"), "stop", "--pgdata", str(self.data_dir), "-m", mode],
            "stopping PostgreSQL",
        )
        self._running = False

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: use lowercase letters, digits and _")
        import psycopg  # the test extra; imported here so the module loads without it

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        """Stop the server and delete its data."""
        try:
            self.stop()
        finally:
            if self._own_workdir and self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
