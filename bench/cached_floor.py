"""The cached route's floor: aiohttp alone serving a request of a cached hit's shape.

The gateway's router as the gateway builds it (every fixed operation, then the
catch-all its custom routes go through), on uvloop as the services run, answering a
POST by reading its body and sending a cached hit's status, headers and body: the
work aiohttp itself does for the gateway's cached route, none of the gateway's own.
Run: ``python -m bench.cached_floor PORT``.
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

from wasmgrid.gateway.app import ALL_OPERATIONS, CUSTOM_ROUTES_PATH
from wasmgrid.gateway.web import PAGES

#: What the gateway answers for bench_gateway's cached route (examples/hello).
BODY = b"HELLO, WASMGRID"
HEADERS = {
    "Content-Type": "text/plain",
    "X-Wasmgrid-Module": "examples/hello@1.0.0",
    "X-Cache": "HIT",
    "X-Trace-Id": "4bf92f3577b34da6a3ce929d0e0e4736",
}


async def unused(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def cached_hit(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, headers=HEADERS)


def app() -> web.Application:
    """The gateway's routes, every handler but the catch-all's a stand-in."""
    application = web.Application()
    for op in ALL_OPERATIONS:
        application.router.add_route(op.method, op.path, unused)
    for page in PAGES:
        application.router.add_get(page.path, unused)
    application.router.add_route("*", CUSTOM_ROUTES_PATH, cached_hit)
    return application


if __name__ == "__main__":
    web.run_app(
        app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )
