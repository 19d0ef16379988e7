"""What a component may import: the WASI 0.2 interfaces the runtime links, declared once.

The runtime links wasmtime's WASI 0.2 implementation (``Linker.add_wasip2``) into every
component; the marketplace refuses at publish, naming the interface and why, a component
importing anything the runtime would not link or that policy forbids. Both read this
table, so a publish that passes is a component that links.

Versions: wasmtime links any ``0.2.x`` import to its own 0.2 implementation (semver
compatible, tested from 0.2.0 to 0.2.99); other versions (0.1, 0.3) are refused.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Access(enum.Enum):
    """What the runtime gives a component that imports an interface."""

    #: Linked and working (within the call's sandbox: no preopened directories, the
    #: request's environment only, stdin and stdout captured).
    PROVIDED = "provided"
    #: Linked, but every use is denied: no network is given to guests (no address may
    #: be connected to or bound, name lookups fail). Toolchains import these whether or
    #: not the code uses them (componentize-py always does), so importing is allowed.
    NO_NETWORK = "no-network"
    #: Not linked: a component importing it is refused at publish and by the runtime.
    REFUSED = "refused"


@dataclass(frozen=True)
class Interface:
    """One WASI 0.2 interface (``wasi:<package>/<name>``) and what the runtime does with it."""

    package: str
    name: str
    access: Access
    reason: str = ""

    @property
    def qualified(self) -> str:
        return f"wasi:{self.package}/{self.name}"


_OK, _NET, _NO = Access.PROVIDED, Access.NO_NETWORK, Access.REFUSED
_NO_NETWORK = "linked without network access: every connect, bind and name lookup is denied"
_HTTP = (
    "outgoing HTTP is not given to guests: wasmtime-py links wasi:http with unrestricted"
    " network access and no per-host allow-list, and a route cannot grant it (use the"
    " gateway's routes to compose modules instead)"
)

INTERFACES: tuple[Interface, ...] = (
    Interface("cli", "environment", _OK),
    Interface("cli", "exit", _OK),
    Interface("cli", "run", _OK, "the command entry point (an export)"),
    Interface("cli", "stdin", _OK),
    Interface("cli", "stdout", _OK),
    Interface("cli", "stderr", _OK),
    Interface("cli", "terminal-input", _OK),
    Interface("cli", "terminal-output", _OK),
    Interface("cli", "terminal-stdin", _OK),
    Interface("cli", "terminal-stdout", _OK),
    Interface("cli", "terminal-stderr", _OK),
    Interface("clocks", "monotonic-clock", _OK),
    Interface("clocks", "wall-clock", _OK),
    Interface("filesystem", "types", _OK, "no directory is preopened"),
    Interface("filesystem", "preopens", _OK, "no directory is preopened"),
    Interface("io", "error", _OK),
    Interface("io", "poll", _OK),
    Interface("io", "streams", _OK),
    Interface("random", "random", _OK),
    Interface("random", "insecure", _OK),
    Interface("random", "insecure-seed", _OK),
    Interface("sockets", "network", _NET, _NO_NETWORK),
    Interface("sockets", "instance-network", _NET, _NO_NETWORK),
    Interface("sockets", "tcp", _NET, _NO_NETWORK),
    Interface("sockets", "tcp-create-socket", _NET, _NO_NETWORK),
    Interface("sockets", "udp", _NET, _NO_NETWORK),
    Interface("sockets", "udp-create-socket", _NET, _NO_NETWORK),
    Interface("sockets", "ip-name-lookup", _NET, _NO_NETWORK),
    Interface("http", "types", _NO, _HTTP),
    Interface("http", "outgoing-handler", _NO, _HTTP),
    Interface(
        "http",
        "incoming-handler",
        _NO,
        "wasmtime-py cannot drive an HTTP handler component: its C API offers no way to"
        " create the incoming-request and response-outparam resources the handler takes;"
        " export wasi:cli/run (a WAGI command) or typed functions instead",
    ),
)

BY_NAME: dict[str, Interface] = {i.qualified: i for i in INTERFACES}
#: Interfaces whose functions can wait inside the host (a guest asleep in one is out of
#: reach of fuel and of the epoch deadline until it returns).
BLOCKING = frozenset({"wasi:io/poll"})
#: The interface exported by command components (WAGI through Invoke).
RUN = "wasi:cli/run"
SUPPORTED_VERSIONS = "0.2.x"

_NAME = re.compile(r"^(?P<ns>[a-z][a-z0-9-]*):(?P<pkg>[a-z][a-z0-9-]*)/(?P<iface>[a-z][a-z0-9-]*)")
_VERSION = re.compile(r"@(?P<major>\d+)\.(?P<minor>\d+)\.\d+(?:[-+].*)?$")


def unversioned(name: str) -> str:
    """``wasi:cli/run@0.2.3`` → ``wasi:cli/run`` (names without a version unchanged)."""
    return name.split("@", 1)[0]


def access(name: str) -> tuple[Access, str]:
    """What the runtime gives a component importing `name`, and why when not PROVIDED.

    `name` is an import as a component names it (``wasi:io/streams@0.2.9``); plain
    kebab names (a world-level function import) and other packages are not linked.
    """
    m = _NAME.match(name)
    if m is None:
        return _NO, "a world-level import: the runtime links only WASI 0.2 interfaces"
    if m["ns"] != "wasi":
        return _NO, f"package {m['ns']}:{m['pkg']} is not provided: the runtime links only WASI"
    known = BY_NAME.get(unversioned(name))
    if known is None:
        return _NO, f"not a WASI {SUPPORTED_VERSIONS} interface the runtime links"
    version = _VERSION.search(name)
    if version is None:
        return _NO, f"an unversioned WASI name: the runtime links WASI {SUPPORTED_VERSIONS}"
    if (version["major"], version["minor"]) != ("0", "2"):
        shown = name.partition("@")[2]
        return _NO, f"version {shown} is not provided: the runtime links WASI {SUPPORTED_VERSIONS}"
    return known.access, known.reason if known.access is not _OK else ""
