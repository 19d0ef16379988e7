"""`wasmgrid dev up` brings the whole suite up, reports it, refuses a second copy, stops clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from wasmgrid.cli.devstack import SERVICES, health_status
from wasmgrid.cli.embedded import port_open

from .conftest import DevStackFactory, DevStackProcess


def test_all_five_services_report_serving(dev_stack: DevStackProcess) -> None:
    for service in SERVICES:
        address = f"127.0.0.1:{dev_stack.ports.grpc(service)}"
        assert health_status(address, timeout=5) == "SERVING", service


def test_every_service_serves_prometheus_metrics(dev_stack: DevStackProcess) -> None:
    for service in SERVICES:
        url = dev_stack.ports.metrics_url(service)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode()
            assert resp.status == 200, url
            assert "# TYPE" in body, url
            assert "wasmgrid_service_ready" in body, url
            # The startup heap is frozen out of full collections (wasmgrid.common.gc_tuning).
            frozen = [
                float(line.rsplit(" ", 1)[1])
                for line in body.splitlines()
                if line.startswith("wasmgrid_gc_frozen_objects{")
            ]
            assert frozen, url
            assert min(frozen) > 10_000, (url, frozen)
            assert "wasmgrid_gc_pause_seconds_bucket{" in body, url


def test_status_command_lists_every_service_as_serving(dev_stack: DevStackProcess) -> None:
    result = dev_stack.cli("status")
    assert result.returncode == 0, result.stdout + result.stderr
    for service in SERVICES:
        line = next(ln for ln in result.stdout.splitlines() if ln.strip().startswith(service))
        assert "SERVING" in line


def test_second_up_on_same_data_dir_says_it_is_running(dev_stack: DevStackProcess) -> None:
    result = dev_stack.cli("up", timeout=30)
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert str(dev_stack.proc.pid) in result.stderr


def test_admin_token_written_once_and_private(dev_stack: DevStackProcess) -> None:
    token_file = dev_stack.data_dir / "admin-token"
    token = token_file.read_text().strip()
    assert token.startswith("wgt_")
    assert len(token) > 30
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_example_modules_were_published(dev_stack: DevStackProcess) -> None:
    text = "\n".join(dev_stack.output)
    assert "published    examples/hello@1.0.0" in text
    assert "published    examples/mathfn@1.0.0" in text
    assert "published    examples/wagi-echo@1.0.0" in text  # a WASI 0.2 component


def test_the_example_component_serves_a_wagi_request(dev_stack: DevStackProcess) -> None:
    url = f"http://127.0.0.1:{dev_stack.ports.gateway_http}/v1/run/examples/wagi-echo/x?one+two"
    request = urllib.request.Request(url, data=b"from the dev stack", method="POST")
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
        body = resp.read()
    assert (
        body == b"method: POST\npath: /x\nquery: one+two\nargv: one two\nbody: from the dev stack"
    )


# Two stacks up and down in turn: minutes on a loaded 2-core machine.
@pytest.mark.timeout(360)
def test_sigterm_stops_everything_and_data_persists(dev_stack_factory: DevStackFactory) -> None:
    stack = dev_stack_factory.start()
    children = json.loads((stack.data_dir / "dev.json").read_text())["children"]
    assert set(children) == set(SERVICES)
    assert dev_stack_factory.stop(stack) == 0, "\n".join(stack.output)
    for service, pid in children.items():
        assert not _alive(pid), f"{service} (pid {pid}) survived the stop"
    for port in (stack.ports.postgres, stack.ports.redis, stack.ports.gateway_http):
        assert not port_open("127.0.0.1", port), port
    assert not (stack.data_dir / "dev.json").exists()
    token = (stack.data_dir / "admin-token").read_text()
    # Up again on the same data (on other ports, so a port taken meanwhile cannot fail it):
    # same admin token, examples already there (persisted in PG).
    again = dev_stack_factory.start(stack.data_dir)
    assert (again.data_dir / "admin-token").read_text() == token
    assert "examples/hello@1.0.0 (already there)" in "\n".join(again.output)
    assert dev_stack_factory.stop(again) == 0, "\n".join(again.output)


@pytest.mark.integration
def test_bad_setting_stops_a_service_with_one_line() -> None:
    env = {**os.environ, "WASMGRID_CACHE_GRPC_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "wasmgrid.cache"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "WASMGRID_CACHE_GRPC_PORT" in lines[0]
    assert "'not-a-port'" in lines[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited if /proc says so.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
