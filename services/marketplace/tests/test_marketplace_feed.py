"""WatchPublishes: every replica tells of every publish, in commit order, resumable."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc
import pytest

from wasmgrid.api.marketplace.v1 import marketplace_pb2 as pb
from wasmgrid.marketplace.tokens import new_secret

from .conftest import MarketFactory


async def next_event(stream: Any, timeout: float = 30) -> pb.PublishEvent:
    """The stream's next message (a grpc.aio UnaryStreamCall), within `timeout`."""
    event = await asyncio.wait_for(stream.read(), timeout)
    assert isinstance(event, pb.PublishEvent), event
    return event


async def test_a_publish_on_one_replica_reaches_a_watcher_of_another_and_resumes(
    market_factory: MarketFactory, hello_wasm: bytes, mathfn_wasm: bytes
) -> None:
    admin = new_secret()
    one = await market_factory(admin)
    two = await market_factory(admin)
    bob = await one.user("bob")

    stream = two.stub.WatchPublishes(pb.WatchPublishesRequest())
    start = await next_event(stream)
    assert not start.HasField("version")

    await one.publish(bob, "bob/first", "1.0.0", hello_wasm)
    first = await next_event(stream)
    assert first.seq > start.seq
    assert (first.version.name, first.version.version) == ("bob/first", "1.0.0")
    assert not first.version.HasField("validation")
    stream.cancel()

    # Published while nobody watched: a watcher resuming after `first` gets it first.
    await one.publish(bob, "bob/second", "1.0.0", mathfn_wasm)
    await one.publish(bob, "bob/second", "1.0.1", mathfn_wasm)
    resumed = two.stub.WatchPublishes(pb.WatchPublishesRequest(after_seq=first.seq))
    assert (await next_event(resumed)).seq == first.seq
    caught_up = [await next_event(resumed), await next_event(resumed)]
    assert [(e.version.name, e.version.version) for e in caught_up] == [
        ("bob/second", "1.0.0"),
        ("bob/second", "1.0.1"),
    ]
    assert caught_up[0].seq < caught_up[1].seq
    resumed.cancel()


async def test_a_refused_publish_is_not_in_the_feed(
    market_factory: MarketFactory, hello_wasm: bytes
) -> None:
    market = await market_factory(new_secret())
    bob = await market.user("bob")
    stream = market.stub.WatchPublishes(pb.WatchPublishesRequest())
    start = await next_event(stream)
    with pytest.raises(grpc.aio.AioRpcError):
        await market.publish(bob, "bob/junk", "1.0.0", b"not wasm")
    await market.publish(bob, "bob/good", "1.0.0", hello_wasm)
    event = await next_event(stream)
    assert event.seq == start.seq + 1
    assert event.version.name == "bob/good"
    stream.cancel()


async def test_a_publish_while_the_listener_is_down_still_reaches_the_watcher(
    market_factory: MarketFactory, hello_wasm: bytes
) -> None:
    market = await market_factory(new_secret())
    bob = await market.user("bob")
    stream = market.stub.WatchPublishes(pb.WatchPublishesRequest())
    await next_event(stream)
    conn = await asyncpg.connect(market.database_url)
    try:
        # Cut the replica's LISTEN session: the NOTIFY of the next publish is lost.
        cut = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN %wasmgrid_publish%'"
        )
        assert cut == 1
    finally:
        await conn.close()
    await market.publish(bob, "bob/during", "1.0.0", hello_wasm)
    event = await next_event(stream, timeout=60)  # caught up once it listens again
    assert event.version.name == "bob/during"
    stream.cancel()
