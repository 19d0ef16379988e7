"""A killed runtime's working directories are removed by the next one to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wasmgrid.common.testing import free_port, poll_until
from wasmgrid.runtime import privatedirs
from wasmgrid.runtime.privatedirs import LOCK_NAME, STAGING_GRACE_SECONDS, claim, sweep

PREFIX = "wasmgrid-runtime-"


def _dies(private: privatedirs.PrivateDir) -> None:
    """What a SIGKILL does to a directory's owner: the lock goes, the directory stays."""
    os.close(private.lock_fd)


def test_a_live_owners_directory_is_kept_and_a_dead_ones_removed(tmp_path: Path) -> None:
    live = claim(str(tmp_path), PREFIX)
    dead = claim(str(tmp_path), PREFIX)
    assert live.path != dead.path
    assert os.path.basename(live.path).startswith(PREFIX)
    assert os.path.isfile(os.path.join(live.path, LOCK_NAME))
    Path(dead.path, "thread-1.stdout").write_bytes(b"x" * 1000)
    _dies(dead)

    removed = sweep(str(tmp_path), PREFIX)

    assert [path for path, _ in removed] == [dead.path]
    assert removed[0][1] == 1000  # the bytes it held (the lock file is empty)
    assert not os.path.exists(dead.path)
    assert os.path.isdir(live.path)
    assert sweep(str(tmp_path), PREFIX) == []  # a second sweep finds nothing
    live.remove()
    assert not os.path.exists(live.path)


def test_directories_without_a_lock_or_of_another_name_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / f"{PREFIX}olderversion").mkdir()
    (tmp_path / "wasmgrid-runtime-metrics-abc").mkdir()
    other = tmp_path / "something-else"
    other.mkdir()
    (other / LOCK_NAME).touch()  # unlocked, but not one of ours by name

    assert sweep(str(tmp_path), PREFIX) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "something-else",
        "wasmgrid-runtime-metrics-abc",
        f"{PREFIX}olderversion",
    ]


def test_a_staging_directory_is_removed_only_once_it_is_old(tmp_path: Path) -> None:
    young = tmp_path / f".{PREFIX}staging-young"
    old = tmp_path / f".{PREFIX}staging-old"
    young.mkdir()
    old.mkdir()
    long_ago = time.time() - STAGING_GRACE_SECONDS - 5
    os.utime(old, (long_ago, long_ago))

    removed = sweep(str(tmp_path), PREFIX)

    assert [path for path, _ in removed] == [str(old)]
    assert young.is_dir()


def test_a_sweep_logs_what_it_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dead = claim(str(tmp_path), PREFIX)
    _dies(dead)
    with caplog.at_level("WARNING", logger="wasmgrid.runtime.privatedirs"):
        sweep(str(tmp_path), PREFIX)
    assert f"removed {dead.path} (0 bytes): left by a runtime process that died" in caplog.text


@pytest.mark.integration  # starts runtime processes
async def test_a_sigkilled_runtimes_scratch_directory_goes_when_the_next_one_starts(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"

    def start() -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        env = {
            **os.environ,
            "WASMGRID_RUNTIME_WORKERS": "1",
            "WASMGRID_RUNTIME_GRPC_PORT": str(port),
            "WASMGRID_RUNTIME_METRICS_PORT": str(free_port()),
            "WASMGRID_RUNTIME_DATA_DIR": str(tmp_path / "data"),
            "WASMGRID_RUNTIME_SCRATCH_DIR": str(scratch),
            "WASMGRID_RUNTIME_WATCH_PUBLISHES": "false",
            "WASMGRID_RUNTIME_LOG_LEVEL": "WARNING",
            "WASMGRID_RUNTIME_DRAIN_SECONDS": "0",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "wasmgrid.runtime"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return proc, port

    def owned() -> list[str]:
        if not scratch.is_dir():
            return []
        return sorted(p.name for p in scratch.iterdir() if p.name.startswith("wasmgrid-scratch-"))

    async def one_dir() -> bool:
        return len(owned()) == 1

    first, _ = start()
    second: subprocess.Popen[bytes] | None = None
    try:
        await poll_until(one_dir, "the first runtime's directory", 60, 0.1)
        killed = owned()
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert owned() == killed  # nothing removes it until another runtime starts

        async def replaced() -> bool:
            return len(owned()) == 1 and owned() != killed

        second, _ = start()
        await poll_until(
            replaced,
            "the second runtime to remove the killed one's directory and make its own",
            60,
            0.1,
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        assert owned() == []  # a runtime that stops removes its own
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
