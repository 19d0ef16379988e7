"""The whole suite, started once per session exactly as a user does: `wasmgrid dev up`.

The `suite` fixture runs a test against that dev stack and, under the ``containers``
marker (`make test-containers`), against the containerised stack of the service images.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wasmgrid.cli.containers import ContainerStack
from wasmgrid.cli.devstack import Ports, free_offset, health_status, port_taken

UP_TIMEOUT = 120.0


@dataclass
class DevStackProcess:
    """A running `wasmgrid dev up` child with its ports and captured output."""

    proc: subprocess.Popen[str]
    data_dir: Path
    ports: Ports
    offset: int
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another `wasmgrid dev …` against this stack's data dir and ports."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "wasmgrid.cli.main",
                "dev",
                *args,
                "--data-dir",
                str(self.data_dir),
                "--port-offset",
                str(self.offset),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def state(self) -> dict[str, object]:
        return dict(json.loads((self.data_dir / "dev.json").read_text()))


def start_dev_stack(data_dir: Path, offset: int | None = None) -> DevStackProcess:
    """Start `dev up`; with no fixed offset, retry on another block if a port was taken."""
    if offset is not None:
        return _start_dev_stack(data_dir, offset)
    for attempt in range(3):
        try:
            return _start_dev_stack(data_dir, free_offset())
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(AssertionError):
    """`dev up` lost a race for one of its ports with another program on the machine."""


def _start_dev_stack(data_dir: Path, offset: int) -> DevStackProcess:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wasmgrid.cli.main",
            "dev",
            "up",
            "--data-dir",
            str(data_dir),
            "--port-offset",
            str(offset),
            "--timeout",
            str(UP_TIMEOUT),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    stack = DevStackProcess(proc, data_dir, Ports.with_offset(offset), offset)
    up = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.output.append(line.rstrip("\n"))
            if "dev stack is up" in line:
                up.set()

    stack.pump = threading.Thread(target=pump, daemon=True)
    stack.pump.start()
    deadline = time.monotonic() + UP_TIMEOUT + 30
    while not up.is_set():
        if proc.poll() is not None:
            stop_dev_stack(stack)  # reaps it and closes the output pipe
            text = "\n".join(stack.output)
            if port_taken(text):
                raise PortTaken(text)
            raise AssertionError("dev up exited early:\n" + text)
        if time.monotonic() > deadline:
            stop_dev_stack(stack)
            raise AssertionError("dev up not up in time:\n" + "\n".join(stack.output))
        up.wait(0.2)
    return stack


def stop_dev_stack(stack: DevStackProcess, timeout: float = 60) -> int:
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGTERM)
    try:
        code = stack.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stack.proc.kill()
        code = stack.proc.wait()
    if stack.pump is not None:
        stack.pump.join(10)  # the reader ends at EOF, after the last line of output
    if stack.proc.stdout is not None:
        stack.proc.stdout.close()
    return code


@pytest.fixture(scope="session")
def dev_stack() -> Iterator[DevStackProcess]:
    """One dev stack for the e2e session (tests that stop it start their own)."""
    # Outside pytest's tmp dirs: pytest resets their modes, which the PostgreSQL user needs.
    data_dir = Path(tempfile.mkdtemp(prefix="wasmgrid-e2e-"))
    stack = start_dev_stack(data_dir)
    try:
        yield stack
    finally:
        stop_dev_stack(stack)
        shutil.rmtree(data_dir, ignore_errors=True)


class DevStackFactory:
    """Starts extra dev stacks inside one test and stops them all at its end."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wasmgrid-e2e-"))
        self.started: list[DevStackProcess] = []

    def start(self, data_dir: Path | None = None, offset: int | None = None) -> DevStackProcess:
        stack = start_dev_stack(data_dir or self.root / f"stack{len(self.started)}", offset)
        self.started.append(stack)
        return stack

    @staticmethod
    def stop(stack: DevStackProcess, timeout: float = 60) -> int:
        return stop_dev_stack(stack, timeout)


@pytest.fixture
def dev_stack_factory() -> Iterator[DevStackFactory]:
    """Start/stop extra dev stacks in a test (always stopped at the end)."""
    factory = DevStackFactory()
    yield factory
    for stack in factory.started:
        stop_dev_stack(stack)
    shutil.rmtree(factory.root, ignore_errors=True)


@pytest.fixture(scope="session")
def container_stack() -> ContainerStack:
    """The containerised stack `make test-containers` (or `make containers-up`) started.

    Found through its state file in ``WASMGRID_CONTAINERS_DATA_DIR`` (default
    ``.wasmgrid/containers``); these tests never build images or start containers.
    """
    data_dir = Path(os.environ.get("WASMGRID_CONTAINERS_DATA_DIR", ".wasmgrid/containers"))
    stack = ContainerStack.from_state(data_dir)
    gateway = f"127.0.0.1:{stack.ports.gateway_grpc}" if stack else ""
    if stack is None or health_status(gateway, timeout=5) != "SERVING":
        pytest.fail(
            f"no containerised stack serves from {data_dir.resolve()}: run `make"
            " test-containers`, or `make containers-up` and set WASMGRID_CONTAINERS_DATA_DIR"
        )
    return stack


#: A running suite, reached through its ports and data dir.
Suite = DevStackProcess | ContainerStack


@pytest.fixture(
    scope="session", params=["dev", pytest.param("containers", marks=pytest.mark.containers)]
)
def suite(request: pytest.FixtureRequest) -> Suite:
    """A running suite, reached through its ports: the dev stack, or the containers."""
    name = "dev_stack" if request.param == "dev" else "container_stack"
    stack: Suite = request.getfixturevalue(name)
    return stack
