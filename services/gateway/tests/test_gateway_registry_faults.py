"""The registry hung or down: modules resolved before keep running from their last
resolution; a module never resolved is refused as the platform's fault, promptly."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from reliability.proxy import LinkFaults, Proxy
from wasmgrid.common.testing import free_port, poll_until

from .conftest import Infra, StartGateway


def _stale() -> float:
    return (
        REGISTRY.get_sample_value("wasmgrid_gateway_resolve_cache_total", {"result": "stale"}) or 0
    )


@pytest.mark.integration
async def test_known_modules_run_from_their_last_resolution_while_the_registry_hangs_or_is_down(
    start_gateway: StartGateway, infra: Infra
) -> None:
    host, _, port = infra.market.address.rpartition(":")
    listen = free_port()
    # A link that delays every byte by a minute while "lossy": the registry hangs.
    proxy = Proxy({listen: (host, int(port))}, LinkFaults(60_000, 0, 0))
    await proxy.start()
    try:
        gw = await start_gateway(
            marketplace_addr=f"127.0.0.1:{listen}",
            resolve_cache_ttl_seconds=0.2,
            resolve_refresh_timeout_seconds=0.3,
        )
        run = gw.url("/v1/run/examples/hello")
        async with gw.http.post(run, data=b"before") as resp:
            assert resp.status == 200
            assert await resp.read() == b"BEFORE"
        stale = _stale()

        async def served_stale(body: bytes) -> bool:
            # Every answer right while the fresh entry expires and the registry is asked.
            async with gw.http.post(run, data=body) as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.read() == body.upper()
            return _stale() > stale

        proxy.set_lossy(True)  # hung
        await poll_until(lambda: served_stale(b"hung"), "served from the last resolution", 10)
        stale = _stale()
        await proxy.close()  # down
        await poll_until(lambda: served_stale(b"down"), "served from the last resolution", 10)
        # Never resolved: nothing to fall back on, a platform 503 (not a hang, not a 500).
        async with gw.http.post(gw.url("/v1/run/examples/mathfn"), data=b"") as resp:
            problem = await resp.json(content_type=None)
            assert resp.status in (503, 504), problem
            assert problem["fault"] == "platform"
    finally:
        await proxy.close()
