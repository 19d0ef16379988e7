"""An asyncio client for the gateway's HTTP API (the contract in /openapi.json)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

Json = dict[str, Any]


class WasmgridError(Exception):
    """The gateway answered with an RFC 9457 problem (or a non-JSON error)."""

    def __init__(self, status: int, title: str, detail: str, problem: Json) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.problem = problem


@dataclass(frozen=True)
class RunResult:
    """A WAGI invoke's HTTP response."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class CallResult:
    """A function call's results and what it cost."""

    results: list[Any]
    types: list[str] = field(default_factory=list)
    fuel_consumed: int = 0
    wall_time_us: int = 0
    raw: Json = field(default_factory=dict)


def _module_path(module: str) -> str:
    ns, sep, rest = module.partition("/")
    if not sep or not ns or not rest:
        raise ValueError(f"module {module!r} is not namespace/name[@requirement]")
    return f"{quote(ns, safe='')}/{quote(rest, safe='@^~=<>,*.')}"


class Client:
    """``async with Client("http://127.0.0.1:8080", token=…) as wg: await wg.run(…)``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the underlying HTTP connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Json | None = None,
        data: bytes | None = None,
        params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, Mapping[str, str], bytes]:
        hdrs = dict(headers or {})
        if auth and self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        async with self._http().request(
            method, self.base_url + path, data=data, params=params, headers=hdrs
        ) as resp:
            return resp.status, dict(resp.headers), await resp.read()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        status, headers, body = await self._request(method, path, **kwargs)
        if status >= 400:
            raise _problem(status, headers, body)
        return dict(json.loads(body)) if body else {}

    # -- invoking modules ------------------------------------------------------------------

    async def run(
        self,
        module: str,
        body: bytes = b"",
        *,
        path: str = "",
        method: str = "POST",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RunResult:
        """WAGI invoke of `module` (``ns/name[@req]``): body on stdin, response from stdout."""
        suffix = "/" + path.lstrip("/") if path else ""
        status, hdrs, data = await self._request(
            method,
            f"/v1/run/{_module_path(module)}{suffix}",
            data=body,
            params=params,
            headers=headers,
        )
        if status >= 400 and hdrs.get("Content-Type", "").startswith("application/problem+json"):
            raise _problem(status, hdrs, data)
        return RunResult(status, hdrs, data)

    async def call(self, module: str, function: str, *args: int | float) -> CallResult:
        """Call an exported function with numeric arguments; returns its results."""
        doc = await self._json(
            "POST",
            f"/v1/call/{_module_path(module)}/{quote(function, safe='')}",
            json_body={"args": list(args)},
        )
        return CallResult(
            results=list(doc.get("results", [])),
            types=list(doc.get("types", [])),
            fuel_consumed=int(doc.get("fuel_consumed", 0)),
            wall_time_us=int(doc.get("wall_time_us", 0)),
            raw=doc,
        )

    # -- the registry ----------------------------------------------------------------------

    async def publish(
        self,
        name: str,
        version: str,
        wasm: bytes,
        *,
        description: str = "",
        license: str = "",
        category: str = "",
        tags: Sequence[str] = (),
        homepage: str = "",
        repository: str = "",
    ) -> Json:
        """Publish `wasm` as ``name@version`` (needs a token with the publish scope)."""
        fields = {
            "description": description,
            "license": license,
            "category": category,
            "homepage": homepage,
            "repository": repository,
        }
        params = [(k, v) for k, v in fields.items() if v] + [("tag", t) for t in tags]
        return await self._json(
            "PUT",
            f"/v1/modules/{_module_path(name)}/{quote(version, safe='')}",
            data=wasm,
            params=params,
            headers={"Content-Type": "application/wasm"},
        )

    async def search(self, q: str = "", **filters: str | int) -> Json:
        """Search modules (filters: category, tag, license, kind, owner, sort, limit, cursor)."""
        params = {"q": q, **{k: str(v) for k, v in filters.items()}}
        return await self._json("GET", "/v1/modules", params=params)

    async def module(self, name: str) -> Json:
        """A module's registry entry."""
        return await self._json("GET", f"/v1/modules/{_module_path(name)}")

    async def versions(self, name: str) -> Json:
        """Every version of a module."""
        return await self._json("GET", f"/v1/modules/{_module_path(name)}/versions")

    async def download(self, name: str, version: str) -> bytes:
        """A version's module bytes."""
        path = f"/v1/modules/{_module_path(name)}/versions/{quote(version, safe='')}/download"
        status, headers, body = await self._request("GET", path)
        if status >= 400:
            raise _problem(status, headers, body)
        return body

    async def yank(self, name: str, version: str, reason: str = "") -> Json:
        """Yank a version (it still downloads and runs when pinned exactly)."""
        path = f"/v1/modules/{_module_path(name)}/versions/{quote(version, safe='')}/yank"
        return await self._json("POST", path, json_body={"reason": reason})

    async def unyank(self, name: str, version: str) -> Json:
        """Undo a yank."""
        path = f"/v1/modules/{_module_path(name)}/versions/{quote(version, safe='')}/yank"
        return await self._json("DELETE", path)

    async def rate(self, name: str, stars: int, review: str = "") -> Json:
        """Rate a module 1–5 stars (one rating per user; a new one replaces the old)."""
        return await self._json(
            "PUT",
            f"/v1/modules/{_module_path(name)}/rating",
            json_body={"stars": stars, "review": review},
        )

    async def stats(self, name: str, days: int = 30) -> Json:
        """Download totals, per version, and a daily series."""
        return await self._json(
            "GET", f"/v1/modules/{_module_path(name)}/stats", params={"days": str(days)}
        )

    # -- identity --------------------------------------------------------------------------

    async def create_user(self, username: str, role: str = "") -> Json:
        """Create a user; the response's ``secret`` is its first API token, shown once."""
        body: Json = {"username": username}
        if role:
            body["role"] = role
        return await self._json("POST", "/v1/users", json_body=body)

    async def create_token(self, name: str, scopes: Sequence[str], ttl_seconds: int = 0) -> Json:
        """A new API token for the caller; ``secret`` is shown once."""
        return await self._json(
            "POST",
            "/v1/tokens",
            json_body={"name": name, "scopes": list(scopes), "ttl_seconds": ttl_seconds},
        )

    async def whoami(self) -> Json:
        """The user behind the token."""
        return await self._json("GET", "/v1/whoami")


def _problem(status: int, headers: Mapping[str, str], body: bytes) -> WasmgridError:
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    return WasmgridError(
        status,
        str(doc.get("title", headers.get("Reason", "error"))),
        str(doc.get("detail", body[:200].decode("utf-8", errors="replace"))),
        doc,
    )
