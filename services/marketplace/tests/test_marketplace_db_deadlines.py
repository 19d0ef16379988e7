"""A database that does not answer fails the calls that need it within their deadlines,
as UNAVAILABLE (the gateway's 503 with Retry-After), and the service goes on."""

from __future__ import annotations

import asyncpg
import grpc
import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb

from .conftest import MarketFactory


@pytest.mark.integration
async def test_a_statement_past_its_deadline_is_unavailable_and_the_next_call_works(
    market_factory: MarketFactory, hello_wasm: bytes
) -> None:
    market = await market_factory("wgt_" + "d" * 40, db_statement_timeout_ms=300)
    bob = await market.user("bob")
    await market.publish(bob, "bob/held", "1.0.0", hello_wasm)
    blocker = await asyncpg.connect(market.database_url)
    try:
        # Another session holds the modules table: every read of it waits for the lock,
        # as every statement waits on a hung server, until its deadline.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE marketplace.modules IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await market.stub.GetModule(pb.GetModuleRequest(name="bob/held"))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
        await tx.rollback()
    finally:
        await blocker.close()
    got = await market.stub.GetModule(pb.GetModuleRequest(name="bob/held"))
    assert got.module.name == "bob/held"
