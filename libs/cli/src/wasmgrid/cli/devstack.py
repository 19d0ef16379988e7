"""`wasmgrid dev up|status|down`: the whole suite on one machine.

`up` starts an embedded PostgreSQL and Redis (unless ``WASMGRID_DATABASE_URL``
/ ``WASMGRID_REDIS_URL`` point at real ones), applies migrations, starts the
five services as child processes, waits until every one reports SERVING over
grpc.health.v1, publishes the example modules and prints the endpoints. Data
lives under the data dir (``.wasmgrid/``) across restarts. SIGINT/SIGTERM
drains and stops every child, then the embedded servers: nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from wasmgrid.cli.embedded import EmbeddedPostgres, EmbeddedRedis, port_open
from wasmgrid.common.migrations import migrate_service

#: Start order; shutdown is the reverse (the edge goes first, the monitor last).
SERVICES = ("monitor", "marketplace", "cache", "runtime", "gateway")
#: Services that own a PostgreSQL schema (named after the service).
SCHEMAS = ("marketplace", "monitor")


@dataclass
class Ports:
    """Every port of the dev stack; `offset` moves them all (to run two stacks or tests)."""

    gateway_http: int = 8080
    gateway_grpc: int = 50050
    runtime: int = 50051
    marketplace: int = 50052
    cache: int = 50053
    monitor: int = 50054
    runtime_metrics: int = 9091
    marketplace_metrics: int = 9092
    cache_metrics: int = 9093
    monitor_metrics: int = 9094
    postgres: int = 55432
    redis: int = 56379

    @classmethod
    def with_offset(cls, offset: int) -> Ports:
        base = cls()
        return cls(**{k: v + offset for k, v in asdict(base).items()})

    def runtime_replica(self, index: int) -> tuple[int, int]:
        """(gRPC, metrics) ports of runtime replica `index`: 0 is the runtime's own, the
        others follow the monitor's (the next block of ten, at offset + 10, stays free)."""
        if not 0 <= index < 6:
            raise ValueError(f"runtime replica index {index} is not in 0..5")
        if index == 0:
            return self.runtime, self.runtime_metrics
        return self.monitor + index, self.monitor_metrics + index

    def all_ports(self, runtime_replicas: int = 1) -> list[int]:
        """Every port a stack with `runtime_replicas` runtimes listens on."""
        extra = [p for i in range(1, runtime_replicas) for p in self.runtime_replica(i)]
        return [*asdict(self).values(), *extra]

    def grpc(self, service: str) -> int:
        """The gRPC (health) port of `service`."""
        return self.gateway_grpc if service == "gateway" else int(getattr(self, service))

    def metrics_url(self, service: str, host: str = "127.0.0.1") -> str:
        """Where `service` serves Prometheus /metrics."""
        port = self.gateway_http if service == "gateway" else getattr(self, f"{service}_metrics")
        return f"http://{host}:{port}/metrics"


#: What a stack that could not start says when one of its ports was taken meanwhile (by
#: `up`'s own check, or by a service that could not bind): the block's ports are free
#: when chosen, but most lie in the kernel's ephemeral range, where another process's
#: connection may take one first. The one failure another block of ports mends.
PORT_TAKEN = ("Address already in use", "ports already in use")


def port_taken(output: str) -> bool:
    """Whether the output of a stack that failed to start says a port was taken."""
    return any(marker in output for marker in PORT_TAKEN)


def free_offset(runtime_replicas: int = 1, host: str = "127.0.0.1") -> int:
    """A port offset (a multiple of ten in 1000..8990) whose ports nothing listens on now."""
    for _ in range(50):
        offset = random.randrange(1000, 9000, 10)  # noqa: S311 - a port range, not a secret
        ports = Ports.with_offset(offset).all_ports(runtime_replicas)
        if not any(port_open(host, p, 0.05) for p in ports):
            return offset
    raise StackError("no free block of ports for a stack; pass --port-offset N")


@dataclass
class StackState:
    """What `up` writes for `status`/`down`: its pid, ports and children."""

    pid: int
    started: float
    ports: dict[str, int]
    children: dict[str, int] = field(default_factory=dict)
    database_url: str = ""
    redis_url: str = ""


def _redact(url: str) -> str:
    from wasmgrid.common.db import redact_dsn

    return redact_dsn(url)


def health_status(address: str, timeout: float = 1.0) -> str:
    """grpc.health.v1 status of the server at `address` (overall), or why it is unknown."""
    try:
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        return "UNREACHABLE" if code == grpc.StatusCode.UNAVAILABLE else f"ERROR({code})"


def _dev_sampler() -> str:
    """Every request traced on a developer's stack (a service alone samples 1%), unless the
    environment chooses a sampler or a ratio."""
    if chosen := os.environ.get("OTEL_TRACES_SAMPLER"):
        return chosen
    if os.environ.get("OTEL_TRACES_SAMPLER_ARG"):
        return "parentbased_traceidratio"
    return "parentbased_always_on"


class DevStack:
    """Owns the embedded servers and the five service processes of one dev stack."""

    def __init__(self, data_dir: Path, ports: Ports, *, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.ports = ports
        self.host = host
        self.state_file = self.data_dir / "dev.json"
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.database_url = os.environ.get("WASMGRID_DATABASE_URL", "")
        self.redis_url = os.environ.get("WASMGRID_REDIS_URL", "")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock: IO[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the data dir's lock, or explain that a stack already runs there."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.data_dir / "dev.lock", "w")  # noqa: SIM115 - held for the stack's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            state = read_state(self.data_dir)
            who = f" (pid {state.pid})" if state else ""
            raise StackError(
                f"a dev stack is already running from {self.data_dir}{who};"
                " see `wasmgrid dev status`, stop it with `wasmgrid dev down`"
            ) from None
        self._lock = lock
        busy = [
            f"{name}={port}"
            for name, port in asdict(self.ports).items()
            if port_open(self.host, port, 0.2)
            and not (name == "postgres" and self.database_url)
            and not (name == "redis" and self.redis_url)
        ]
        if busy:
            self._lock = None
            lock.close()  # a stack that cannot start holds nothing
            raise StackError(
                "ports already in use: "
                + ", ".join(busy)
                + " — another program (or a stack from another directory) holds them;"
                " pick other ports with --port-offset N"
            )

    def start_dependencies(self) -> None:
        """Embedded PostgreSQL and Redis unless external URLs were given; then migrations."""
        self.start_databases()
        for service in SCHEMAS:
            applied = asyncio.run(migrate_service(self.database_url, service))
            _say(f"migrations for {service}: {len(applied)} applied")

    def start_databases(self, *, detached: bool = False) -> None:
        """Embedded PostgreSQL and Redis unless external URLs were given.

        `detached`: they outlive this process (PostgreSQL always does; ``pg_ctl`` stops it).
        """
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres", self.ports.postgres)
            self.postgres.start()
            asyncio.run(_ensure_database(self.postgres.dsn, "wasmgrid"))
            self.database_url = self.postgres.dsn_for("wasmgrid")
        if not self.redis_url:
            self.redis = EmbeddedRedis(self.data_dir / "redis", self.ports.redis)
            self.redis.start(detached=detached)
            self.redis_url = self.redis.url

    def secret(self, name: str) -> str:
        """A random secret persisted (0600) in the data dir, created on first use."""
        path = self.data_dir / name
        if not path.exists():
            prefix = "wgt_" if name == "admin-token" else ""
            path.write_text(prefix + secrets.token_urlsafe(32) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def service_env(self, service: str) -> dict[str, str]:
        """The environment one service process gets."""
        p, h = self.ports, self.host
        monitor = f"{h}:{p.monitor}"
        env = {
            "WASMGRID_DATABASE_URL": self.database_url,
            "WASMGRID_REDIS_URL": self.redis_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{monitor}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "3",
            "OTEL_BLRP_SCHEDULE_DELAY": "1000",
            "OTEL_TRACES_SAMPLER": _dev_sampler(),
            "PYTHONUNBUFFERED": "1",
        }
        prefix = f"WASMGRID_{service.upper()}_"
        env[prefix + "HOST"] = h
        if service == "gateway":
            env |= {
                prefix + "HTTP_PORT": str(p.gateway_http),
                prefix + "GRPC_PORT": str(p.gateway_grpc),
                prefix + "RUNTIME_TARGETS": f"{h}:{p.runtime}",
                prefix + "MARKETPLACE_ADDR": f"{h}:{p.marketplace}",
                prefix + "CACHE_ADDR": f"{h}:{p.cache}",
                prefix + "MONITOR_ADDR": monitor,
            }
            return env
        env[prefix + "GRPC_PORT"] = str(p.grpc(service))
        env[prefix + "METRICS_PORT"] = str(getattr(p, f"{service}_metrics"))
        if service == "runtime":
            env |= {
                prefix + "MARKETPLACE_ADDR": f"{h}:{p.marketplace}",
                prefix + "DATA_DIR": str(self.data_dir / "runtime"),
                prefix + "ARTIFACT_KEY": self.secret("runtime-artifact-key"),
                # The stack stops the gateway first, so no caller is left to drain away.
                prefix + "DRAIN_SECONDS": os.environ.get(prefix + "DRAIN_SECONDS", "0"),
            }
        elif service == "marketplace":
            env |= {
                prefix + "BOOTSTRAP_ADMIN": "admin",
                prefix + "BOOTSTRAP_ADMIN_TOKEN": self.secret("admin-token"),
            }
        elif service == "monitor":
            env[prefix + "TARGETS"] = ",".join(
                f"{svc}={h}:{p.grpc(svc)}|{p.metrics_url(svc, h)}" for svc in SERVICES
            )
        return env

    def start_services(self) -> None:
        """Start the five service processes, logs under <data dir>/logs/."""
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        for service in SERVICES:
            with open(logs / f"{service}.log", "ab") as log:
                self.procs[service] = subprocess.Popen(
                    [sys.executable, "-m", f"wasmgrid.{service}"],
                    env={**os.environ, **self.service_env(service)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us; we stop children in order
                )
        self.write_state()

    def wait_serving(self, timeout: float) -> None:
        """Poll every service's health until all are SERVING, one dies, or time runs out."""
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        while pending:
            for service in sorted(pending):
                proc = self.procs[service]
                if proc.poll() is not None:
                    raise StackError(
                        f"{service} exited with code {proc.returncode} during start:\n"
                        + self.log_tail(service)
                    )
                if health_status(f"{self.host}:{self.ports.grpc(service)}") == "SERVING":
                    pending.discard(service)
                    _say(f"{service:<12} SERVING on {self.host}:{self.ports.grpc(service)}")
            if pending and time.monotonic() > deadline:
                raise StackError(
                    f"not SERVING after {timeout:.0f}s: {', '.join(sorted(pending))}\n"
                    + "\n".join(self.log_tail(s) for s in sorted(pending))
                )
            if pending:
                time.sleep(0.2)

    def log_tail(self, service: str, lines: int = 15) -> str:
        """The last lines of a service's log, indented, for error messages."""
        path = self.data_dir / "logs" / f"{service}.log"
        if not path.exists():
            return ""
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"    {service}| {line}" for line in tail)

    def write_state(self) -> None:
        state = StackState(
            pid=os.getpid(),
            started=time.time(),
            ports=asdict(self.ports),
            children={s: p.pid for s, p in self.procs.items()},
            database_url=_redact(self.database_url),
            redis_url=self.redis_url,
        )
        self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")

    def stop(self, grace: float = 15.0) -> bool:
        """SIGTERM services in reverse start order, wait for each, then the embedded servers.

        True when every service exited 0 within its grace. A stack that never took the
        data dir's lock owns nothing there and touches nothing.
        """
        if self._lock is None:
            return True
        clean = True
        # One at a time, edge first and monitor last: each service drains while the ones it
        # calls (and the monitor its telemetry goes to) are still up.
        for service in reversed(SERVICES):
            proc = self.procs.get(service)
            if proc is None:
                continue
            began = time.monotonic()
            if proc.poll() is not None:
                _say(f"{service:<12} had already exited (code {proc.returncode})")
                clean &= proc.returncode == 0
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(grace)
                _say(f"{service:<12} stopped (exit {code}, {time.monotonic() - began:.1f}s)")
                clean &= code == 0
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                _say(f"{service:<12} killed after {grace:.0f}s grace")
                clean = False
        self.procs.clear()
        clean &= self.stop_databases()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        return clean

    def stop_databases(self) -> bool:
        """Stop the embedded Redis and PostgreSQL this stack started; True if both stopped."""
        clean = True
        for name, server in (("redis", self.redis), ("postgres", self.postgres)):
            if server is None:
                continue
            try:
                server.stop()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                _say(f"{name:<12} did not stop cleanly: {exc}")
                clean = False
        return clean


class StackError(RuntimeError):
    """The dev stack cannot start or continue; the message says why."""


async def _ensure_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')  # constant name, not user input
    finally:
        await conn.close()


def read_state(data_dir: Path) -> StackState | None:
    """The running stack's state file, if one is there."""
    path = data_dir / "dev.json"
    try:
        return StackState(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _say(msg: str) -> None:
    print(msg, flush=True)


def up(data_dir: Path, ports: Ports, *, timeout: float = 60.0, publish: bool = True) -> int:
    """Run the dev stack in the foreground until SIGINT/SIGTERM."""
    stack = DevStack(data_dir, ports)
    stop_requested = False
    code = 1

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.acquire()
        started = time.monotonic()
        stack.start_dependencies()
        stack.start_services()
        stack.wait_serving(timeout)
        if publish:
            from wasmgrid.cli.examples import publish_examples

            for line in publish_examples(
                f"127.0.0.1:{ports.marketplace}", stack.secret("admin-token")
            ):
                _say(line)
        _print_endpoints(stack, time.monotonic() - started)
        while not stop_requested:
            for service, proc in list(stack.procs.items()):
                if proc.poll() is not None:
                    _say(f"{service} exited unexpectedly (code {proc.returncode}):")
                    _say(stack.log_tail(service))
                    del stack.procs[service]
            time.sleep(0.5)
        _say("stopping…")
        code = 0
    except StackError as exc:
        print(f"wasmgrid dev up: {exc}", file=sys.stderr)
    finally:
        if not stack.stop():
            _say("not every service stopped cleanly (see the exit codes above)")
            code = 1
    return code


def _print_endpoints(stack: DevStack, elapsed: float) -> None:
    p, h = stack.ports, stack.host
    _say(
        f"""
wasmgrid dev stack is up ({elapsed:.1f}s). Data: {stack.data_dir}

  gateway      http://{h}:{p.gateway_http}   (health gRPC {h}:{p.gateway_grpc})
  runtime      {h}:{p.runtime}   metrics {p.metrics_url("runtime", h)}
  marketplace  {h}:{p.marketplace}   metrics {p.metrics_url("marketplace", h)}
  cache        {h}:{p.cache}   metrics {p.metrics_url("cache", h)}
  monitor      {h}:{p.monitor}   metrics {p.metrics_url("monitor", h)}
  postgres     {_redact(stack.database_url)}
  redis        {stack.redis_url}
  admin token  {stack.data_dir / "admin-token"}
  logs         {stack.data_dir / "logs"}/<service>.log

Try:
  curl -s -X POST --data 'hello wasm' http://{h}:{p.gateway_http}/v1/run/examples/hello

Ctrl-C stops everything."""
    )


def status(data_dir: Path, ports: Ports) -> int:
    """Print each service's health; exit 0 only when all five are SERVING."""
    state = read_state(data_dir)
    if state is not None:
        ports = Ports(**state.ports)
        print(f"dev stack pid {state.pid}, data {data_dir.resolve()}")
    else:
        print(f"no dev stack state in {data_dir.resolve()}; probing default ports")
    all_ok = True
    for service in SERVICES:
        address = f"127.0.0.1:{ports.grpc(service)}"
        st = health_status(address)
        all_ok &= st == "SERVING"
        pid = state.children.get(service, "") if state else ""
        print(f"  {service:<12} {address:<18} {st:<12} {pid}")
    return 0 if all_ok else 1


def down(data_dir: Path, timeout: float = 60.0) -> int:
    """Ask the running `up` to stop (SIGTERM) and wait for it."""
    state = read_state(data_dir)
    if state is None:
        print(f"no dev stack running from {data_dir.resolve()}")
        return 0
    try:
        os.kill(state.pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"dev stack pid {state.pid} is gone; removing its stale state file")
        (data_dir / "dev.json").unlink(missing_ok=True)
        return 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(state.pid, 0)
        except ProcessLookupError:
            print("dev stack stopped")
            return 0
        time.sleep(0.2)
    print(f"dev stack pid {state.pid} still running after {timeout:.0f}s", file=sys.stderr)
    return 1
