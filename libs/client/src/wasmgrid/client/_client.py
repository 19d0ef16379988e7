"""The asyncio client for the gateway's HTTP API (the contract is its /openapi.json)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from wasmgrid.client._assets import assets_file
from wasmgrid.client._convert import from_json
from wasmgrid.client._errors import IntegrityError, ProblemError, UnreachableError
from wasmgrid.client._wire import (
    CHUNK,
    Json,
    Progress,
    announced_digest,
    audit_params,
    bytes_chunks,
    file_chunks,
    file_sha256,
    module_path,
    name_path,
    next_cursor,
    page_params,
    problem_from_response,
    seg,
)
from wasmgrid.client.models import (
    AlertList,
    AuditPage,
    CacheNamespaces,
    CacheStats,
    CallResult,
    CreatedToken,
    CreatedUser,
    Download,
    DownloadStats,
    FleetHealth,
    Module,
    ModuleVersion,
    RatedModule,
    RatingsPage,
    RoleChange,
    RouteList,
    RunResult,
    SearchPage,
    Token,
    Trace,
    TypedArg,
    UserPage,
    VersionPage,
    WhoAmI,
)

T = TypeVar("T")
Query = Mapping[str, str] | Sequence[tuple[str, str]]

DEFAULT_URL = "http://127.0.0.1:8080"

try:
    _VERSION = version("wasmgrid-client")
except PackageNotFoundError:  # running from a source tree
    _VERSION = "0"
USER_AGENT = f"wasmgrid-client/{_VERSION}"


class Client:
    """An asyncio client of one wasmgrid gateway.

    ``async with Client("http://127.0.0.1:8080", token="wgt_…") as wg:`` then await
    its methods. Refusals raise :class:`ProblemError` with the server's RFC 9457
    fields; a server that cannot be reached raises :class:`UnreachableError`.
    `timeout` bounds connecting and each wait for data, not a whole transfer.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token or None
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=timeout
        )
        self._user_agent = user_agent
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
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": self._user_agent}
            )
        return self._session

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _unreachable(self, exc: BaseException) -> UnreachableError:
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return UnreachableError(self.base_url, "no answer in time")
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, aiohttp.ClientConnectorError):
            errno = exc.os_error.errno
            reason = os.strerror(errno) if errno else exc.strerror or reason
        return UnreachableError(self.base_url, reason)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Json | None = None,
        data: Any = None,
        params: Query | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """One request, read whole; transport failures become :class:`UnreachableError`."""
        hdrs = self._headers(headers)
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            async with self._http().request(
                method, self.base_url + path, data=data, params=params, headers=hdrs
            ) as resp:
                return resp.status, resp.headers, await resp.read()
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise self._unreachable(exc) from None

    async def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        status, headers, body = await self._send(method, path, **kwargs)
        if status >= 400:
            raise problem_from_response(status, headers, body)
        doc = json.loads(body) if body else {}
        if not isinstance(doc, dict):
            raise ProblemError(status, "Unexpected answer", f"{path} answered {type(doc).__name__}")
        return doc

    async def _model(self, cls: type[T], method: str, path: str, **kwargs: Any) -> T:
        return from_json(cls, await self._json(method, path, **kwargs))

    # ------------------------------------------------------------------ invoking

    async def run(  # noqa: PLR0913 - keyword-only parts of the HTTP request
        self,
        module: str,
        body: bytes = b"",
        *,
        path: str = "",
        method: str = "POST",
        query: Query | None = None,
        args: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> RunResult:
        """WAGI invoke of ``ns/name[@req]``: `body` on stdin, the HTTP response it wrote.

        `query` reaches the module as ``QUERY_STRING``; `args` become its argv, sent as
        a search-string query (RFC 3875 §4.4: ``?a+b%20c``), so the two exclude each
        other. A response the module itself wrote is returned whatever its status; a
        failure of the module or the platform raises :class:`ProblemError` (for a
        module that failed, ``outcome``/``exit_code`` say how).
        """
        suffix = "/" + path.lstrip("/") if path else ""
        if args:
            if query:
                raise ValueError("run() takes query or args, not both: args are the query")
            if not all(args):
                raise ValueError("an empty argument cannot be sent as a URL's command line")
            suffix += "?" + "+".join(quote(arg, safe="") for arg in args)
        status, hdrs, data = await self._send(
            method,
            f"/v1/run/{module_path(module)}{suffix}",
            data=body or None,  # no body, no Content-Type: a GET stays a plain GET
            params=query,
            headers=headers,
        )
        answered_by = hdrs.get("X-Wasmgrid-Module", "")
        if status >= 400 and not answered_by:
            raise problem_from_response(status, hdrs, data)
        return RunResult(
            status=status,
            headers=CIMultiDict(hdrs),
            body=data,
            module=answered_by,
            cache=hdrs.get("X-Cache", ""),
            trace_id=hdrs.get("X-Trace-Id", ""),
        )

    async def call(self, module: str, function: str, *args: Any) -> CallResult:
        """Call an exported function.

        A core module's arguments are numbers (or :class:`TypedArg`); untyped numbers take
        the types of its signature. A component's function is named as WIT names it
        (``"analyse"``, ``"wasmgrid:textstats/echo@0.1.0#echo-bool"``) and its arguments
        and results are JSON values mapped to its WIT types (a record as a dict, a variant
        as ``{"case": payload}``, an option as None or the value, …: the runtime README
        has the table).
        """
        payload = [a.to_json() if isinstance(a, TypedArg) else a for a in args]
        doc = await self._json(
            "POST",
            f"/v1/call/{module_path(module)}/{seg(function)}",
            json_body={"args": payload},
        )
        types = tuple(str(t) for t in doc.get("types", ()))
        results: tuple[Any, ...]
        if "types" in doc:
            results = tuple(
                float(v) if t in ("f32", "f64") else int(v)
                for v, t in zip(doc.get("results", ()), types, strict=False)
            )
        else:  # a component: JSON values as its WIT types map to them
            results = tuple(doc.get("results", ()))
        return CallResult(
            module=str(doc.get("module", "")),
            version=str(doc.get("version", "")),
            digest=str(doc.get("digest", "")),
            function=str(doc.get("function", function)),
            results=results,
            types=types,
            fuel_consumed=int(doc.get("fuel_consumed", 0)),
            wall_time_us=int(doc.get("wall_time_us", 0)),
        )

    # ------------------------------------------------------------------ identity

    async def create_user(
        self, username: str, *, role: str | None = None, token_name: str | None = None
    ) -> CreatedUser:
        """Create a user (role ``user``, ``publisher`` — the default — or ``admin``) and
        its first token, whose ``secret`` is shown only in this answer."""
        body: Json = {"username": username}
        if role:
            body["role"] = role
        if token_name:
            body["token_name"] = token_name
        return await self._model(CreatedUser, "POST", "/v1/users", json_body=body)

    async def users(
        self, *, role: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> UserPage:
        """A page of users by username, of `role` only when given (an admin token)."""
        params = ([("role", role)] if role else []) + page_params(limit, cursor)
        doc = await self._json("GET", "/v1/users", params=params)
        return UserPage(users=from_json(UserPage, doc).users, next_cursor=next_cursor(doc))

    async def set_role(self, username: str, role: str, *, issue_token: bool = False) -> RoleChange:
        """Give a user the role ``user``, ``publisher`` or ``admin`` (an admin token); with
        `issue_token`, also a token holding every scope of that role, whose ``secret`` is
        shown only in this answer. The last admin and the bootstrap admin stay admins."""
        body: Json = {"role": role, "issue_token": issue_token}
        return await self._model(
            RoleChange, "PUT", f"/v1/users/{seg(username)}/role", json_body=body
        )

    async def whoami(self) -> WhoAmI:
        """The user and token behind this client's token."""
        return await self._model(WhoAmI, "GET", "/v1/whoami")

    async def create_token(
        self, name: str, scopes: Iterable[str], *, ttl_seconds: int = 0
    ) -> CreatedToken:
        """A new token for the caller (scopes among ``publish yank rate admin``; ttl 0 =
        never expires); its ``secret`` is shown only in this answer."""
        body = {"name": name, "scopes": list(scopes), "ttl_seconds": ttl_seconds}
        return await self._model(CreatedToken, "POST", "/v1/tokens", json_body=body)

    async def tokens(self, *, include_inactive: bool = False) -> tuple[Token, ...]:
        """The caller's tokens, newest first (revoked and expired ones on request)."""
        params = {"include_inactive": "true"} if include_inactive else None
        doc = await self._json("GET", "/v1/tokens", params=params)
        return tuple(from_json(Token, t) for t in doc.get("tokens", ()))

    async def revoke_token(self, token_id: str) -> Token:
        """Revoke a token by id (idempotent)."""
        doc = await self._json("DELETE", f"/v1/tokens/{seg(token_id)}")
        return from_json(Token, doc.get("token", {}))

    # ------------------------------------------------------------------ the registry

    async def publish(  # noqa: PLR0913 - keyword-only publish metadata fields
        self,
        name: str,
        version: str,
        module: bytes | os.PathLike[str] | str,
        *,
        description: str = "",
        license: str = "",
        category: str = "",
        tags: Sequence[str] = (),
        homepage: str = "",
        repository: str = "",
        progress: Progress | None = None,
        assets: os.PathLike[str] | str | None = None,
        assets_mount: str = "",
    ) -> ModuleVersion:
        """Publish `module` (bytes or a file path) as ``name@version``.

        The bytes stream from disk with their SHA-256, which the registry checks;
        `progress` is called as bytes go out (module and assets together). `assets` is
        the version's read-only files: a directory (packed as tar.gz first) or a tar,
        tar.gz, tar.zst or zip archive; the guest sees them at `assets_mount` (default
        ``/assets``). Returns the stored version with its validation report.
        """
        metadata: Json = {"tags": list(tags)}
        for key, value in (
            ("description", description),
            ("license", license),
            ("category", category),
            ("homepage", homepage),
            ("repository", repository),
            ("assets_mount", assets_mount),
        ):
            if value:
                metadata[key] = value
        with contextlib.ExitStack() as stack:
            archive = None if assets is None else stack.enter_context(assets_file(assets))
            extra = 0 if archive is None else archive.stat().st_size
            if isinstance(module, bytes):
                metadata["sha256"] = hashlib.sha256(module).hexdigest()
                size = len(module)
                chunks = bytes_chunks(module, progress, total=size + extra)
            else:
                path = Path(module)
                metadata["sha256"] = await asyncio.to_thread(file_sha256, path)
                size = (await asyncio.to_thread(path.stat)).st_size
                chunks = file_chunks(path, size, progress, total=size + extra)
            with aiohttp.MultipartWriter("form-data") as form:
                part = form.append_json(metadata)
                part.set_content_disposition("form-data", name="metadata")
                part = form.append(chunks, {"Content-Type": "application/wasm"})
                part.set_content_disposition("form-data", name="module", filename="module.wasm")
                if archive is not None:
                    part = form.append(
                        file_chunks(archive, extra, progress, before=size, total=size + extra),
                        {"Content-Type": "application/octet-stream"},
                    )
                    part.set_content_disposition("form-data", name="assets", filename=archive.name)
                doc = await self._json(
                    "PUT", f"/v1/modules/{name_path(name)}/{seg(version)}", data=form
                )
        return from_json(ModuleVersion, doc.get("version", {}))

    async def search(  # noqa: PLR0913 - keyword-only search filters (the API's query)
        self,
        query: str = "",
        *,
        category: str | None = None,
        tag: str | None = None,
        license: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        namespace: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SearchPage:
        """Search modules; `sort` is ``relevance``, ``downloads``, ``rating``, ``recent`` or
        ``name``; `kind` is ``command`` or ``reactor``; limit at most 100."""
        params = [("q", query)] if query else []
        for key, value in (
            ("category", category),
            ("tag", tag),
            ("license", license),
            ("kind", kind),
            ("owner", owner),
            ("namespace", namespace),
            ("sort", sort),
        ):
            if value:
                params.append((key, value))
        doc = await self._json("GET", "/v1/modules", params=params + page_params(limit, cursor))
        return SearchPage(modules=from_json(SearchPage, doc).modules, next_cursor=next_cursor(doc))

    async def module(self, name: str) -> Module:
        """A module's registry entry (``ns/name``)."""
        doc = await self._json("GET", f"/v1/modules/{name_path(name)}")
        return from_json(Module, doc.get("module", {}))

    async def versions(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> VersionPage:
        """A page of a module's versions, highest precedence first (limit at most 1000)."""
        doc = await self._json(
            "GET", f"/v1/modules/{name_path(name)}/versions", params=page_params(limit, cursor)
        )
        return VersionPage(
            versions=from_json(VersionPage, doc).versions, next_cursor=next_cursor(doc)
        )

    async def all_versions(self, name: str) -> tuple[ModuleVersion, ...]:
        """Every version of a module, following the pages."""
        found: list[ModuleVersion] = []
        cursor: str | None = None
        while True:
            page = await self.versions(name, limit=1000, cursor=cursor)
            found.extend(page.versions)
            if not page.next_cursor:
                return tuple(found)
            cursor = page.next_cursor

    async def version(self, name: str, version: str) -> ModuleVersion:
        """One exact version with its validation report."""
        doc = await self._json("GET", f"/v1/modules/{name_path(name)}/versions/{seg(version)}")
        return from_json(ModuleVersion, doc.get("version", {}))

    async def download(self, name: str, version: str) -> Download:
        """A version's bytes, checked against the SHA-256 the server announced."""
        parts: list[bytes] = []
        info = await self._download(name, version, parts.append, None)
        data = b"".join(parts)
        return Download(
            name=info.name,
            version=info.version,
            digest=info.digest,
            size_bytes=len(data),
            data=data,
        )

    async def download_to(
        self,
        name: str,
        version: str,
        path: os.PathLike[str] | str,
        *,
        progress: Progress | None = None,
    ) -> Download:
        """Stream a version to `path`; it appears only once its SHA-256 checked out."""
        target = Path(path)
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as f:
                info = await self._download(name, version, f.write, progress)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return info

    async def _download(
        self, name: str, version: str, sink: Callable[[bytes], Any], progress: Progress | None
    ) -> Download:
        path = f"/v1/modules/{name_path(name)}/versions/{seg(version)}/download"
        url = self.base_url + path
        hasher = hashlib.sha256()
        done = total = 0
        announced = ""
        try:
            async with self._http().get(url, headers=self._headers(None)) as resp:
                if resp.status >= 400:
                    raise problem_from_response(resp.status, resp.headers, await resp.read())
                announced = announced_digest(resp.headers)
                total = resp.content_length or 0
                async for chunk in resp.content.iter_chunked(CHUNK):
                    hasher.update(chunk)
                    sink(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except aiohttp.ClientPayloadError as exc:
            raise IntegrityError(
                f"download of {name}@{version} broke off after {done} bytes: {exc}"
            ) from None
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise self._unreachable(exc) from None
        actual = hasher.hexdigest()
        if total and done != total:
            raise IntegrityError(f"download of {name}@{version}: {done} of {total} bytes arrived")
        if not announced:
            raise IntegrityError(f"download of {name}@{version}: the server announced no digest")
        if actual != announced:
            raise IntegrityError(
                f"download of {name}@{version}: sha256 {actual} does not match the"
                f" announced {announced}"
            )
        return Download(name=name, version=version, digest=actual, size_bytes=done)

    async def yank(self, name: str, version: str, reason: str) -> ModuleVersion:
        """Yank a version (requirements skip it; it still downloads and runs when pinned)."""
        doc = await self._json(
            "POST",
            f"/v1/modules/{name_path(name)}/versions/{seg(version)}/yank",
            json_body={"reason": reason},
        )
        return from_json(ModuleVersion, doc.get("version", {}))

    async def unyank(self, name: str, version: str) -> ModuleVersion:
        """Undo a yank."""
        doc = await self._json(
            "DELETE", f"/v1/modules/{name_path(name)}/versions/{seg(version)}/yank"
        )
        return from_json(ModuleVersion, doc.get("version", {}))

    async def rate(self, name: str, stars: int, review: str = "") -> RatedModule:
        """Rate a module 1..5 stars (one rating per user; a new one replaces the old)."""
        body: Json = {"stars": stars}
        if review:
            body["review"] = review
        return await self._model(
            RatedModule, "PUT", f"/v1/modules/{name_path(name)}/rating", json_body=body
        )

    async def ratings(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> RatingsPage:
        """A page of a module's ratings, newest first, with the aggregate."""
        doc = await self._json(
            "GET", f"/v1/modules/{name_path(name)}/ratings", params=page_params(limit, cursor)
        )
        page = from_json(RatingsPage, doc)
        return RatingsPage(ratings=page.ratings, summary=page.summary, next_cursor=next_cursor(doc))

    async def stats(self, name: str, *, days: int | None = None) -> DownloadStats:
        """Download totals, per version and per day over the last `days` (default 30)."""
        params = {"days": str(days)} if days is not None else None
        return await self._model(
            DownloadStats, "GET", f"/v1/modules/{name_path(name)}/stats", params=params
        )

    # ------------------------------------------------------------------ operations

    async def health(
        self, *, service: str | None = None, changes: int | None = None
    ) -> FleetHealth:
        """Fleet health from the monitor plus the gateway's runtime balancing."""
        params = []
        if service:
            params.append(("service", service))
        if changes is not None:
            params.append(("changes", str(changes)))
        return await self._model(FleetHealth, "GET", "/v1/health", params=params)

    async def alerts(
        self,
        *,
        state: str | None = None,
        rule: str | None = None,
        include_silenced: bool = False,
        limit: int | None = None,
    ) -> AlertList:
        """Alerts (``pending``, ``firing``, ``resolved``), firing first."""
        params = []
        if state:
            params.append(("state", state))
        if rule:
            params.append(("rule", rule))
        if include_silenced:
            params.append(("include_silenced", "true"))
        if limit is not None:
            params.append(("limit", str(limit)))
        return await self._model(AlertList, "GET", "/v1/alerts", params=params)

    async def trace(self, trace_id: str) -> Trace:
        """One trace (32 hex digits) with every span the monitor received."""
        return await self._model(Trace, "GET", f"/v1/traces/{seg(trace_id)}")

    async def routes(self) -> RouteList:
        """The gateway's active custom routes."""
        return await self._model(RouteList, "GET", "/v1/routes")

    async def cache_namespaces(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> CacheNamespaces:
        """A page of cache namespaces with their stats."""
        doc = await self._json("GET", "/v1/cache/namespaces", params=page_params(limit, cursor))
        page = from_json(CacheNamespaces, doc)
        return CacheNamespaces(
            namespaces=page.namespaces, shared_tier=page.shared_tier, next_cursor=next_cursor(doc)
        )

    async def cache_stats(self, namespace: str) -> CacheStats:
        """One cache namespace's stats."""
        return await self._model(CacheStats, "GET", f"/v1/cache/namespaces/{seg(namespace)}/stats")

    async def audit(  # noqa: PLR0913 - keyword-only filters (the API's query)
        self,
        *,
        namespace: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AuditPage:
        """A page of the audit log, newest first (an admin token); filters combine."""
        params = audit_params(namespace, actor, action, since, until) + page_params(limit, cursor)
        doc = await self._json("GET", "/v1/audit", params=params)
        return AuditPage(events=from_json(AuditPage, doc).events, next_cursor=next_cursor(doc))

    async def openapi(self) -> Json:
        """The gateway's OpenAPI 3.1 document."""
        return await self._json("GET", "/openapi.json")
