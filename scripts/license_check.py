"""Check the license of every installed dependency against the allow-list.

    .venv/bin/python scripts/license_check.py [--config scripts/licenses.toml]

The environment is the one ``make install`` builds from uv.lock, so "installed" is
"locked". A distribution's license is read from its metadata, in this order: the
``License-Expression`` field (PEP 639, SPDX), the ``License ::`` trove classifiers, then
a ``License`` field that is itself a known SPDX id. An expression passes when every
license in it is allowed (``OR`` passes when one side is). A distribution whose license
cannot be read must be listed under ``[reviewed]`` with what a person found. Exit 1
naming each distribution that fails.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

CONFIG = Path(__file__).resolve().parent / "licenses.toml"

#: Trove classifiers → SPDX ids (the ones PyPI projects use for permissive licenses and
#: the common copyleft ones, so those are named rather than reported as unknown).
CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "License :: OSI Approved :: PostgreSQL License": "PostgreSQL",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: Public Domain": "LicenseRef-Public-Domain",
}
_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+:-]+")


@dataclass(frozen=True)
class Finding:
    """One distribution's license and verdict."""

    name: str
    version: str
    license: str | None
    ok: bool
    why: str


def license_of(dist: metadata.Distribution, known: Iterable[str]) -> str | None:
    """The distribution's SPDX expression, or None when its metadata does not say."""
    meta = dist.metadata
    # get_all: a missing key via [] is deprecated (a KeyError in later Pythons).
    expression = next(iter(meta.get_all("License-Expression") or []), None)
    if expression:
        return str(expression).strip()
    found = sorted({CLASSIFIERS[c] for c in meta.get_all("Classifier") or [] if c in CLASSIFIERS})
    if found:
        # Several classifiers mean the user may choose (dual licensing, e.g. Apache or BSD).
        return " OR ".join(found)
    text = str(next(iter(meta.get_all("License") or []), "")).strip()
    known_ids = {k.lower(): k for k in known}
    return known_ids.get(text.lower())


def allowed(expression: str, allow: set[str]) -> bool:
    """Whether an SPDX expression is satisfied by the allow-list (AND: all, OR: one side)."""
    # An exception (Apache-2.0 WITH LLVM-exception) only grants more than its license.
    tokens = _TOKEN.findall(re.sub(r"\s+WITH\s+[A-Za-z0-9.+-]+", "", expression))
    pos = 0

    def parse_or() -> bool:
        nonlocal pos
        value = parse_and()
        while pos < len(tokens) and tokens[pos].upper() == "OR":
            pos += 1
            value = parse_and() or value
        return value

    def parse_and() -> bool:
        nonlocal pos
        value = parse_atom()
        while pos < len(tokens) and tokens[pos].upper() == "AND":
            pos += 1
            value = parse_atom() and value
        return value

    def parse_atom() -> bool:
        nonlocal pos
        if pos >= len(tokens):
            return False
        token = tokens[pos]
        pos += 1
        if token == "(":  # noqa: S105 - an SPDX expression token
            value = parse_or()
            pos += 1  # ")"
            return value
        return token in allow

    return parse_or() and pos == len(tokens)


def check(
    dists: Iterable[metadata.Distribution], allow: set[str], reviewed: dict[str, str], skip: str
) -> list[Finding]:
    """A finding per distribution (workspace members, named by `skip`'s prefix, left out)."""
    out = []
    for dist in sorted(dists, key=lambda d: d.name.lower()):
        name = dist.name
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key.startswith(skip):
            continue
        expression = license_of(dist, allow)
        if key in reviewed:
            out.append(Finding(name, dist.version, expression, True, f"reviewed: {reviewed[key]}"))
        elif expression is None:
            out.append(Finding(name, dist.version, None, False, "license not in its metadata"))
        elif allowed(expression, allow):
            out.append(Finding(name, dist.version, expression, True, "allowed"))
        else:
            out.append(Finding(name, dist.version, expression, False, "not on the allow-list"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the failures (and with -v every finding); exit 1 if any distribution fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    config = tomllib.loads(args.config.read_text())
    allow = set(config["allowed"])
    reviewed = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in config["reviewed"].items()}
    findings = check(metadata.distributions(), allow, reviewed, config.get("skip_prefix", "~"))
    failed = [f for f in findings if not f.ok]
    for f in findings if args.verbose else failed:
        state = "ok  " if f.ok else "FAIL"
        print(f"{state} {f.name} {f.version}: {f.license or '?'} ({f.why})")
    print(f"{len(findings) - len(failed)} passed, {len(failed)} failed (license check)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
