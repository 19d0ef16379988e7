"""A service that is PID 1 (as in a container) stops at once on a SIGTERM during its start."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from wasmgrid.common.testing import poll_until

# Runs a service as PID 1 of its own PID namespace.
pytestmark = pytest.mark.integration


def _child_pid(parent: int) -> int | None:
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
async def test_a_service_as_pid_1_exits_on_a_sigterm_sent_while_it_imports() -> None:
    env = {**os.environ, "WASMGRID_CACHE_GRPC_PORT": "0", "WASMGRID_CACHE_METRICS_PORT": "0"}
    # unshare: a new PID namespace whose PID 1 is the service, as in a container.
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "wasmgrid.cache"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        async def service_pid() -> int | None:
            return _child_pid(proc.pid)

        pid = await poll_until(service_pid, "the service process in its namespace", 10)
        # Again and again from its first instant: signals before Python runs the entry
        # point are dropped (no handler yet); the first one after it must end the start.
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.02)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    # Stopped while importing: it never got as far as serving (nor as logging anything).
    assert "serving" not in output, output
