"""``python -m wasmgrid.marketplace``: run the registry service."""

from wasmgrid.common import grpc_tuning, startup

startup.exit_on_sigterm()  # as PID 1, until the service's own handler is installed
grpc_tuning.apply()  # before anything imports grpc

from wasmgrid.common.server import run
from wasmgrid.marketplace.service import MarketplaceService
from wasmgrid.marketplace.settings import MarketplaceSettings

if __name__ == "__main__":
    run("marketplace", MarketplaceSettings, MarketplaceService)
