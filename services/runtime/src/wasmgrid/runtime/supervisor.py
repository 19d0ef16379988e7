"""Process entry point: one runtime process, or a supervisor of N worker processes.

Why processes: wasm itself runs outside the GIL on worker threads, but everything
around it (gRPC, protobuf, Store/WASI setup through ctypes) holds the GIL, so one
process saturates one core on small calls. N workers bind the same port with
SO_REUSEPORT and the kernel spreads connections over them (bench/bench_runtime.py
measures 1 vs 2 workers).

The supervisor owns the Prometheus endpoint: workers write their samples to
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client multiprocess mode) and the supervisor
serves the sum on the metrics port; counters and histograms are summed across
workers, the in-flight gauge is a live sum, the kit's gauges keep a ``pid`` label.
A worker that dies is restarted (at most once per second), except one that exits
with ``EXIT_CANNOT_START`` (its port taken, say): then the supervisor stops the rest
and exits with that code, since a restart would fail the same way. SIGTERM/SIGINT is
forwarded to every worker, which drains within its grace period.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from wasmgrid.common.logs import configure_logging
from wasmgrid.common.server import EXIT_CANNOT_START, bind_error, run
from wasmgrid.common.settings import load_settings
from wasmgrid.runtime.settings import RuntimeSettings
from wasmgrid.runtime.store import load_or_create_key

log = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = 1.0


def main() -> None:
    """Run the runtime as configured by ``WASMGRID_RUNTIME_*``."""
    settings = load_settings(RuntimeSettings)
    workers = settings.workers or os.cpu_count() or 1
    if settings.supervised or workers == 1:
        from wasmgrid.runtime.service import RuntimeService

        if settings.supervised:
            _exit_with_supervisor()
        # A supervised worker leaves /metrics to its supervisor.
        run("runtime", RuntimeSettings, RuntimeService, serve_metrics=not settings.supervised)
        return
    if settings.grpc_port == 0:
        print(
            f"wasmgrid: invalid setting WASMGRID_RUNTIME_GRPC_PORT=0: {workers} workers must"
            " share a fixed port (or set WASMGRID_RUNTIME_WORKERS=1)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    configure_logging("runtime", settings.log_level, json_lines=settings.log_json)
    sys.exit(Supervisor(settings, workers).run())


def _exit_with_supervisor() -> None:
    """Ask Linux to SIGTERM this worker when its supervisor dies (even by SIGKILL)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        raise SystemExit("runtime worker: supervisor is gone")


class Supervisor:
    """Starts, watches and stops the worker processes; serves their summed metrics."""

    def __init__(self, settings: RuntimeSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="wasmgrid-runtime-metrics-"))

    def _env(self, worker_id: int) -> dict[str, str]:
        return {
            **os.environ,
            "WASMGRID_RUNTIME_SUPERVISED": "true",
            "WASMGRID_RUNTIME_WORKERS": "1",
            "WASMGRID_RUNTIME_WORKER_ID": str(worker_id),
            "WASMGRID_RUNTIME_REUSE_PORT": "true",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }

    def _spawn(self, worker_id: int) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wasmgrid.runtime"], env=self._env(worker_id)
        )
        self.procs[worker_id] = proc
        log.info("runtime worker started", extra={"worker_id": worker_id, "pid": proc.pid})

    def _serve_metrics(self) -> object:
        # Imported here, after PROMETHEUS_MULTIPROC_DIR exists, and only in the supervisor.
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.metrics_dir))  # type: ignore[no-untyped-call]
        server, _thread = start_http_server(
            self.settings.metrics_port, addr=self.settings.host, registry=registry
        )
        return server

    def run(self) -> int:
        s = self.settings
        # Create the artifact key once, before workers could race to generate their own.
        load_or_create_key(Path(s.data_dir), s.artifact_key)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
            server = self._serve_metrics()
        except OSError as exc:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            error = bind_error("metrics port", s.host, s.metrics_port, exc)
            log.error("runtime cannot start: %s", error)
            print(f"wasmgrid runtime: {error}", file=sys.stderr)
            return EXIT_CANNOT_START
        log.info(
            "runtime supervisor serving",
            extra={
                "workers": self.workers,
                "grpc_port": s.grpc_port,
                "metrics_port": s.metrics_port,
            },
        )
        for worker_id in range(self.workers):
            self._spawn(worker_id)
        last_restart = 0.0
        while not self.stopping.wait(0.2):
            for worker_id, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                self._forget(proc.pid)
                if code == EXIT_CANNOT_START:
                    # Its own log says why (a port taken, say); a restart would fail alike.
                    log.error(
                        "runtime worker cannot start; stopping the runtime",
                        extra={"worker_id": worker_id, "pid": proc.pid},
                    )
                    self._stop(server)
                    return EXIT_CANNOT_START
                log.error(
                    "runtime worker exited; restarting",
                    extra={"worker_id": worker_id, "pid": proc.pid, "exit_code": code},
                )
                wait = last_restart + RESTART_BACKOFF_SECONDS - time.monotonic()
                if wait > 0 and self.stopping.wait(wait):
                    break
                last_restart = time.monotonic()
                self._spawn(worker_id)
        return self._stop(server)

    def _forget(self, pid: int) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]

    def _stop(self, server: object) -> int:
        log.info("runtime supervisor stopping %d workers", len(self.procs))
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_seconds + self.settings.grace_seconds + 5
        worst = 0
        for proc in self.procs.values():
            try:
                code = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("runtime worker did not stop in time; killing", extra={"pid": proc.pid})
                proc.kill()
                code = proc.wait()
            worst = worst or (code if code not in (0, -signal.SIGTERM) else 0)
        shutdown = getattr(server, "shutdown", None)
        if callable(shutdown):
            shutdown()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return worst
