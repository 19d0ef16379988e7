"""Running modules behind a route's middleware: WAGI/CGI commands and function calls.

Read top-down: :mod:`.flow` (the orchestrating :func:`serve`), :mod:`.target` (what a
request runs), :mod:`.middleware` (CORS, body limit, auth, rate limit), then the two
modes, :mod:`.command` (CGI) and :mod:`.function` (typed exports, with the JSON ⇄
wasm conversion in :mod:`.values`), both running through :mod:`.execution`.
"""

from wasmgrid.gateway.invoke.flow import serve
from wasmgrid.gateway.invoke.function import CALL_FIELDS
from wasmgrid.gateway.invoke.target import Target, parse_module_ref, target_for_route

__all__ = ["CALL_FIELDS", "Target", "parse_module_ref", "serve", "target_for_route"]
