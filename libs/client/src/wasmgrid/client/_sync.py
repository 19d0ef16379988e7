"""A blocking facade over :class:`Client` for scripts that do not run an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from wasmgrid.client._client import DEFAULT_URL, Client

P = ParamSpec("P")
R = TypeVar("R")


def _blocking(
    method: Callable[Concatenate[Client, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SyncClient, P], R]:
    def run(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._wait(method(self.client, *args, **kwargs))

    run.__name__ = method.__name__
    run.__qualname__ = f"SyncClient.{method.__name__}"
    run.__doc__ = method.__doc__
    return run


class SyncClient:
    """``with SyncClient(url, token=…) as wg: wg.call("examples/mathfn", "fib", 10)``.

    Every method of :class:`Client`, blocking. It runs its own event loop, so it
    cannot be used from code that is already inside a running loop (use
    :class:`Client` there).
    """

    def __init__(self, base_url: str = DEFAULT_URL, **options: Any) -> None:
        self._runner = asyncio.Runner()
        self.client = Client(base_url, **options)

    def _wait(self, awaitable: Awaitable[R]) -> R:
        async def main() -> R:
            return await awaitable

        return self._runner.run(main())

    def close(self) -> None:
        """Close the connections and the event loop."""
        self._wait(self.client.close())
        self._runner.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    run = _blocking(Client.run)
    call = _blocking(Client.call)
    create_user = _blocking(Client.create_user)
    whoami = _blocking(Client.whoami)
    users = _blocking(Client.users)
    set_role = _blocking(Client.set_role)
    create_token = _blocking(Client.create_token)
    tokens = _blocking(Client.tokens)
    revoke_token = _blocking(Client.revoke_token)
    publish = _blocking(Client.publish)
    search = _blocking(Client.search)
    module = _blocking(Client.module)
    versions = _blocking(Client.versions)
    all_versions = _blocking(Client.all_versions)
    version = _blocking(Client.version)
    download = _blocking(Client.download)
    download_to = _blocking(Client.download_to)
    yank = _blocking(Client.yank)
    unyank = _blocking(Client.unyank)
    rate = _blocking(Client.rate)
    ratings = _blocking(Client.ratings)
    stats = _blocking(Client.stats)
    health = _blocking(Client.health)
    alerts = _blocking(Client.alerts)
    trace = _blocking(Client.trace)
    routes = _blocking(Client.routes)
    cache_namespaces = _blocking(Client.cache_namespaces)
    cache_stats = _blocking(Client.cache_stats)
    audit = _blocking(Client.audit)
    openapi = _blocking(Client.openapi)
