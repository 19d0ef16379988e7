"""The registry pages: the marketplace (search) and one module's page, and the publish form."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import grpc
from aiohttp import web

from wasmgrid.api.common.v1 import common_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.common.categories import CATEGORIES
from wasmgrid.gateway.problem import Problem, upstream_problem
from wasmgrid.gateway.state import GATEWAY
from wasmgrid.gateway.upstream import timed
from wasmgrid.gateway.web.charts import bar_chart
from wasmgrid.gateway.web.render import html, redirect

T = TypeVar("T")

PAGE_SIZE = 20
#: The marketplace's sort choices, by the name the page's address uses.
SORTS = {
    "relevance": mp.SEARCH_SORT_RELEVANCE,
    "downloads": mp.SEARCH_SORT_DOWNLOADS,
    "rating": mp.SEARCH_SORT_RATING,
    "newest": mp.SEARCH_SORT_RECENT,
}
KINDS = {mp.MODULE_KIND_COMMAND: "command", mp.MODULE_KIND_REACTOR: "reactor"}
#: Exports a person cannot call from the try-it form: the WASI entry points.
_ENTRY_POINTS = frozenset({"_start", "_initialize"})


async def call(method: str, pending: Awaitable[T]) -> T:
    """A marketplace call, timed; its failure becomes the problem naming the marketplace."""
    try:
        return await timed("marketplace", method, pending)
    except grpc.aio.AioRpcError as err:
        raise upstream_problem(err, "marketplace") from None


def safe_link(url: str) -> str | None:
    """`url` when it is http(s) (a ``javascript:`` link survives escaping), else None."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


# ------------------------------------------------------------------ the marketplace


@dataclass(frozen=True)
class Search:
    """The search form's values, as read from the page's address."""

    q: str
    category: str
    tag: str
    sort: str
    cursor: str

    def href(self, **changes: str) -> str:
        """The address of this search with `changes` (empty values left out)."""
        values = {
            "q": self.q,
            "category": self.category,
            "tag": self.tag,
            "sort": self.sort,
            "cursor": "",
        }
        values.update(changes)
        query = urlencode({k: v for k, v in values.items() if v})
        return "/?" + query if query else "/"


def read_search(request: web.Request) -> Search:
    """The search from the query string; a sort that is not offered is a 400 naming it."""
    q = request.query
    sort = q.get("sort", "")
    if sort and sort not in SORTS:
        raise Problem(400, f"sort {sort[:32]!r} is not one of {', '.join(SORTS)}")
    return Search(
        q=q.get("q", "")[:200],
        category=q.get("category", ""),
        tag=q.get("tag", ""),
        sort=sort,
        cursor=q.get("cursor", ""),
    )


async def marketplace(request: web.Request) -> web.Response:
    """GET /: search the registry; the address is the search, so it can be shared."""
    gw = request.app[GATEWAY]
    search = read_search(request)
    if any(not value for value in request.query.values()):
        # The form sends its empty fields too: answer with the short, shareable address.
        return redirect(search.href(cursor=search.cursor))
    req = mp.SearchModulesRequest(
        query=search.q,
        category=search.category,
        tag=search.tag,
        sort=SORTS.get(search.sort, mp.SEARCH_SORT_UNSPECIFIED),
        page=common_pb2.PageRequest(limit=PAGE_SIZE, cursor=search.cursor),
    )
    error = ""
    status = 200
    modules: list[Any] = []
    next_href = ""
    try:
        resp = await call("SearchModules", gw.registry.stub.SearchModules(req))
        modules = [
            {
                "name": m.name,
                "href": "/modules/" + m.name,
                "latest_version": m.latest_version,
                "description": m.description,
                "license": m.license,
                "category": m.category,
                "tags": [(t, search.href(tag=t)) for t in m.tags],
                "kind": KINDS.get(m.kind, ""),
                "downloads": m.downloads,
                "rating_average": m.rating_average,
                "rating_count": m.rating_count,
                "updated_at": m.updated_at,
            }
            for m in resp.modules
        ]
        if resp.page.next_cursor:
            next_href = search.href(cursor=resp.page.next_cursor)
    except Problem as problem:
        if problem.status >= 500:
            raise
        error, status = problem.detail, problem.status  # a bad filter: say so on the page
    return html(
        "marketplace.html",
        status=status,
        nav="market",
        search=search,
        sorts=list(SORTS),
        categories=CATEGORIES,
        modules=modules,
        next_href=next_href,
        first_href=search.href() if search.cursor else "",
        error=error,
    )


# ------------------------------------------------------------------ one module


def usage(base: str, name: str, version: str, kind: str, function: str) -> dict[str, str]:
    """How to call the module from curl, the CLI and the Python SDK, values filled in."""
    ref = f"{name}@{version}"
    url = shlex.quote(base)
    if kind == "reactor":
        fn = function or "FUNCTION"
        return {
            "curl": (
                f"curl -s -X POST -H 'content-type: application/json' \\\n"
                f"     --data '{{\"args\":[1, 2]}}' {base}/v1/call/{ref}/{shlex.quote(fn)}"
            ),
            "cli": f"WASMGRID_URL={url} wasmgrid call {ref} {shlex.quote(fn)} 1 2",
            "python": (
                "from wasmgrid.client import Client\n\n"
                f"async with Client({base!r}) as wg:\n"
                f"    print((await wg.call({ref!r}, {fn!r}, 1, 2)).results)"
            ),
        }
    return {
        "curl": f"curl -s -X POST --data 'hello' {base}/v1/run/{ref}",
        "cli": f"echo -n hello | WASMGRID_URL={url} wasmgrid run {ref} --input -",
        "python": (
            "from wasmgrid.client import Client\n\n"
            f"async with Client({base!r}) as wg:\n"
            f"    print((await wg.run({ref!r}, b'hello')).text)"
        ),
    }


def _report(v: mp.ModuleVersion) -> dict[str, Any]:
    report = v.validation
    return {
        "valid": report.valid,
        "validator": report.validator,
        "kind": KINDS.get(report.kind or v.kind, ""),
        "language": report.language,
        "toolchain": report.toolchain,
        "features": list(report.features),
        "imports": [(i.module, i.name, i.kind) for i in report.imports],
        "exports": [(e.name, e.kind) for e in report.exports],
        "memories": [
            {
                "min": m.min_pages,
                "max": m.max_pages if m.has_max else None,
                "flags": [
                    f
                    for f, on in (
                        ("shared", m.shared),
                        ("memory64", m.memory64),
                        ("imported", m.imported),
                    )
                    if on
                ],
            }
            for m in report.memories
        ],
        "findings": [
            (mp.Severity.Name(f.severity).removeprefix("SEVERITY_").lower(), f.code, f.message)
            for f in report.findings
        ],
    }


async def module_page(request: web.Request) -> web.Response:
    """GET /modules/{ns}/{name}[?version=]: versions, report, ratings, downloads, usage."""
    gw = request.app[GATEWAY]
    stub = gw.registry.stub
    name = f"{request.match_info['ns']}/{request.match_info['name']}"
    got, versions, ratings, stats = await asyncio.gather(
        call("GetModule", stub.GetModule(mp.GetModuleRequest(name=name))),
        call(
            "ListVersions",
            stub.ListVersions(
                mp.ListVersionsRequest(name=name, page=common_pb2.PageRequest(limit=100))
            ),
        ),
        call(
            "ListRatings",
            stub.ListRatings(
                mp.ListRatingsRequest(name=name, page=common_pb2.PageRequest(limit=10))
            ),
        ),
        call("GetDownloadStats", stub.GetDownloadStats(mp.GetDownloadStatsRequest(name=name))),
    )
    module = got.module
    wanted = request.query.get("version") or module.latest_version
    got_version = await call(
        "GetVersion", stub.GetVersion(mp.GetVersionRequest(name=module.name, version=wanted))
    )
    version = got_version.version
    report = _report(version)
    functions = [n for n, k in report["exports"] if k == "func" and n not in _ENTRY_POINTS]
    kind = report["kind"]
    base = f"{request.scheme}://{request.host}"
    chart = bar_chart(
        [(d.date, (d.user_downloads, d.runtime_fetches)) for d in stats.daily],
        ("downloads", "runtime fetches"),
        "Downloads",
    )
    return html(
        "module.html",
        nav="market",
        module=module,
        kind=kind,
        homepage=safe_link(module.homepage),
        repository=safe_link(module.repository),
        version=version,
        report=report,
        versions=[
            {
                "version": v.version,
                "href": f"/modules/{module.name}?{urlencode({'version': v.version})}",
                "published_at": v.published_at,
                "published_by": v.published_by,
                "size": v.size_bytes,
                "downloads": v.downloads,
                "yanked": v.yanked,
                "yank_reason": v.yank_reason,
                "prerelease": v.prerelease,
                "current": v.version == version.version,
            }
            for v in versions.versions
        ],
        more_versions=bool(versions.page.next_cursor),
        ratings=ratings,
        histogram=list(
            zip(range(5, 0, -1), reversed(list(ratings.summary.histogram)), strict=False)
        ),
        stats=stats,
        chart=chart,
        usage=usage(base, module.name, version.version, kind, functions[0] if functions else ""),
        functions=functions,
        run_path=f"/v1/run/{module.name}@{version.version}",
        call_path=f"/v1/call/{module.name}@{version.version}/",
    )


# ------------------------------------------------------------------ publish


async def publish_page(request: web.Request) -> web.Response:
    """GET /publish: the form; the upload itself goes to the API from the browser."""
    gw = request.app[GATEWAY]
    return html(
        "publish.html",
        nav="publish",
        categories=CATEGORIES,
        max_bytes=gw.settings.max_publish_bytes,
    )
