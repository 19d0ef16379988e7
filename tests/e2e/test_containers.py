"""The containerised stack (`make test-containers`): each image runs its service as the
images' README says, and a runtime container stopped under load drains and loses no call.

The suite's HTTP flows (invoke, function call, publish then run, search, fleet health, one
trace across services) run against these containers too: `suite` in test_suite_flow.py.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request

import aiohttp
import pytest

from wasmgrid.cli.containers import STOP_TIMEOUT, ContainerStack
from wasmgrid.cli.devstack import health_status
from wasmgrid.client import Client, ProblemError, WasmgridError
from wasmgrid.common.testing import poll_until

pytestmark = pytest.mark.containers

UID = "10001:10001"
CLIENTS = 8


def test_each_container_runs_its_service_as_pid_1_non_root_on_a_read_only_root(
    container_stack: ContainerStack,
) -> None:
    podman = container_stack.podman
    for service, replica in container_stack.members():
        name = container_stack.container(service, replica)
        inspect = podman(
            "inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", name
        )
        assert inspect.stdout.split() == [UID, "true"], name
        cmdline = podman("exec", name, "cat", "/proc/1/cmdline").stdout
        assert cmdline.split("\0")[:3] == ["python", "-m", f"wasmgrid.{service}"], name
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001", name
        refused = podman("exec", name, "touch", "/opt/wasmgrid/probe", check=False)
        assert refused.returncode != 0, name
        assert "Read-only file system" in refused.stderr, name


def test_images_carry_their_oci_labels(container_stack: ContainerStack) -> None:
    for service in ("gateway", "runtime", "marketplace", "cache", "monitor"):
        image = container_stack.image(service)
        labels = container_stack.podman(
            "image",
            "inspect",
            "--format",
            '{{index .Labels "org.opencontainers.image.version"}}'
            ' {{index .Labels "org.opencontainers.image.revision"}}'
            ' {{index .Labels "org.opencontainers.image.title"}}',
            image,
        ).stdout.split()
        version, revision, title = labels
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (image, version)
        assert re.fullmatch(r"[0-9a-f]{40}", revision), (image, revision)
        assert title == f"wasmgrid-{service}"


def _invocations(stack: ContainerStack, replica: int) -> float:
    """Guest executions a runtime replica counted so far (its Prometheus counter)."""
    port = stack.ports.runtime_replica(replica)[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("wasmgrid_runtime_invocations_total{")
    )


async def test_a_runtime_container_stopped_under_load_drains_and_loses_no_call(
    container_stack: ContainerStack,
) -> None:
    stack = container_stack
    assert stack.runtime_replicas >= 2, "needs two runtime replicas (make test-containers)"
    base = f"http://127.0.0.1:{stack.ports.gateway_http}"
    replicas = range(stack.runtime_replicas)
    async with Client(base, timeout=60) as wg:
        # The gateway hashes a module to one replica: stop the one that runs hello.
        before = [_invocations(stack, i) for i in replicas]
        for i in range(20):
            assert (await wg.run("examples/hello", f"warm {i}".encode())).text == f"WARM {i}"
        grew = [_invocations(stack, i) - before[i] for i in replicas]
        busy = max(replicas, key=lambda i: grew[i])
        name = stack.container("runtime", busy)

        answered: list[tuple[int, str, str]] = []  # (client, sent, got or the error)
        done = asyncio.Event()

        async def client(n: int) -> None:
            i = 0
            while not done.is_set():
                sent = f"load {n} {i}"
                i += 1
                try:
                    got = (await wg.run("examples/hello", sent.encode())).text
                except ProblemError as exc:
                    got = f"{exc.status} {exc.title}: {exc.detail}"
                except WasmgridError as exc:
                    got = repr(exc)
                except aiohttp.ClientError as exc:
                    got = repr(exc)
                answered.append((n, sent, got))

        clients = [asyncio.create_task(client(n)) for n in range(CLIENTS)]
        try:

            async def calls(n: int) -> bool:
                return len(answered) >= n

            await poll_until(lambda: calls(100), "100 calls under load", timeout=60)
            # `podman stop`: SIGTERM to PID 1, SIGKILL only after STOP_TIMEOUT.
            await asyncio.to_thread(stack.podman.stop, name)
            during = len(answered)
            await poll_until(lambda: calls(during + 100), "100 calls after the stop", 60)
        finally:
            done.set()
            await asyncio.gather(*clients)
        try:
            wrong = [(n, sent, got) for n, sent, got in answered if got != sent.upper()]
            assert not wrong, f"{len(wrong)} of {len(answered)} calls failed: {wrong[:5]}"
            state, code = stack.podman.status(name)
            assert (state, code) == ("exited", 0), (state, code, stack.log_tail(name))
            logs = stack.podman.logs(name)
            assert "runtime shutting down: NOT_SERVING, drain 5.0s" in logs, logs[-3000:]
            assert '"msg":"runtime stopped"' in logs, logs[-3000:]
        finally:
            await _restart(stack, name, busy)


async def _restart(stack: ContainerStack, name: str, replica: int) -> None:
    """Start a stopped replica again and wait until it serves (later tests want it)."""
    stack.podman("start", name)
    address = f"127.0.0.1:{stack.grpc_port('runtime', replica)}"

    async def serving() -> bool:
        return await asyncio.to_thread(health_status, address) == "SERVING"

    await poll_until(serving, f"{name} SERVING again", timeout=STOP_TIMEOUT + 60)
