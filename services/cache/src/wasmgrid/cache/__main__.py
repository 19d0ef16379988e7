"""``python -m wasmgrid.cache``: run the cache service."""

from wasmgrid.cache.service import CacheService
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.server import run

if __name__ == "__main__":
    run("cache", CacheSettings, CacheService)
