"""``python -m wasmgrid.monitor``: run the monitor service."""

from wasmgrid.common import grpc_tuning, startup

startup.exit_on_sigterm()  # as PID 1, until the service's own handler is installed
grpc_tuning.apply()  # before anything imports grpc

from wasmgrid.common.server import run
from wasmgrid.monitor.service import MonitorService
from wasmgrid.monitor.settings import MonitorSettings

if __name__ == "__main__":
    run("monitor", MonitorSettings, MonitorService)
