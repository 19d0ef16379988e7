"""`wasmgrid containers up|status|down`: the suite as containers of its images, here, on podman.

`up` starts the embedded PostgreSQL and Redis of the dev stack (unless
``WASMGRID_DATABASE_URL`` / ``WASMGRID_REDIS_URL`` point at real ones), runs the
migrations as one-shot containers of the marketplace and monitor images, starts one
container per service (and per runtime replica) on the host network, read-only,
as the images' non-root user, waits until every one reports SERVING, publishes the
example modules, prints the endpoints and returns. Everything keeps running until
`down`, which stops the containers (SIGTERM: each drains), removes them and stops the
embedded servers. What `up` started is recorded in ``<data dir>/containers.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wasmgrid.cli.devstack import (
    SCHEMAS,
    SERVICES,
    DevStack,
    Ports,
    StackError,
    _redact,
    _say,
    health_status,
)
from wasmgrid.cli.embedded import EmbeddedPostgres, EmbeddedRedis, port_open

STATE_FILE = "containers.json"
#: Label on every container of a stack, valued with its data dir: `down` finds strays by it.
STACK_LABEL = "io.wasmgrid.stack"
#: Seconds `podman stop` waits before SIGKILL: above every service's GRACE_SECONDS (10)
#: plus the runtime's DRAIN_SECONDS (3), so a stop is always a drain.
STOP_TIMEOUT = 30
#: Writable mounts of the read-only containers (the images' README lists them).
RUNTIME_DATA = "/var/lib/wasmgrid/runtime"
RUNTIME_DATA_BYTES = 1024 * 1024 * 1024
SHM_BYTES = 256 * 1024 * 1024
#: Open files and processes per container: at most what this process may have (a
#: container cannot be given more than its parent holds).
NOFILE, NPROC = 65536, 4096


@dataclass
class ContainerState:
    """What `up` records for `status` and `down`."""

    started: float
    offset: int
    runtime_replicas: int
    tag: str
    containers: list[str] = field(default_factory=list)
    postgres: bool = False
    redis: bool = False
    database_url: str = ""
    redis_url: str = ""


class Podman:
    """The podman command line, with the OCI runtime chosen for this machine."""

    def __init__(self, command: str = "podman", oci_runtime: str = "runc") -> None:
        self.command = command
        self.oci_runtime = oci_runtime

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run one podman command; a failure (with `check`) raises StackError with its stderr."""
        runtime = ("--runtime", self.oci_runtime) if self.oci_runtime else ()
        argv = [self.command, *runtime, *args]
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise StackError(f"{self.command} is not installed") from None
        except subprocess.TimeoutExpired:
            raise StackError(f"`{self.command} {args[0]}` took over {timeout:.0f}s") from None
        if check and proc.returncode != 0:
            raise StackError(
                f"`{self.command} {' '.join(args[:2])}…` failed: {proc.stderr.strip()}"
            )
        return proc

    def exists(self, container: str) -> bool:
        """Whether a container of that name exists (running or not)."""
        return self("container", "exists", container, check=False).returncode == 0

    def status(self, container: str) -> tuple[str, int]:
        """(state, exit code) of a container, ("missing", -1) when there is none."""
        proc = self(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container, check=False
        )
        if proc.returncode != 0:
            return "missing", -1
        state, _, code = proc.stdout.strip().partition(" ")
        return state, int(code or -1)

    def states(self, data_dir: Path) -> dict[str, tuple[str, int]]:
        """{name: (state, exit code)} of every container of the stack in `data_dir`."""
        proc = self(
            "ps",
            "--all",
            "--filter",
            f"label={STACK_LABEL}={data_dir}",
            "--format",
            "json",
            check=False,
        )
        try:
            rows = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError:
            return {}
        return {
            name: (str(row.get("State", "")), int(row.get("ExitCode", -1)))
            for row in rows
            for name in row.get("Names", [])
        }

    def logs(self, container: str, tail: int | None = None) -> str:
        """A container's output: its stdout, then its stderr (where the services log)."""
        args = ["logs", *(["--tail", str(tail)] if tail else []), container]
        proc = self(*args, check=False)
        return proc.stdout + proc.stderr

    def stop(self, *containers: str, timeout: int = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; the containers are kept."""
        if containers:
            self("stop", "--time", str(timeout), *containers, timeout=timeout + 30, check=False)


def _limit(which: int, wanted: int) -> int:
    soft, _ = resource.getrlimit(which)
    return wanted if soft == resource.RLIM_INFINITY else min(wanted, soft)


class ContainerStack:
    """The five services (and runtime replicas) as podman containers, plus their databases."""

    def __init__(
        self,
        data_dir: Path,
        offset: int = 0,
        *,
        runtime_replicas: int = 1,
        tag: str = "dev",
        podman: Podman | None = None,
    ) -> None:
        if not 1 <= runtime_replicas <= 6:
            raise StackError(f"runtime replicas {runtime_replicas} is not in 1..6")
        self.ports = Ports.with_offset(offset)
        self.offset = offset
        self.dev = DevStack(data_dir, self.ports)
        self.runtime_replicas = runtime_replicas
        self.tag = tag
        self.podman = podman or Podman()
        self.prefix = f"wasmgrid-{offset}" if offset else "wasmgrid"
        self.state_file = self.dev.data_dir / STATE_FILE
        self.state: ContainerState | None = None

    @classmethod
    def from_state(cls, data_dir: Path, podman: Podman | None = None) -> ContainerStack | None:
        """The stack that `up` recorded in `data_dir`, if there is one."""
        try:
            state = ContainerState(**json.loads((data_dir / STATE_FILE).read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None
        stack = cls(
            data_dir,
            state.offset,
            runtime_replicas=state.runtime_replicas,
            tag=state.tag,
            podman=podman,
        )
        stack.state = state
        return stack

    @property
    def data_dir(self) -> Path:
        """Data, secrets (the admin token) and the state file."""
        return self.dev.data_dir

    def image(self, service: str) -> str:
        """The image a service runs from."""
        return f"localhost/wasmgrid/{service}:{self.tag}"

    def container(self, service: str, replica: int = 0) -> str:
        """The name of a service's container (runtime replicas after the first: -2, -3…)."""
        return f"{self.prefix}-{service}" + (f"-{replica + 1}" if replica else "")

    def members(self) -> list[tuple[str, int]]:
        """(service, replica) of every container, in start order."""
        return [
            (service, replica)
            for service in SERVICES
            for replica in range(self.runtime_replicas if service == "runtime" else 1)
        ]

    def grpc_port(self, service: str, replica: int = 0) -> int:
        """The gRPC (health) port of one container."""
        if service == "runtime":
            return self.ports.runtime_replica(replica)[0]
        return self.ports.grpc(service)

    def env(self, service: str, replica: int = 0) -> dict[str, str]:
        """The environment of one container: the dev stack's, with container paths, over
        the caller's own ``WASMGRID_<SERVICE>_*`` variables (as `dev up` passes them)."""
        prefix = f"WASMGRID_{service.upper()}_"
        env = {k: v for k, v in os.environ.items() if k.startswith(prefix)}
        env |= self.dev.service_env(service)
        env.pop("PYTHONUNBUFFERED")  # the images set it
        h, p = self.dev.host, self.ports
        runtimes = [p.runtime_replica(i) for i in range(self.runtime_replicas)]
        if service == "runtime":
            grpc, metrics = runtimes[replica]
            env |= {
                prefix + "GRPC_PORT": str(grpc),
                prefix + "METRICS_PORT": str(metrics),
                prefix + "DATA_DIR": RUNTIME_DATA,
                # Blobs and compiled artifacts, each bounded, share the tmpfs.
                prefix + "MAX_DISK_BYTES": str(RUNTIME_DATA_BYTES * 2 // 5),
            }
            if prefix + "DRAIN_SECONDS" not in os.environ:
                # Gateways move away while a stopped replica drains (the dev stack,
                # which stops the gateway first, sets 0).
                del env[prefix + "DRAIN_SECONDS"]
        elif service == "gateway":
            env[prefix + "HTTP_HOST"] = h
            env[prefix + "RUNTIME_TARGETS"] = ",".join(f"{h}:{g}" for g, _ in runtimes)
        elif service == "monitor":
            env[prefix + "TARGETS"] += "".join(
                f",runtime={h}:{g}|http://{h}:{m}/metrics" for g, m in runtimes[1:]
            )
        return env

    def mounts(self, service: str) -> list[str]:
        """Writable tmpfs mounts: none but the runtime's data dir, /tmp and a larger /dev/shm."""
        if service != "runtime":
            return []
        return [
            "--tmpfs",
            f"{RUNTIME_DATA}:rw,size={RUNTIME_DATA_BYTES},mode=0700,U",
            "--tmpfs",
            "/tmp:rw,size=67108864,mode=1777",  # noqa: S108 - the container's own tmpfs
            "--shm-size",
            str(SHM_BYTES),
        ]

    def run_args(self, name: str, env: dict[str, str], *, detach: bool = True) -> list[str]:
        """`podman run` options shared by the services and the one-shot migrations."""
        nofile = _limit(resource.RLIMIT_NOFILE, NOFILE)
        nproc = _limit(resource.RLIMIT_NPROC, NPROC)
        args = [
            "run",
            *(["--detach"] if detach else ["--rm"]),
            "--name",
            name,
            "--network",
            "host",
            "--read-only",
            "--read-only-tmpfs=false",
            "--stop-timeout",
            str(STOP_TIMEOUT),
            "--label",
            f"{STACK_LABEL}={self.data_dir}",
            "--ulimit",
            f"nofile={nofile}:{nofile}",
            "--ulimit",
            f"nproc={nproc}:{nproc}",
        ]
        for var in sorted(env):
            args += ["--env", var]  # values from podman's environment: no secret in argv
        return args

    # -- lifecycle ---------------------------------------------------------------------------

    def write_state(self, containers: list[str]) -> None:
        dev = self.dev
        self.state = ContainerState(
            started=time.time(),
            offset=self.offset,
            runtime_replicas=self.runtime_replicas,
            tag=self.tag,
            containers=containers,
            postgres=dev.postgres is not None,
            redis=dev.redis is not None,
            database_url=_redact(dev.database_url),
            redis_url=dev.redis_url,
        )
        self.state_file.write_text(json.dumps(asdict(self.state), indent=2) + "\n")

    def check_can_start(self) -> None:
        """Refuse a second stack from this data dir, missing images and ports in use."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = ContainerStack.from_state(self.data_dir, self.podman)
        if running and running.state and any(map(self.podman.exists, running.state.containers)):
            raise StackError(
                f"a containerised stack is already running from {self.data_dir};"
                " stop it with `make containers-down` (`wasmgrid containers down`)"
            )
        if (self.data_dir / "dev.json").exists():
            raise StackError(f"a dev stack runs from {self.data_dir}; use another data dir")
        missing = [
            self.image(s)
            for s in SERVICES
            if self.podman("image", "exists", self.image(s), check=False).returncode != 0
        ]
        if missing:
            raise StackError(f"images missing: {', '.join(missing)}; build them with `make images`")
        external = {
            self.ports.postgres: self.dev.database_url,
            self.ports.redis: self.dev.redis_url,
        }
        busy = [
            str(port)
            for port in self.ports.all_ports(self.runtime_replicas)
            if not external.get(port) and port_open(self.dev.host, port, 0.2)
        ]
        if busy:
            raise StackError(
                f"ports already in use: {', '.join(busy)}; pick others with --port-offset N"
            )

    def migrate(self) -> None:
        """Each schema's migrations, once, as a one-shot container of its service's image."""
        for service in SCHEMAS:
            name = f"{self.container(service)}-migrate"
            env = {"WASMGRID_DATABASE_URL": self.dev.database_url}
            proc = self.podman(
                *self.run_args(name, env, detach=False),
                self.image(service),
                "python",
                "-m",
                "wasmgrid.common.migrations",
                service,
                env=env,
                check=False,
            )
            if proc.returncode != 0:
                raise StackError(f"migrations for {service} failed:\n{proc.stderr.strip()}")
            _say(proc.stdout.strip())

    def start(self, timeout: float) -> None:
        """Databases, migrations, containers; then wait until every one is SERVING."""
        self.check_can_start()
        self.dev.start_databases(detached=True)
        self.write_state([])
        self.migrate()
        started: list[str] = []
        leftovers = self.podman.states(self.data_dir)  # of an interrupted run from here
        for service, replica in self.members():
            name = self.container(service, replica)
            env = self.env(service, replica)
            if name in leftovers:
                self.podman("rm", "--force", name)
            elif self.podman.exists(name):
                raise StackError(
                    f"a container named {name} exists (another stack's, from another data"
                    " dir?); stop that one or pick another --port-offset"
                )
            self.podman(
                *self.run_args(name, env),
                *self.mounts(service),
                self.image(service),
                env=env,
            )
            started.append(name)
            self.write_state(started)
        self.wait_serving(timeout)

    def wait_serving(self, timeout: float) -> None:
        """Poll every container's health until all are SERVING, one exits, or time runs out."""
        deadline = time.monotonic() + timeout
        pending = set(self.members())
        while pending:
            for service, replica in sorted(pending):
                address = f"{self.dev.host}:{self.grpc_port(service, replica)}"
                if health_status(address) == "SERVING":
                    pending.discard((service, replica))
                    _say(f"{self.container(service, replica):<24} SERVING on {address}")
            states = self.podman.states(self.data_dir)
            for name in sorted(self.container(s, r) for s, r in pending):
                state, code = states.get(name, ("missing", -1))
                if state not in ("running", "created", "initialized"):
                    raise StackError(
                        f"{name} is {state} (exit code {code}) during start:\n"
                        + self.log_tail(name)
                    )
            if pending and time.monotonic() > deadline:
                names = sorted(self.container(s, r) for s, r in pending)
                raise StackError(
                    f"not SERVING after {timeout:.0f}s: {', '.join(names)}\n"
                    + "\n".join(self.log_tail(n) for n in names)
                )
            if pending:
                time.sleep(0.3)

    def log_tail(self, container: str, lines: int = 15) -> str:
        """The last lines of a container's output, indented, for error messages."""
        tail = self.podman.logs(container, tail=lines).splitlines()
        return "\n".join(f"    {container}| {line}" for line in tail)

    def stop(self) -> bool:
        """Stop (drain) and remove the containers, the edge first, then the embedded
        databases `up` started. True when every container exited 0."""
        clean = True
        strays = set(self.podman.states(self.data_dir))
        groups = [
            [self.container(service, r) for r in range(self.runtime_replicas)]
            if service == "runtime"
            else [self.container(service)]
            for service in reversed(SERVICES)
        ]
        for group in groups:
            group = [name for name in group if name in strays]
            strays -= set(group)
            clean &= self._stop(group)
        clean &= self._stop(sorted(strays))  # an interrupted run's one-shot, say
        # The servers this process started, or those a recorded `up` started.
        state, dev = self.state, self.dev
        if dev.redis is None and state and state.redis:
            dev.redis = EmbeddedRedis(self.data_dir / "redis", self.ports.redis)
        if dev.postgres is None and state and state.postgres:
            dev.postgres = EmbeddedPostgres(self.data_dir / "postgres", self.ports.postgres)
        clean &= dev.stop_databases()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        return clean

    def _stop(self, names: list[str]) -> bool:
        """Stop some containers together, report each exit code, remove them."""
        if not names:
            return True
        began = time.monotonic()
        self.podman.stop(*names)
        clean = True
        for name in names:
            _state, code = self.podman.status(name)
            _say(f"{name:<24} stopped (exit {code}, {time.monotonic() - began:.1f}s)")
            clean &= code == 0
            self.podman("rm", "--force", name, check=False)
        return clean


def up(  # noqa: PLR0913 - keyword-only options of `dev up`
    data_dir: Path,
    offset: int,
    *,
    runtime_replicas: int = 1,
    tag: str = "dev",
    oci_runtime: str = "runc",
    timeout: float = 120.0,
    publish: bool = True,
) -> int:
    """Start the containerised stack and return once it serves; on failure stop what started."""
    stack = ContainerStack(
        data_dir,
        offset,
        runtime_replicas=runtime_replicas,
        tag=tag,
        podman=Podman(oci_runtime=oci_runtime),
    )
    started = time.monotonic()
    try:
        stack.start(timeout)
        if publish:
            from wasmgrid.cli.examples import publish_examples

            for line in publish_examples(
                f"127.0.0.1:{stack.ports.marketplace}", stack.dev.secret("admin-token")
            ):
                _say(line)
    except StackError as exc:
        print(f"wasmgrid containers up: {exc}", file=sys.stderr)
        if stack.state is not None or stack.dev.postgres or stack.dev.redis:
            _say("stopping what was started…")
            stack.stop()
        return 1
    _print_endpoints(stack, time.monotonic() - started)
    return 0


def _print_endpoints(stack: ContainerStack, elapsed: float) -> None:
    p, h = stack.ports, stack.dev.host
    runtimes = ", ".join(
        f"{stack.container('runtime', i)} {h}:{stack.grpc_port('runtime', i)}"
        for i in range(stack.runtime_replicas)
    )
    _say(
        f"""
wasmgrid containers are up ({elapsed:.1f}s), images localhost/wasmgrid/<service>:{stack.tag}.

  gateway      http://{h}:{p.gateway_http}   (health gRPC {h}:{p.gateway_grpc})
  runtime      {runtimes}
  marketplace  {h}:{p.marketplace}   metrics {p.metrics_url("marketplace", h)}
  cache        {h}:{p.cache}   metrics {p.metrics_url("cache", h)}
  monitor      {h}:{p.monitor}   metrics {p.metrics_url("monitor", h)}
  postgres     {_redact(stack.dev.database_url)}
  redis        {stack.dev.redis_url}
  admin token  {stack.data_dir / "admin-token"}
  logs         podman logs {stack.container("gateway")}   (and the others: podman ps)

Try:
  curl -s -X POST --data 'hello wasm' http://{h}:{p.gateway_http}/v1/run/examples/hello

Stop everything with `make containers-down`."""
    )


def status(data_dir: Path) -> int:
    """Print each container's state and health; exit 0 only when all are SERVING."""
    stack = ContainerStack.from_state(data_dir)
    if stack is None:
        print(f"no containerised stack recorded in {data_dir.resolve()}")
        return 1
    states = stack.podman.states(stack.data_dir)
    all_ok = True
    for service, replica in stack.members():
        name = stack.container(service, replica)
        address = f"{stack.dev.host}:{stack.grpc_port(service, replica)}"
        health = health_status(address)
        all_ok &= health == "SERVING"
        state = states.get(name, ("missing", -1))[0]
        print(f"  {name:<24} {state:<10} {address:<18} {health}")
    return 0 if all_ok else 1


def down(data_dir: Path) -> int:
    """Stop and remove the stack recorded in `data_dir` and the databases it started."""
    stack = ContainerStack.from_state(data_dir)
    if stack is None:
        # No record: still remove containers labelled with this data dir (an interrupted up).
        stack = ContainerStack(data_dir)
        if not stack.podman.states(stack.data_dir):
            print(f"no containerised stack running from {stack.data_dir}")
            return 0
    if not stack.stop():
        print("not every container stopped cleanly (see the exit codes above)", file=sys.stderr)
        return 1
    print("containerised stack stopped")
    return 0
