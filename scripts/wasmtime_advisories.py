"""Fail when the locked wasmtime has a known security advisory.

    .venv/bin/python scripts/wasmtime_advisories.py [--sources pypi,osv]

wasmtime-py bundles the wasmtime engine (Rust) as a shared library; the engine is what
sandboxes untrusted guests, so its advisories matter more than any other dependency's.
They are published for the Rust crate (RustSec / GitHub advisories, in OSV under
crates.io), not for the PyPI package, so pip-audit alone does not see them. Two sources:

- ``pypi``: PyPI's JSON API for ``wasmtime==<locked>`` lists advisories against the
  Python package itself (what pip-audit reads too);
- ``osv``: OSV's query API for the crate ``wasmtime`` at the same version (wasmtime-py's
  version is the version of the engine it bundles).

An advisory that names a ``withdrawn`` date is ignored. A source that cannot be reached is
a failure, not a pass: an audit that skips silently proves nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYPI_URL = "https://pypi.org/pypi"
OSV_URL = "https://api.osv.dev"
TIMEOUT = 30.0


class SourceError(RuntimeError):
    """An advisory source did not answer usefully."""


def locked_version(lock: Path, package: str = "wasmtime") -> str:
    """The version of `package` in uv.lock."""
    doc = tomllib.loads(lock.read_text())
    for entry in doc.get("package", []):
        if entry.get("name") == package:
            return str(entry["version"])
    raise SourceError(f"{package} is not in {lock}")


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    if not url.startswith(("https://", "http://")):
        raise SourceError(f"{url}: not an http(s) URL")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=data, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310 - checked
            return json.loads(resp.read())
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise SourceError(f"{url}: {exc}") from exc


def pypi_advisories(base: str, version: str) -> list[str]:
    """Advisory ids PyPI lists for wasmtime==version."""
    doc = _request(f"{base.rstrip('/')}/wasmtime/{version}/json")
    return [str(v.get("id")) for v in doc.get("vulnerabilities") or [] if not v.get("withdrawn")]


def osv_advisories(base: str, version: str) -> list[str]:
    """Advisory ids OSV lists for the crates.io crate wasmtime at `version`."""
    query = {"package": {"name": "wasmtime", "ecosystem": "crates.io"}, "version": version}
    doc = _request(f"{base.rstrip('/')}/v1/query", query)
    return [str(v.get("id")) for v in doc.get("vulns") or [] if not v.get("withdrawn")]


def main(argv: list[str] | None = None) -> int:
    """Print what each source says; exit 1 on an advisory or an unreachable source."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    parser.add_argument("--sources", default="pypi,osv", help="comma list of pypi, osv")
    parser.add_argument("--pypi-url", default=PYPI_URL)
    parser.add_argument("--osv-url", default=OSV_URL)
    args = parser.parse_args(argv)
    version = locked_version(args.lock)
    lookups = {
        "pypi": lambda: pypi_advisories(args.pypi_url, version),
        "osv": lambda: osv_advisories(args.osv_url, version),
    }
    failed = False
    for source in [s.strip() for s in args.sources.split(",") if s.strip()]:
        if source not in lookups:
            print(f"FAIL unknown source {source!r}; known: {', '.join(lookups)}")
            return 2
        try:
            found = lookups[source]()
        except SourceError as exc:
            print(f"FAIL {source}: cannot check wasmtime {version}: {exc}")
            failed = True
            continue
        if found:
            print(f"FAIL {source}: wasmtime {version} has advisories: {', '.join(found)}")
            failed = True
        else:
            print(f"ok   {source}: no known advisory for wasmtime {version}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
