"""A bare aiohttp "hello" server (the physical floor for HTTP benchmarks)."""

from __future__ import annotations

import sys

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


if __name__ == "__main__":
    # argv: port [loop]; loop "uvloop" runs it on the loop the services use.
    app = web.Application()
    app.router.add_get("/", hello)
    loop = None
    if sys.argv[2:] == ["uvloop"]:
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None, loop=loop
    )
