"""The fixed HTTP API: invoke endpoints and the REST facade over the other services.

Read top-down: :mod:`.operations` (the table of every operation, with :mod:`.audit`
and :mod:`.users` for the admins' parts), :mod:`.relay` (how an entry that relays to
one RPC is served), :mod:`.bodies` (JSON in and out), then the streamed ones,
:mod:`.upload` (publish) and :mod:`.download`.
"""

from wasmgrid.gateway.api.bodies import json_response, to_json
from wasmgrid.gateway.api.operations import OPERATIONS

__all__ = ["OPERATIONS", "json_response", "to_json"]
