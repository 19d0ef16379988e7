"""Guest paths where a runtime preopens a directory (a version's assets, a call's scratch).

One rule for the marketplace (checked at publish) and the runtime (checked per call):
absolute, already normalised (no ``.``, ``..``, empty or trailing components), not the
root, at most :data:`MAX_GUEST_PATH` characters of printable ASCII without backslashes.
"""

from __future__ import annotations

from wasmgrid.common.errors import InvalidArgument

#: Longest guest path accepted, in characters.
MAX_GUEST_PATH = 256
#: Where a version's assets appear unless its publisher says otherwise.
DEFAULT_ASSETS_MOUNT = "/assets"
#: Where a call's scratch directory appears unless the route or version says otherwise.
DEFAULT_SCRATCH_MOUNT = "/tmp"  # noqa: S108 - a path inside the guest, not the host


def check_guest_path(value: str, field: str, default: str) -> str:
    """`value` (or `default` when empty) if it is a valid guest path, else InvalidArgument
    naming `field` and the rule it breaks."""
    path = value or default
    if len(path) > MAX_GUEST_PATH:
        raise InvalidArgument(f"{field} is {len(path)} characters, at most {MAX_GUEST_PATH}")
    if not path.startswith("/"):
        raise InvalidArgument(f"{field} {path!r} must be an absolute path (start with '/')")
    if path == "/":
        raise InvalidArgument(f"{field} must not be '/' (the guest's root)")
    if any(not (32 < ord(c) < 127) or c == "\\" for c in path):
        raise InvalidArgument(
            f"{field} {path!r} may hold only printable ASCII without spaces or backslashes"
        )
    parts = path[1:].split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(
            f"{field} {path!r} must be normalised (no empty, '.' or '..' components)"
        )
    return path
