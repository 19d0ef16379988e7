"""The shared tier (L2): Redis behind every replica's memory, plus invalidation broadcast.

Layout in Redis (``<ns>`` is a validated namespace name, ``<key>``/``<tag>`` raw UTF-8):

* ``wasmgrid:cache:<ns>:k:<key>``  hash: ``v`` stored bytes, ``r`` raw length,
  ``c`` codec, ``p`` priority, ``t`` tags (JSON), ``n`` version, ``e`` 1 if the
  entry has a TTL; the Redis key expires with the entry (capped by shared_ttl_cap_ms).
* ``wasmgrid:cache:<ns>:t:<tag>``  set of keys carrying the tag (expires with its longest entry).
* ``wasmgrid:cache:<ns>:version``  the namespace's version counter.
* ``wasmgrid:cache:namespaces``    hash: namespace name → configuration JSON.
* channel ``wasmgrid:cache:invalidations``: one JSON message per mutation:
  ``{"r": replica, "n": ns, "o": "k"|"p"|"t"|"c", "x": key|prefix|tag, "v": version}``
  (``o`` is a :class:`MutationKind`).

Every mutation bumps the namespace's version counter and publishes in the same
Lua script, so versions order all writes and invalidations of a namespace and a
message can never be lost between the write and the publish. Replicas ignore
their own messages.

Availability: any connection error flips the tier to DEGRADED (one warning, a
metric); while degraded every operation fails fast with :class:`SharedTierDown`
so callers serve from L1 without waiting on timeouts. A supervisor reconnects
with capped exponential backoff and jitter, re-subscribes, then calls
``on_resync`` (the cache drops L1 entries it may have missed invalidations for)
before declaring the tier CONNECTED again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wasmgrid.cache import metrics

log = logging.getLogger(__name__)

PREFIX = "wasmgrid:cache:"
CHANNEL = PREFIX + "invalidations"
CONFIGS = PREFIX + "namespaces"
_BATCH = 500
_GLOB = re.compile(r"([*?\[\]\\])")
# Errors that mean "Redis is not reachable right now"; anything else is a bug and propagates.
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)

_SET = """
local ver = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', ARGV[2], 'c', ARGV[3], 'p', ARGV[4],
           't', ARGV[5], 'n', ver, 'e', ARGV[7])
local ttl = tonumber(ARGV[6])
redis.call('PEXPIRE', KEYS[1], ttl)
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[10])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
redis.call('PUBLISH', ARGV[8], cjson.encode({r=ARGV[9], n=ARGV[11], o='k', x=ARGV[10], v=ver}))
return ver
"""

_GET = """
local h = redis.call('HMGET', KEYS[1], 'v', 'r', 'c', 'p', 't', 'n', 'e')
if not h[1] then return nil end
return {h[1], h[2], h[3], h[4], h[5], h[6], h[7], redis.call('PTTL', KEYS[1])}
"""

_DELETE = """
local n = redis.call('DEL', KEYS[1])
local ver = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], cjson.encode({r=ARGV[2], n=ARGV[3], o='k', x=ARGV[4], v=ver}))
return {n, ver}
"""

_PUBLISH = """
local ver = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], cjson.encode({r=ARGV[2], n=ARGV[3], o=ARGV[4], x=ARGV[5], v=ver}))
return ver
"""


class SharedTierDown(Exception):
    """The shared tier is configured but not reachable now (serve from L1)."""


class TierState(StrEnum):
    """The shared tier's state as this replica sees it."""

    DISABLED = "disabled"
    CONNECTED = "connected"
    DEGRADED = "degraded"


@dataclass(frozen=True, slots=True)
class SharedRecord:
    """An entry read from the shared tier."""

    value: bytes
    raw_len: int
    codec: int
    priority: int
    tags: tuple[str, ...]
    version: int
    ttl_ms: int  # remaining milliseconds; 0 = the entry never expires (in L1 terms)


@dataclass(frozen=True, slots=True)
class SharedWrite:
    """An entry to write to the shared tier (its version is assigned there)."""

    stored: bytes  # the value as kept (maybe compressed)
    raw_len: int
    codec: int
    priority: int
    tags: tuple[str, ...]
    ttl_ms: int  # 0 = the namespace keeps it until evicted (capped by ttl_cap_ms)


class MutationKind(StrEnum):
    """What a mutation touched; the value is its one-letter code on the wire (the ``o``
    field of a broadcast, also written by the Lua scripts)."""

    KEY = "k"
    PREFIX = "p"
    TAG = "t"
    CONFIG = "c"


@dataclass(frozen=True, slots=True)
class Invalidation:
    """A mutation another replica (or this one) made to `target` (a key, a prefix, a tag,
    or nothing for a configuration)."""

    replica: str
    namespace: str
    kind: MutationKind
    target: str
    version: int


def parse_invalidation(data: bytes | str) -> Invalidation | None:
    """Decode a channel message; None when it is not one of ours."""
    try:
        doc = json.loads(data)
        return Invalidation(
            replica=str(doc["r"]),
            namespace=str(doc["n"]),
            kind=MutationKind(str(doc["o"])),
            target=str(doc["x"]),
            version=int(doc["v"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def glob_escape(text: str) -> str:
    """`text` with Redis glob metacharacters escaped, so it matches only literally."""
    return _GLOB.sub(r"\\\1", text)


def endpoint_of(url: str) -> str:
    """host:port of a Redis URL without credentials."""
    rest = url.split("://", 1)[-1]
    rest = rest.rsplit("@", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0]


class SharedTier:
    """The Redis tier of one replica: data commands, the subscription, the supervisor."""

    def __init__(  # noqa: PLR0913 - keyword-only settings
        self,
        url: str,
        replica_id: str,
        *,
        timeout: float,
        backoff_max: float,
        ttl_cap_ms: int,
        ping_interval: float = 5.0,
        on_message: Callable[[Invalidation], None],
        on_resync: Callable[[], Awaitable[None]],
    ) -> None:
        self.url = url
        self.endpoint = endpoint_of(url)
        self.replica_id = replica_id
        self.timeout = timeout
        self.backoff_max = backoff_max
        self.ttl_cap_ms = ttl_cap_ms
        self.ping_interval = ping_interval
        self._on_message = on_message
        self._on_resync = on_resync
        self.state = TierState.DEGRADED
        self.state_since = time.time()
        self.last_error = ""
        self.reconnects = 0
        self.published = 0
        self.received = 0
        self._connected_once = False
        self._resyncing = False
        self._lost = asyncio.Event()
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}
        metrics.SHARED_TIER_CONNECTED.set(0)

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Create the client, try to connect once now, keep reconnecting in the background."""
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=64,
            timeout=self.timeout,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = aioredis.Redis(connection_pool=pool)
        self._scripts = {
            name: self._client.register_script(src)
            for name, src in (
                ("set", _SET),
                ("get", _GET),
                ("delete", _DELETE),
                ("publish", _PUBLISH),
            )
        }
        with contextlib.suppress(SharedTierDown, *_DOWN):
            await self._connect()
        self._supervisor = asyncio.create_task(self._supervise(), name="cache-shared-tier")

    async def stop(self) -> None:
        """Stop reconnecting, unsubscribe and close every connection."""
        for task in (self._supervisor, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # Closing sockets to a dead or wedged Redis must not hold up shutdown.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._close_pubsub(), self.timeout)
        if self._client is not None:
            with contextlib.suppress(TimeoutError, *_DOWN, RedisError):
                await asyncio.wait_for(self._client.aclose(), self.timeout)
                await asyncio.wait_for(self._client.connection_pool.disconnect(), self.timeout)
        metrics.SHARED_TIER_CONNECTED.set(0)
        metrics.SHARED_TIER_DEGRADED.set(0)

    @property
    def available(self) -> bool:
        """True while Redis answers and the subscription is live."""
        return self.state is TierState.CONNECTED

    async def _connect(self) -> None:
        assert self._client is not None
        self._lost.clear()
        if self._connected_once:
            # Pooled connections from before the outage are dead: do not trip over them.
            await self._client.connection_pool.disconnect()
        await self._client.ping()
        await self._close_pubsub()
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(CHANNEL)
        self._pubsub = pubsub
        self._listener = asyncio.create_task(self._listen(pubsub), name="cache-invalidations")
        # Subscribed first, so nothing published from here on is missed; then resync
        # (tier operations are allowed for it), and only then report CONNECTED.
        self._resyncing = True
        try:
            await self._on_resync()
        finally:
            self._resyncing = False
        if self._lost.is_set():
            raise SharedTierDown(self.last_error or "lost the connection while resyncing")
        self._set_state(TierState.CONNECTED, "")
        if self._connected_once:
            self.reconnects += 1
            metrics.SHARED_TIER_RECONNECTS.inc()
            log.warning(
                "shared tier recovered: %s", self.endpoint, extra={"replica": self.replica_id}
            )
        else:
            log.info("shared tier connected: %s", self.endpoint, extra={"replica": self.replica_id})
        self._connected_once = True

    async def _close_pubsub(self) -> None:
        if self._listener is not None and self._listener is not asyncio.current_task():
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._listener = None
        if self._pubsub is not None:
            with contextlib.suppress(*_DOWN, RedisError):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _supervise(self) -> None:
        delay = 0.05
        while True:
            if self.state is not TierState.CONNECTED:
                try:
                    await self._connect()
                    delay = 0.05
                except (SharedTierDown, RedisError, *_DOWN) as exc:
                    if not isinstance(exc, SharedTierDown):
                        self.mark_down(exc)
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                    delay = min(delay * 2, self.backoff_max)
                    continue
            await self._lost.wait()
            self._lost.clear()
            if self.state is not TierState.CONNECTED:
                await self._close_pubsub()

    async def _listen(self, pubsub: Any) -> None:
        # A half-open subscription (no RST ever arrives) would silently stop
        # invalidations: ping it when idle and give up on it when even a PONG is late.
        idle_ping = self.ping_interval
        last_seen = time.monotonic()
        pinged = False
        try:
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=idle_ping
                )
                now = time.monotonic()
                if message is None:
                    if now - last_seen > 2 * idle_ping + self.timeout:
                        raise RedisTimeoutError(
                            f"subscription silent for {now - last_seen:.1f}s (PING unanswered)"
                        )
                    if not pinged:
                        await pubsub.ping()
                        pinged = True
                    continue
                last_seen = now
                pinged = False
                if message.get("type") != "message":
                    continue
                msg = parse_invalidation(message["data"])
                if msg is None:
                    log.warning("ignored a malformed invalidation message")
                    continue
                if msg.replica == self.replica_id:
                    continue
                self.received += 1
                metrics.INVALIDATIONS.labels("received").inc()
                try:
                    self._on_message(msg)
                except Exception:  # a bug in one message must not stop invalidations
                    log.exception("failed to apply an invalidation message")
        except _DOWN as exc:
            self.mark_down(exc)

    def _set_state(self, state: TierState, error: str) -> None:
        if state is not self.state:
            self.state = state
            self.state_since = time.time()
        if error:
            self.last_error = error
        metrics.SHARED_TIER_CONNECTED.set(1 if state is TierState.CONNECTED else 0)
        metrics.SHARED_TIER_DEGRADED.set(1 if state is TierState.DEGRADED else 0)

    def mark_down(self, exc: BaseException) -> None:
        """Record a connection failure: DEGRADED (logged once per outage), reconnect later."""
        error = f"{type(exc).__name__}: {exc}"
        if self.state is TierState.CONNECTED:
            log.warning(
                "shared tier degraded, serving from memory only: %s",
                error,
                extra={"endpoint": self.endpoint, "replica": self.replica_id},
            )
        self._set_state(TierState.DEGRADED, error)
        self._lost.set()

    # -- data operations -----------------------------------------------------------

    def _redis(self) -> aioredis.Redis:
        if self._client is None or (self.state is not TierState.CONNECTED and not self._resyncing):
            raise SharedTierDown(self.last_error or "shared tier not connected")
        return self._client

    async def _call(self, op: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except _DOWN as exc:
            metrics.SHARED_TIER_ERRORS.labels(op).inc()
            self.mark_down(exc)
            raise SharedTierDown(str(exc)) from None
        except ResponseError as exc:
            metrics.SHARED_TIER_ERRORS.labels(op).inc()
            if "LOADING" in str(exc) or "BUSY" in str(exc):
                self.mark_down(exc)
                raise SharedTierDown(str(exc)) from None
            raise

    @staticmethod
    def entry_key(namespace: str, key: str) -> str:
        """The Redis key of an entry."""
        return f"{PREFIX}{namespace}:k:{key}"

    @staticmethod
    def tag_key(namespace: str, tag: str) -> str:
        """The Redis key of a tag's key set."""
        return f"{PREFIX}{namespace}:t:{tag}"

    @staticmethod
    def version_key(namespace: str) -> str:
        """The Redis key of a namespace's version counter."""
        return f"{PREFIX}{namespace}:version"

    async def get(self, namespace: str, key: str) -> SharedRecord | None:
        """The entry for `key`, or None."""
        self._redis()
        reply = await self._call(
            "get", self._scripts["get"](keys=[self.entry_key(namespace, key)], args=[])
        )
        return await self._record(namespace, key, reply)

    async def get_many(self, namespace: str, keys: list[str]) -> list[SharedRecord | None]:
        """The entries for `keys` (None where absent), in one pipelined round trip."""
        client = self._redis()
        script = self._scripts["get"]
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                await script(keys=[self.entry_key(namespace, key)], args=[], client=pipe)
            replies = await self._call("get", pipe.execute())
        return [await self._record(namespace, k, r) for k, r in zip(keys, replies, strict=True)]

    async def _record(self, namespace: str, key: str, reply: Any) -> SharedRecord | None:
        if reply is None:
            return None
        try:
            value, raw, codec, prio, tags, ver, expires, pttl = reply
            decoded_tags = tuple(str(t) for t in json.loads(tags))
            ttl_ms = int(pttl) if int(expires) and int(pttl) > 0 else 0
            return SharedRecord(
                bytes(value), int(raw), int(codec), int(prio), decoded_tags, int(ver), ttl_ms
            )
        except (ValueError, TypeError) as exc:
            log.warning(
                "dropped a malformed shared entry: %s",
                exc,
                extra={"namespace": namespace},
            )
            await self._call("delete", self._redis().delete(self.entry_key(namespace, key)))
            return None

    async def set(self, namespace: str, key: str, entry: SharedWrite) -> int:
        """Write an entry (replacing any), broadcast it; returns its version."""
        self._redis()
        ttl_ms, tags = entry.ttl_ms, entry.tags
        ttl = min(ttl_ms, self.ttl_cap_ms) if ttl_ms else self.ttl_cap_ms
        version = await self._call(
            "set",
            self._scripts["set"](
                keys=[
                    self.entry_key(namespace, key),
                    self.version_key(namespace),
                    *(self.tag_key(namespace, t) for t in tags),
                ],
                args=[
                    entry.stored,
                    entry.raw_len,
                    int(entry.codec),
                    entry.priority,
                    json.dumps(list(tags)),
                    ttl,
                    1 if ttl_ms else 0,
                    CHANNEL,
                    self.replica_id,
                    key,
                    namespace,
                ],
            ),
        )
        self._published()
        return int(version)

    async def delete(self, namespace: str, key: str) -> tuple[bool, int]:
        """Remove an entry and broadcast it; returns (existed, version)."""
        self._redis()
        existed, version = await self._call(
            "delete",
            self._scripts["delete"](
                keys=[self.entry_key(namespace, key), self.version_key(namespace)],
                args=[CHANNEL, self.replica_id, namespace, key],
            ),
        )
        self._published()
        return bool(existed), int(version)

    async def publish(self, namespace: str, kind: MutationKind, target: str) -> int:
        """Bump the namespace's version and broadcast a mutation; returns the version."""
        self._redis()
        version = await self._call(
            "publish",
            self._scripts["publish"](
                keys=[self.version_key(namespace)],
                args=[CHANNEL, self.replica_id, namespace, kind, target],
            ),
        )
        self._published()
        return int(version)

    def _published(self) -> None:
        self.published += 1
        metrics.INVALIDATIONS.labels("published").inc()

    async def _unlink(self, keys: list[bytes | str]) -> int:
        removed = 0
        for i in range(0, len(keys), _BATCH):
            batch = keys[i : i + _BATCH]
            removed += int(await self._call("invalidate", self._redis().unlink(*batch)))
        return removed

    async def invalidate_prefix(self, namespace: str, prefix: str) -> tuple[int, int]:
        """Remove every entry whose key starts with `prefix`; returns (removed, version)."""
        client = self._redis()
        pattern = self.entry_key(namespace, glob_escape(prefix)) + "*"
        removed = 0
        cursor: int = 0
        while True:
            cursor, keys = await self._call(
                "invalidate", client.scan(cursor=cursor, match=pattern, count=1000)
            )
            if keys:
                removed += await self._unlink(list(keys))
            if not cursor:
                break
        version = await self.publish(namespace, MutationKind.PREFIX, prefix)
        return removed, version

    async def invalidate_tag(self, namespace: str, tag: str) -> tuple[int, int]:
        """Remove every entry carrying `tag`; returns (removed, version)."""
        client = self._redis()
        tag_key = self.tag_key(namespace, tag)
        members = await self._call("invalidate", client.smembers(tag_key))
        entry_prefix = self.entry_key(namespace, "").encode()
        removed = await self._unlink([entry_prefix + bytes(m) for m in members])
        await self._call("invalidate", client.delete(tag_key))
        version = await self.publish(namespace, MutationKind.TAG, tag)
        return removed, version

    async def save_config(self, namespace: str, config_json: str) -> None:
        """Store a namespace's configuration and tell the other replicas."""
        await self._call("config", self._redis().hset(CONFIGS, namespace, config_json))
        await self.publish(namespace, MutationKind.CONFIG, "")

    async def load_config(self, namespace: str) -> str | None:
        """The stored configuration JSON of one namespace, or None."""
        raw = await self._call("config", self._redis().hget(CONFIGS, namespace))
        return None if raw is None else bytes(raw).decode()

    async def load_configs(self) -> dict[str, str]:
        """Every stored namespace configuration (name → JSON)."""
        raw = await self._call("config", self._redis().hgetall(CONFIGS))
        return {bytes(k).decode(): bytes(v).decode() for k, v in raw.items()}
