"""A supervised worker's metrics land in its own multiprocess file, also after a fork."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_WORKER = """
import os, sys
from wasmgrid.runtime.workermetrics import use_cached_pid
use_cached_pid()
from prometheus_client import Counter
calls = Counter("worker_calls", "calls")
calls.inc()
child = os.fork()
if child == 0:
    calls.inc(5)
    os._exit(0)
os.waitpid(child, 0)
calls.inc()
print(os.getpid(), child)
"""


def test_a_workers_samples_are_its_own_and_a_forked_childs_are_the_childs(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _WORKER],
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    parent, child = out.stdout.split()
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{parent}.db", f"counter_{child}.db"]
    )
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    assert registry.get_sample_value("worker_calls_total") == 1 + 5 + 1
    for pid, expected in ((parent, 2.0), (child, 5.0)):
        only = tmp_path / f"only-{pid}"
        only.mkdir()
        (tmp_path / f"counter_{pid}.db").rename(only / f"counter_{pid}.db")
        one = CollectorRegistry()
        MultiProcessCollector(one, path=str(only))  # type: ignore[no-untyped-call]
        assert one.get_sample_value("worker_calls_total") == expected
