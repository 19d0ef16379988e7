"""The route table: routes sorted by specificity, matched segment by segment.

The most specific route wins: an exact host before a wildcard host before no host,
then literal segments before ``{param}`` before a ``/*`` tail, and an exact path
before a prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wasmgrid.common.lru import LruMap
from wasmgrid.gateway.routes.model import MatchResult, Route, RouteMatch

#: Static matches a table remembers (hosts come from clients, so the memo is bounded).
STATIC_MATCH_MEMO = 1024


class RouteTable:
    """Routes sorted by specificity; matching is a linear scan over segments."""

    def __init__(self, routes: Sequence[Route] = ()) -> None:
        self.routes: tuple[Route, ...] = tuple(
            sorted(routes, key=lambda r: (-r.host_rank(), r.path.sort_key()))
        )
        self.by_name = {r.name: r for r in self.routes}
        #: Callers' memo of work derived from a match, keyed as they choose. It lives and
        #: dies with this table, so a reload (a new table) can never serve a stale entry.
        self.memo: LruMap[Any, Any] = LruMap(STATIC_MATCH_MEMO)

    def __len__(self) -> int:
        return len(self.routes)

    def match(self, host: str, method: str, path: str) -> MatchResult:
        """The most specific route for host/method/path."""
        host = normalize_host(host)
        parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
        if parts and parts[-1] == "" and len(parts) > 1:
            parts = parts[:-1]
        if parts == [""]:
            parts = []
        allowed: set[str] = set()
        method = method.upper()
        for route in self.routes:
            if not route.host_matches(host):
                continue
            found = route.path.match(parts)
            if found is None:
                continue
            if route.methods is not None and method not in route.methods:
                if not (method == "OPTIONS" and route.middleware.cors is not None):
                    allowed |= route.methods
                    continue
            params, rest = found
            script = path[: len(path) - len(rest)] if rest else path
            return MatchResult(RouteMatch(route, params, rest, script))
        return MatchResult(None, frozenset(allowed))


def normalize_host(host: str) -> str:
    """A ``Host`` header as routes compare it: lower case, without the port."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
