"""The suite as real processes on loopback, with handles on every pid a fault needs.

Started the way ``wasmgrid dev up`` starts it (:class:`wasmgrid.cli.devstack.DevStack`:
embedded PostgreSQL and Redis, migrations, each service's environment, the example
modules published), on a free block of ports, with two differences a fault scenario
needs: the runtime runs as ``replicas`` separate replicas of one worker each (a
replica is one pid to SIGKILL or SIGSTOP), and with ``proxy`` the gateway reaches
them through :mod:`reliability.proxy`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wasmgrid.cli.devstack import (
    DevStack,
    Ports,
    StackError,
    free_offset,
    health_status,
    port_taken,
)
from wasmgrid.cli.examples import publish_examples
from wasmgrid.common.testing import free_port

#: Times a stack is started on a new block of ports when one of them was taken.
PORT_ATTEMPTS = 3
#: Start order; stop is the reverse.
ORDER = ("monitor", "marketplace", "cache", "runtime", "proxy", "gateway")


@dataclass
class StackOptions:
    """How the stack differs from the dev stack."""

    replicas: int = 2
    #: Put the delaying/resetting proxy between the gateway and every runtime replica.
    proxy: bool = False
    #: Runtime worker processes per replica (0: one per CPU, the dev stack's default).
    runtime_workers: int = 1
    #: Extra ``WASMGRID_<SERVICE>_<FIELD>`` settings, per service.
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: A routes file for the gateway (YAML text); empty: none.
    routes: str = ""


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class Stack:
    """Owns the embedded servers and every service process of one reliability stack."""

    def __init__(self, root: Path, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.root = root.resolve()
        self.ports = Ports.with_offset(free_offset(self.options.replicas))
        self.dev = DevStack(self.root, self.ports)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.proxy_ports: list[int] = []
        self.admin_token = ""

    # -- addresses -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway_http}"

    @property
    def replicas(self) -> list[str]:
        return [f"runtime-{i}" for i in range(self.options.replicas)]

    def _replica_ports(self, i: int) -> tuple[int, int]:
        return self.ports.runtime_replica(i)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        """Databases, migrations, every service; returns once all serve and examples exist.

        The stack's ports are free when they are chosen, but they lie in the kernel's
        ephemeral range, where another process's connection or server may take one before
        a service binds it: a stack whose service could not bind is started again on
        another block of ports (at most :data:`PORT_ATTEMPTS` times)."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start(timeout)
                return
            except StackError as exc:
                if attempt == PORT_ATTEMPTS or not port_taken(str(exc)):
                    raise
                self.ports = Ports.with_offset(free_offset(self.options.replicas))
                self.dev = DevStack(self.root, self.ports)

    def _start(self, timeout: float) -> None:
        self.dev.acquire()
        try:
            self.dev.start_dependencies()
            self.admin_token = self.dev.secret("admin-token")
            if self.options.proxy:
                self.proxy_ports = [free_port() for _ in range(self.options.replicas)]
            for name in self._names():
                self.start_process(name)
            self.wait_serving(timeout)
            for line in publish_examples(f"127.0.0.1:{self.ports.marketplace}", self.admin_token):
                # A component not built by `make examples` is skipped, not an error.
                if not line.startswith(("published", "skipped")):
                    raise StackError(f"examples: {line}")
        except BaseException:
            self.stop()
            raise

    def _names(self) -> list[str]:
        names = []
        for service in ORDER:
            if service == "runtime":
                names += self.replicas
            elif service != "proxy" or self.options.proxy:
                names.append(service)
        return names

    def command(self, name: str) -> list[str]:
        if name == "proxy":
            routes = [
                f"--route={port}=127.0.0.1:{self._replica_ports(i)[0]}"
                for i, port in enumerate(self.proxy_ports)
            ]
            return [sys.executable, "-m", "reliability.proxy", *routes]
        service = name.split("-")[0]
        return [sys.executable, "-m", f"wasmgrid.{service}"]

    def env(self, name: str) -> dict[str, str]:
        """The environment of one process: the dev stack's, with replicas and proxies."""
        service = name.split("-")[0]
        if service == "proxy":
            return dict(os.environ)
        env = {**os.environ, **self.dev.service_env(service)}
        if "OTEL_TRACES_SAMPLER" not in os.environ and "OTEL_TRACES_SAMPLER_ARG" not in os.environ:
            # The services' own head sampling (and tail rules), not the dev stack's "trace
            # every request": what an operator runs, and what overload is measured with.
            del env["OTEL_TRACES_SAMPLER"]
        prefix = f"WASMGRID_{service.upper()}_"
        h = "127.0.0.1"
        runtimes = [self._replica_ports(i) for i in range(self.options.replicas)]
        if service == "runtime":
            i = int(name.split("-")[1])
            grpc, metrics = runtimes[i]
            env |= {
                prefix + "GRPC_PORT": str(grpc),
                prefix + "METRICS_PORT": str(metrics),
                prefix + "DATA_DIR": str(self.root / name),
                prefix + "WORKERS": str(self.options.runtime_workers),
            }
        elif service == "gateway":
            targets = self.proxy_ports or [g for g, _ in runtimes]
            env[prefix + "RUNTIME_TARGETS"] = ",".join(f"{h}:{p}" for p in targets)
            if self.options.routes:
                routes = self.root / "routes.yaml"
                routes.write_text(self.options.routes)
                env[prefix + "ROUTES_FILE"] = str(routes)
        elif service == "monitor":
            env[prefix + "TARGETS"] += "".join(
                f",runtime={h}:{g}|http://{h}:{m}/metrics" for g, m in runtimes[1:]
            )
        env |= self.options.env.get(service, {})
        return env

    def start_process(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or start again) one process; its output appends to logs/<name>.log."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                self.command(name),
                env=self.env(name),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
        self.procs[name] = proc
        return proc

    def health_port(self, name: str) -> int | None:
        service = name.split("-")[0]
        if service == "runtime":
            return self._replica_ports(int(name.split("-")[1]))[0]
        return None if service == "proxy" else self.ports.grpc(service)

    def serving(self, name: str) -> bool:
        port = self.health_port(name)
        return port is None or health_status(f"127.0.0.1:{port}") == "SERVING"

    def wait_serving(self, timeout: float, names: list[str] | None = None) -> float:
        """Wait until the processes serve (all by default); seconds it took."""
        began = time.monotonic()
        pending = set(names or self.procs)
        while pending:
            for name in sorted(pending):
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise StackError(
                        f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}"
                    )
                if self.serving(name):
                    pending.discard(name)
            if pending and time.monotonic() - began > timeout:
                raise StackError(f"not SERVING after {timeout:.0f}s: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.1)
        return time.monotonic() - began

    def log_size(self, name: str) -> int:
        """Bytes in a process's log now (for :meth:`log_since`)."""
        path = self.root / "logs" / f"{name}.log"
        return path.stat().st_size if path.exists() else 0

    def log_since(self, name: str, offset: int) -> str:
        """What a process logged after `offset` bytes."""
        with open(self.root / "logs" / f"{name}.log", "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.root / "logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop_process(self, name: str, grace: float = 15.0) -> int | None:
        """SIGTERM one process (SIGCONT first, in case a fault left it stopped); its code."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                for pid in descendants(proc.pid):
                    os.kill(pid, signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop(self) -> None:
        """Every process in reverse start order, then the databases and the data dir's lock."""
        for name in reversed(self._names()):
            self.stop_process(name)
        if self.dev.postgres is not None:
            self.resume_postgres()
        self.dev.stop()  # the databases, the state file and the data dir's lock

    # -- faults ----------------------------------------------------------------------------

    def signal(self, name: str, sig: signal.Signals) -> list[int]:
        """Send `sig` to a process and everything below it; the pids signalled."""
        pids = descendants(self.procs[name].pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def postgres_pids(self) -> list[int]:
        """The postmaster and its backends (from postmaster.pid)."""
        assert self.dev.postgres is not None
        pidfile = self.dev.postgres.datadir / "data" / "postmaster.pid"
        try:
            postmaster = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return []
        return descendants(postmaster)

    def pause_postgres(self) -> list[int]:
        pids = self.postgres_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return pids

    def resume_postgres(self) -> None:
        for pid in self.postgres_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    # -- measurement -----------------------------------------------------------------------

    def process_tree(self, name: str) -> list[int]:
        proc = self.procs.get(name)
        return descendants(proc.pid) if proc is not None and proc.poll() is None else []


@contextlib.contextmanager
def running(root: Path, options: StackOptions | None = None) -> Iterator[Stack]:
    """A started stack, always stopped at the end."""
    stack = Stack(root, options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
