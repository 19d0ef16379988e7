"""What running a module or calling one of its functions answers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The HTTP response a WAGI module produced."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    #: ``namespace/name@version`` that answered (the ``X-Wasmgrid-Module`` header).
    module: str = ""
    #: ``HIT`` or ``MISS`` on a route with a response cache, else empty.
    cache: str = ""
    #: The W3C trace id of this request (``wasmgrid trace`` draws it).
    trace_id: str = ""

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    """An exported function's results and what the call cost."""

    module: str = ""
    version: str = ""
    digest: str = ""
    function: str = ""
    #: A core module's numbers, or a component's JSON values (see :meth:`Client.call`).
    results: tuple[Any, ...] = ()
    #: The wasm type of each result of a core module: ``i32``, ``i64``, ``f32`` or
    #: ``f64``; empty for a component.
    types: tuple[str, ...] = ()
    fuel_consumed: int = 0
    wall_time_us: int = 0


@dataclass(frozen=True, slots=True)
class TypedArg:
    """A function argument with an explicit wasm type, e.g. ``TypedArg("i64", 2**40)``."""

    type: str
    value: int | float

    def to_json(self) -> dict[str, int | float | str]:
        """The API's ``{"i64": n}`` form (non-finite floats as strings)."""
        if isinstance(self.value, float) and not math.isfinite(self.value):
            return {self.type: str(self.value)}
        return {self.type: self.value}
