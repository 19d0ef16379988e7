"""wasmgrid gateway: the HTTP edge of the platform.

Read top-down: :mod:`.settings` → :mod:`.service` (the kit's Service: HTTP site and
health port) → :mod:`.app` and :mod:`.edge` (routes registered, each inside the edge)
→ the request paths: :mod:`.api` (the REST facade's table), :mod:`.invoke` (running
modules), :mod:`.routes` (the routes file), :mod:`.web` (pages) → the domain modules
(:mod:`.cgi`, :mod:`.ratelimit`, :mod:`.balancer`, :mod:`.problem`) → :mod:`.upstream`,
the gRPC clients at the edge of the process.
"""
