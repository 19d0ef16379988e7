"""The gateway's web pages: the marketplace, module pages, publishing and the status board.

Server-rendered HTML (Jinja2, autoescaped) with a little progressive JavaScript of our
own, all served from this package: the pages work with no internet. Data comes from
the gateway's own gRPC clients, never from HTTP calls to itself. :data:`PAGES` is what
``app.py`` registers, each inside the same edge (metrics, span, access log) as the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmgrid.gateway.web.market import marketplace, module_page, publish_page
from wasmgrid.gateway.web.ops import status_page, trace_page
from wasmgrid.gateway.web.render import Handler, page, serve_asset


@dataclass(frozen=True)
class Page:
    """One GET route of the web pages; `name` is its metrics/trace route label."""

    path: str
    name: str
    handler: Handler


#: Every page route. Their paths are reserved: the routes file cannot shadow them.
PAGES: tuple[Page, ...] = (
    Page("/", "page_marketplace", page(marketplace)),
    Page("/modules/{ns}/{name}", "page_module", page(module_page)),
    Page("/publish", "page_publish", page(publish_page)),
    Page("/status", "page_status", page(status_page)),
    Page("/traces/{trace_id}", "page_trace", page(trace_page)),
    Page("/assets/{name}", "asset", page(serve_asset)),
)

__all__ = ["PAGES", "Page"]
