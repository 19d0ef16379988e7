"""``python -m wasmgrid.marketplace``: run the registry service."""

from wasmgrid.common import grpc_tuning

grpc_tuning.apply()  # before anything imports grpc

from wasmgrid.common.server import run
from wasmgrid.marketplace.service import MarketplaceService
from wasmgrid.marketplace.settings import MarketplaceSettings

if __name__ == "__main__":
    run("marketplace", MarketplaceSettings, MarketplaceService)
