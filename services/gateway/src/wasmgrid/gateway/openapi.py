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

from wasmgrid.gateway.routes import RouteTable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BodyKind = Literal["none", "json", "any", "publish"]
Auth = Literal["none", "optional", "required"]
ResponseKind = Literal["json", "any", "wasm", "text"]

ANY_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_AIOHTTP_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


@dataclass(frozen=True)
class QueryParam:
    """One documented query parameter."""

    name: str
    description: str
    type: Literal["string", "integer", "boolean"] = "string"
    repeated: bool = False


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

    @property
    def openapi_path(self) -> str:
        return _AIOHTTP_PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)


def _problem_ref(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _operation_doc(op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in _AIOHTTP_PARAM.findall(op.path)
    ]
    for q in op.query:
        schema: dict[str, Any] = {"type": q.type}
        if q.repeated:
            schema = {"type": "array", "items": schema}
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
    content: dict[str, Any]
    if op.response == "json":
        content = {"application/json": {"schema": {"type": "object"}}}
    elif op.response == "wasm":
        content = {"application/wasm": {"schema": {"type": "string", "format": "binary"}}}
    elif op.response == "text":
        content = {"text/plain": {"schema": {"type": "string"}}}
    else:
        content = {"*/*": {"schema": {}}}
    doc: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": {
            str(op.success): {"description": "success", "content": content},
            "default": _problem_ref("an error (RFC 9457 problem details)"),
        },
    }
    if op.body == "json":
        body: dict[str, Any] = {"type": "object"}
        if op.fields:
            body["properties"] = {name: {} for name in op.fields}
            body["additionalProperties"] = False
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
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
                    "default": _problem_ref("an error (RFC 9457 problem details)"),
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
                    },
                }
            },
        },
    }
