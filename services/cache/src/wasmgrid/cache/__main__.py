"""``python -m wasmgrid.cache``: run the cache service."""

from wasmgrid.common import grpc_tuning, startup

startup.exit_on_sigterm()  # as PID 1, until the service's own handler is installed
grpc_tuning.apply()  # before anything imports grpc

from wasmgrid.cache.service import create_service
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.server import run

if __name__ == "__main__":
    run("cache", CacheSettings, create_service)
