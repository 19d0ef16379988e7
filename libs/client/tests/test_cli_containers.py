"""How `wasmgrid containers up` lays out the stack: names, ports, environments, mounts.

Running the images is `make test-containers` (tests/e2e, marked `containers`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wasmgrid.cli.containers import RUNTIME_DATA, ContainerStack
from wasmgrid.cli.devstack import Ports, StackError, free_offset
from wasmgrid.cli.embedded import port_open


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WASMGRID_DATABASE_URL", "WASMGRID_REDIS_URL", "WASMGRID_RUNTIME_DRAIN_SECONDS"):
        monkeypatch.delenv(var, raising=False)


def test_runtime_replicas_take_the_ports_after_the_monitors() -> None:
    ports = Ports.with_offset(100)
    assert ports.runtime_replica(0) == (50151, 9191)
    assert ports.runtime_replica(1) == (50155, 9195)
    assert ports.runtime_replica(5) == (50159, 9199)
    with pytest.raises(ValueError, match=re.escape("runtime replica index 6 is not in 0..5")):
        ports.runtime_replica(6)
    # Two stacks ten ports apart never share one, whatever their replicas.
    assert not set(ports.all_ports(6)) & set(Ports.with_offset(110).all_ports(6))


def test_a_free_offset_has_every_port_of_the_stack_free() -> None:
    offset = free_offset(runtime_replicas=3)
    assert offset % 10 == 0
    assert 1000 <= offset < 9000
    assert not any(port_open("127.0.0.1", p) for p in Ports.with_offset(offset).all_ports(3))


def test_containers_are_named_by_offset_and_replica(tmp_path: Path) -> None:
    default = ContainerStack(tmp_path, runtime_replicas=2)
    assert [default.container(s, r) for s, r in default.members()] == [
        "wasmgrid-monitor",
        "wasmgrid-marketplace",
        "wasmgrid-cache",
        "wasmgrid-runtime",
        "wasmgrid-runtime-2",
        "wasmgrid-gateway",
    ]
    moved = ContainerStack(tmp_path, 2000, tag="rc1")
    assert moved.container("gateway") == "wasmgrid-2000-gateway"
    assert moved.image("cache") == "localhost/wasmgrid/cache:rc1"
    with pytest.raises(StackError, match=re.escape("runtime replicas 7 is not in 1..6")):
        ContainerStack(tmp_path, runtime_replicas=7)


def test_the_gateway_and_the_monitor_know_every_runtime_replica(tmp_path: Path) -> None:
    stack = ContainerStack(tmp_path, 10, runtime_replicas=3)
    gateway = stack.env("gateway")
    assert gateway["WASMGRID_GATEWAY_RUNTIME_TARGETS"] == (
        "127.0.0.1:50061,127.0.0.1:50065,127.0.0.1:50066"
    )
    assert gateway["WASMGRID_GATEWAY_HTTP_HOST"] == "127.0.0.1"  # not the image's 0.0.0.0
    targets = stack.env("monitor")["WASMGRID_MONITOR_TARGETS"].split(",")
    runtimes = [t for t in targets if t.startswith("runtime=")]
    assert runtimes == [
        "runtime=127.0.0.1:50061|http://127.0.0.1:9101/metrics",
        "runtime=127.0.0.1:50065|http://127.0.0.1:9105/metrics",
        "runtime=127.0.0.1:50066|http://127.0.0.1:9106/metrics",
    ]


def test_each_runtime_replica_has_its_ports_and_the_containers_data_dir(
    tmp_path: Path,
) -> None:
    stack = ContainerStack(tmp_path, runtime_replicas=2)
    second = stack.env("runtime", 1)
    assert (second["WASMGRID_RUNTIME_GRPC_PORT"], second["WASMGRID_RUNTIME_METRICS_PORT"]) == (
        "50055",
        "9095",
    )
    assert second["WASMGRID_RUNTIME_DATA_DIR"] == RUNTIME_DATA  # the tmpfs, not a host path
    assert len(second["WASMGRID_RUNTIME_ARTIFACT_KEY"]) >= 32
    # Gateways must see a stopped replica go NOT_SERVING before it stops: the image's
    # drain period applies (the dev stack, which stops the gateway first, sets 0).
    assert "WASMGRID_RUNTIME_DRAIN_SECONDS" not in second
    assert stack.env("runtime", 0)["WASMGRID_RUNTIME_GRPC_PORT"] == "50051"


def test_only_the_runtime_gets_writable_mounts(tmp_path: Path) -> None:
    stack = ContainerStack(tmp_path)
    for service in ("gateway", "marketplace", "cache", "monitor"):
        assert stack.mounts(service) == []
    mounts = stack.mounts("runtime")
    tmpfs = [mounts[i + 1] for i, a in enumerate(mounts) if a == "--tmpfs"]
    assert [t.split(":")[0] for t in tmpfs] == [RUNTIME_DATA, "/tmp"]
    assert tmpfs[0].endswith(",U")  # owned by the image's user


def test_secrets_reach_podman_by_name_only(tmp_path: Path) -> None:
    stack = ContainerStack(tmp_path)
    env = stack.env("marketplace")
    args = stack.run_args("wasmgrid-marketplace", env)
    token = env["WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN"]
    assert token.startswith("wgt_")
    assert not any(token in a for a in args)  # argv is visible to every user of the machine
    assert "WASMGRID_MARKETPLACE_BOOTSTRAP_ADMIN_TOKEN" in args
    assert {"--read-only", "--read-only-tmpfs=false", "--network"} <= set(args)


def test_a_services_own_settings_reach_only_its_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASMGRID_RUNTIME_MAX_CONCURRENT", "3")
    monkeypatch.setenv("WASMGRID_RUNTIME_GRPC_PORT", "1")  # the stack's ports win
    stack = ContainerStack(tmp_path)
    runtime = stack.env("runtime")
    assert runtime["WASMGRID_RUNTIME_MAX_CONCURRENT"] == "3"
    assert runtime["WASMGRID_RUNTIME_GRPC_PORT"] == "50051"
    assert not any(k.startswith("WASMGRID_RUNTIME_") for k in stack.env("gateway"))
