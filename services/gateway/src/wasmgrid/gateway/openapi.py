"""The OpenAPI 3.1 document, generated from the same operation table the app registers.

Each :class:`Operation` is both an aiohttp route (``app.py`` adds exactly these) and
an OpenAPI operation, so the document cannot drift from what is served. Custom
routes from the routes file are added under their own tag.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from wasmgrid.common.paging import MAX_CURSOR_CHARS
from wasmgrid.gateway.routes import RouteTable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BodyKind = Literal["none", "json", "any", "publish"]
Auth = Literal["none", "optional", "required"]
#: "guest": the module answers, with the status and content type it chose (a WAGI
#: guest may answer 400 or 404 in text/plain); the gateway's own errors stay problems.
ResponseKind = Literal["json", "guest", "wasm", "text"]

ANY_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_AIOHTTP_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


@dataclass(frozen=True)
class QueryParam:
    """One documented query parameter, with the constraints the server enforces."""

    name: str
    description: str
    type: Literal["string", "integer", "boolean"] = "string"
    repeated: bool = False
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    #: A string's constraints: a regular expression, a JSON schema format, lengths.
    pattern: str | None = None
    format: str | None = None
    min_length: int | None = None
    max_length: int | None = None

    def schema(self) -> dict[str, Any]:
        """The parameter's JSON schema (an array of it when repeated)."""
        schema: dict[str, Any] = {"type": self.type}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.enum:
            schema["enum"] = list(self.enum)
        for key, value in (
            ("pattern", self.pattern),
            ("format", self.format),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
        ):
            if value is not None:
                schema[key] = value
        return {"type": "array", "items": schema} if self.repeated else schema


def page_params(maximum: int) -> tuple[QueryParam, ...]:
    """A list's ``limit`` (0: the service's default, at most `maximum`) and ``cursor``."""
    return (
        QueryParam(
            "limit",
            f"page size (0: the default, at most {maximum})",
            "integer",
            minimum=0,
            maximum=maximum,
        ),
        QueryParam("cursor", "next_cursor of the previous page", max_length=MAX_CURSOR_CHARS),
    )


# Names as the marketplace checks them: a namespace 2..39, a module 1..64 characters of
# letters and digits, single '-' or '_' between; it folds case, so the registry's
# operations take capitals too. /v1/run and /v1/call read lowercase names only.
_MODULE = "[a-z0-9]+(?:[_-][a-z0-9]+)*"
_ANY_CASE_MODULE = "[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*"
_NUM = "(?:0|[1-9][0-9]{0,17})"
_IDENTS = "[0-9A-Za-z-]+(?:[.][0-9A-Za-z-]+)*"
_VERSION = f"{_NUM}[.]{_NUM}[.]{_NUM}(?:-{_IDENTS})?(?:[+]{_IDENTS})?"
# A requirement (the marketplace's semver.Requirement): latest, a wildcard, or
# comma-separated comparators; a prerelease only on a full MAJOR.MINOR.PATCH.
_WILD = "(?:[*]|x|X)"
_PART = f"(?:{_NUM}|{_WILD})"
_PARTIAL = f"{_NUM}(?:[.]{_PART}(?:[.]{_PART})?)?(?:[+]{_IDENTS})?"
_TERM = f"(?:(?:\\^|>=)? *{_WILD}|(?:>=|<=|>|<|=|\\^|~)? *(?:{_VERSION}|{_PARTIAL}))"
_REQUIREMENT = f"(?:latest|{_TERM}(?: *, *{_TERM})*)"
#: The schema of each path parameter, as strict as the code that checks it (the
#: gateway's module reference, the marketplace's names and versions, the monitor's
#: trace ids, the cache's namespaces). A parameter not listed is a plain string.
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "ns": {"type": "string", "pattern": f"^{_ANY_CASE_MODULE}$", "minLength": 2, "maxLength": 39},
    "username": {
        "type": "string",
        "pattern": f"^{_ANY_CASE_MODULE}$",
        "minLength": 2,
        "maxLength": 39,
    },
    "name": {
        "type": "string",
        "pattern": f"^{_ANY_CASE_MODULE}$",
        "minLength": 1,
        "maxLength": 64,
    },
    "module": {
        "type": "string",
        "pattern": f"^{_MODULE}(?:@{_REQUIREMENT}?)?$",
        "maxLength": 64,
        "description": "name[@requirement] (at most 64 characters): ^1.2, ~1.2.3, =1.0.0,"
        " >=1, <2, latest",
    },
    "version": {"type": "string", "pattern": f"^{_VERSION}$", "maxLength": 64},
    "trace_id": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
    "id": {
        "type": "string",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
}
#: Path parameters named alike but checked otherwise, by operation id.
_LOWER_NS = {"type": "string", "pattern": f"^{_MODULE}$", "minLength": 2, "maxLength": 39}
PATH_PARAMS_BY_OPERATION: dict[tuple[str, str], dict[str, Any]] = {
    **{(op, "ns"): _LOWER_NS for op in ("run", "run_path", "call")},
    ("cache_namespace_stats", "ns"): {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"},
    ("call", "function"): {"type": "string", "minLength": 1, "maxLength": 256},
}


@dataclass(frozen=True)
class Link:
    """An OpenAPI link from an operation's success to another operation: how a client
    (and schemathesis's stateful phase) gets the next call's parameters from this answer."""

    name: str
    operation: str  # the target's operationId
    #: Target parameter → runtime expression (``$response.body#/token/id``, …).
    parameters: tuple[tuple[str, str], ...]

    def document(self) -> dict[str, Any]:
        """The link object."""
        return {"operationId": self.operation, "parameters": dict(self.parameters)}


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of the fixed API."""

    method: str  # "GET", … or "*" for any method
    path: str  # aiohttp path; "{name:regex}" allowed
    name: str  # operationId, also the metrics `route` label
    summary: str
    handler: Handler
    tag: str
    query: tuple[QueryParam, ...] = ()
    body: BodyKind = "none"
    response: ResponseKind = "json"
    auth: Auth = "none"
    success: int = 200
    #: The fields a JSON body may carry; any other field is refused with a 400.
    fields: tuple[str, ...] = ()
    #: A longer description (CommonMark) and named JSON body examples.
    description: str = ""
    examples: tuple[tuple[str, str, Any], ...] = ()
    #: JSON schemas of those fields (as strict as the checks behind them) and the ones
    #: a body must carry.
    field_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()
    required_fields: tuple[str, ...] = ()
    #: Error statuses this operation answers besides the common ones: (status, when).
    statuses: tuple[tuple[str, str], ...] = ()
    links: tuple[Link, ...] = ()
    #: A module call with no middleware of its own: under overload the edge refuses it
    #: before anything else (``edge._shed``), since no route check or cached answer could
    #: spare it a slot.
    shed_first: bool = False

    @property
    def openapi_path(self) -> str:
        return _AIOHTTP_PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)


#: How POST /v1/call maps JSON to a component's WIT types (the runtime README has the same).
CALL_DESCRIPTION = """\
`{"args": [...]}`, one element per parameter; the answer's `results` is an array.

**Core modules**: numbers for `i32`/`i64`/`f32`/`f64` (typed as `{"i64": "9007199254740993"}`
when needed); `results` and `types` in order (multi-value).

**Components** (WASI 0.2): the function as WIT names it: `analyse` for a world-level
export, `wasmgrid:textstats/echo@0.1.0#echo-bool` for one of an exported interface,
percent-encoded in the path (`/` → `%2F`, `#` → `%23`). Arguments and results are JSON
mapped to WIT types, one form each:

| WIT | JSON |
|---|---|
| bool | `true` / `false` |
| s8 … u64 | a number, range-checked, no fraction |
| f32, f64 | a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` |
| char | a string of one Unicode scalar value |
| string | a string |
| list<T> (also list<u8>) | an array |
| record | an object with exactly its fields |
| tuple | an array of its length |
| variant | `{"case": payload}`; `{"case": null}` without payload |
| enum | `"case"` |
| flags | an array of the names set |
| option<T> | `null` or the value; when T is an option, `{"some": value}` |
| result<T, E> | `{"ok": value}` or `{"err": value}` (`null` without payload) |
| own/borrow, future, stream | not supported: such a function is refused |

A value that does not fit answers 400 naming its path and the expected type, e.g.
`args[0].words[2]: expected string, got 5`. `results` is `[]` or `[value]`.
"""
CALL_EXAMPLES: tuple[tuple[str, str, Any], ...] = (
    ("core", "a core module's export, e.g. add(i32, i32)", {"args": [2, 3]}),
    ("string", "a component: analyse(text: string) -> stats", {"args": ["a tiny runtime"]}),
    (
        "record",
        "a component: echo-record(v: record { x: s32, y: s32, label: string })",
        {"args": [{"x": 1, "y": -2, "label": "p"}]},
    ),
    (
        "variant",
        "a component: echo-variant(v: variant { circle(f64), rect(tuple<f64, f64>), empty })",
        {"args": [{"rect": [1.5, 2.0]}]},
    ),
    (
        "option-result",
        "a component: f(a: option<u32>, b: result<string, u32>, c: list<u8>)",
        {"args": [None, {"err": 404}, [0, 255]]},
    ),
)


def _problem_ref(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


#: The success response's content by an operation's response kind (anything else: any type).
_RESPONSE_CONTENT: dict[str, dict[str, Any]] = {
    "json": {"application/json": {"schema": {"type": "object"}}},
    "wasm": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}},
    "text": {"text/plain": {"schema": {"type": "string"}}},
}


#: The errors every operation may answer (each a problem; the gateway README lists the
#: ``type`` of each, guest and platform 5xx apart).
_ERRORS: dict[str, dict[str, Any]] = {
    "400": _problem_ref("a parameter or body field breaks a rule; the detail names it"),
    "404": _problem_ref("no such module, version, token or route"),
    "405": _problem_ref("method not allowed here (the Allow header lists those that are)"),
    "429": _problem_ref("rate limited (Retry-After, RateLimit-*)"),
    "500": _problem_ref("a guest-* type: the module failed; type internal: a gateway bug"),
    "502": _problem_ref("a service behind the gateway failed"),
    "503": _problem_ref("overloaded, unavailable or compiling: retry after Retry-After"),
    "504": _problem_ref("a service behind the gateway did not answer in time"),
}


def _success(op: Operation) -> dict[str, Any]:
    content = _RESPONSE_CONTENT.get(op.response, {"*/*": {"schema": {}}})
    success: dict[str, Any] = {"description": "success", "content": content}
    if op.links:
        success["links"] = {link.name: link.document() for link in op.links}
    return success


def _or_guest(response: dict[str, Any]) -> dict[str, Any]:
    """An error response that the module itself may also give, in any content type."""
    return {
        "description": response["description"] + "; or the module's own answer",
        "content": {**response["content"], "*/*": {"schema": {}}},
    }


def _errors(op: Operation) -> dict[str, dict[str, Any]]:
    """The error responses of `op`: problems, or also the module's own answer."""
    errors: dict[str, dict[str, Any]] = {
        **_ERRORS,
        **({"401": _problem_ref("no or bad credentials")} if op.auth != "none" else {}),
        **{status: _problem_ref(when) for status, when in op.statuses},
        "default": _problem_ref("an error (RFC 9457 problem details)"),
    }
    if op.response == "guest":
        return {status: _or_guest(response) for status, response in errors.items()}
    return errors


def _operation_doc(op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMS_BY_OPERATION.get(
                (op.name, p), PATH_PARAMS.get(p, {"type": "string"})
            ),
        }
        for p in _AIOHTTP_PARAM.findall(op.path)
    ]
    for q in op.query:
        schema = q.schema()
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": False,
                "description": q.description,
                "schema": schema,
                **({"explode": True} if q.repeated else {}),
            }
        )
    doc: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": {str(op.success): _success(op), **_errors(op)},
    }
    if op.description:
        doc["description"] = op.description
    if op.body == "json":
        body: dict[str, Any] = {"type": "object"}
        if op.fields:
            schemas = dict(op.field_schemas)
            body["properties"] = {name: schemas.get(name, {}) for name in op.fields}
            body["additionalProperties"] = False
        if op.required_fields:
            body["required"] = list(op.required_fields)
        media: dict[str, Any] = {"schema": body}
        if op.examples:
            media["examples"] = {
                name: {"summary": summary, "value": value} for name, summary, value in op.examples
            }
        doc["requestBody"] = {"required": True, "content": {"application/json": media}}
    elif op.body == "any":
        doc["requestBody"] = {
            "required": False,
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    elif op.body == "publish":
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/wasm": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["metadata", "module"],
                        "properties": {
                            "metadata": {
                                "type": "string",
                                "description": "JSON metadata (assets_mount: where the"
                                " guest sees the assets, default /assets)",
                            },
                            "module": {"type": "string", "format": "binary"},
                            "assets": {
                                "type": "string",
                                "format": "binary",
                                "description": "optional read-only files: a tar, tar.gz,"
                                " tar.zst or zip archive, after the module part",
                            },
                        },
                    },
                    "encoding": {"metadata": {"contentType": "application/json"}},
                },
            },
        }
    if op.auth != "none":
        doc["security"] = [{"bearer": []}] if op.auth == "required" else [{"bearer": []}, {}]
    return doc


def build_document(
    operations: Sequence[Operation], routes: RouteTable, *, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `operations` plus the custom `routes`."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item = paths.setdefault(op.openapi_path, {})
        methods: tuple[str, ...] = ANY_METHODS if op.method == "*" else (op.method.lower(),)
        for method in methods:
            entry = _operation_doc(op)
            if op.method == "*":
                entry["operationId"] = f"{op.name}_{method}"
            item[method] = entry
    for route in routes.routes:
        path = route.path.openapi_path()
        item = paths.setdefault(path, {})
        methods = tuple(m.lower() for m in sorted(route.methods)) if route.methods else ANY_METHODS
        for method in methods:
            params = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in route.path.params
            ]
            if route.path.prefix:
                params.append(
                    {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
                )
            item[method] = {
                "operationId": f"route_{route.name}_{method}",
                "summary": f"Custom route {route.name} → {route.module} ({route.mode})",
                "tags": ["routes"],
                "parameters": params,
                "responses": {
                    "200": {"description": "the module's response", "content": {"*/*": {}}},
                    "default": _or_guest(_problem_ref("an error (RFC 9457 problem details)")),
                },
                **({"x-host": route.host} if route.host else {}),
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wasmgrid gateway",
            "version": version,
            "description": "Publish, discover and run WebAssembly modules over HTTP.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string", "format": "uri"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                        "fault": {"type": "string", "enum": ["guest", "platform", "overload"]},
                        "outcome": {"type": "string"},
                    },
                }
            },
        },
    }
