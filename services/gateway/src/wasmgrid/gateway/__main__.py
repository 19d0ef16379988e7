"""``python -m wasmgrid.gateway``: the HTTP edge plus its gRPC health port, one event loop.

SIGTERM/SIGINT: /readyz and grpc.health go NOT_SERVING → (the drain delay, so load
balancers notice) → stop accepting → in-flight HTTP requests drain within the grace →
clients close → exit 0. SIGHUP reloads the routes file.
"""

from wasmgrid.common import grpc_tuning, startup

startup.exit_on_sigterm()  # as PID 1, until the service's own handler is installed
grpc_tuning.apply()  # before anything imports grpc

from wasmgrid.common.server import run
from wasmgrid.gateway.service import create_service
from wasmgrid.gateway.settings import GatewaySettings

if __name__ == "__main__":
    # /metrics is served on the HTTP port, with the API; on a port of its own as well
    # when one is set (replicas sharing the HTTP port need it).
    run("gateway", GatewaySettings, create_service, serve_metrics=lambda s: s.metrics_port != 0)
