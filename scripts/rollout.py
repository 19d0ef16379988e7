"""Deploy an overlay with kubectl and roll back what it changed if the rollout fails.

    .venv/bin/python scripts/rollout.py deploy/k8s/overlays/prod \\
        --registry ghcr.io/acme --tag v1.2.3 --timeout 300s [--context staging]

1. Render the overlay with ``kubectl kustomize``; with --registry/--tag, every
   ``…/wasmgrid/<service>`` image becomes ``<registry>/wasmgrid/<service>:<tag>``.
2. Record the revision of every Deployment it contains that exists already.
3. ``kubectl apply`` the rendered objects.
4. ``kubectl rollout status`` each Deployment, within --timeout.
5. If one fails: ``kubectl rollout undo --to-revision=<recorded>`` every Deployment whose
   revision the apply changed, wait for those rollbacks, exit 1. Deployments that did
   not exist before have no revision to return to; they are named, not deleted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REVISION = "deployment.kubernetes.io/revision"
SERVICES = ("gateway", "runtime", "marketplace", "cache", "monitor")


class KubectlError(RuntimeError):
    """A kubectl command failed."""


@dataclass
class Kubectl:
    """kubectl with a fixed binary and context."""

    binary: str = "kubectl"
    context: str | None = None

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """Run kubectl; its stdout, or KubectlError with its stderr."""
        command = [self.binary, *(["--context", self.context] if self.context else []), *args]
        proc = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise KubectlError(f"{' '.join(command)}: {proc.stderr.strip() or proc.returncode}")
        return proc.stdout


def render(kubectl: Kubectl, overlay: Path, registry: str | None, tag: str | None) -> str:
    """The overlay's objects as YAML, with the release's images when given."""
    text = kubectl.run("kustomize", str(overlay))
    if registry is None and tag is None:
        return text
    if not (registry and tag):
        raise KubectlError("--registry and --tag go together")
    return retag(text, registry, tag)


def retag(text: str, registry: str, tag: str) -> str:
    """Set every wasmgrid service image in `text` to ``registry/wasmgrid/<svc>:tag``."""
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        for c in _containers(doc):
            repository = c["image"].rsplit(":", 1)[0]
            parent, _, service = repository.rpartition("/")
            if service in SERVICES and parent.rpartition("/")[2] == "wasmgrid":
                c["image"] = f"{registry}/wasmgrid/{service}:{tag}"
    return yaml.safe_dump_all(docs, sort_keys=False)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", [])) + list(spec.get("initContainers", []))


def deployments(text: str) -> list[tuple[str, str]]:
    """(namespace, name) of every Deployment in the rendered YAML, in order."""
    return [
        (d["metadata"].get("namespace", "default"), d["metadata"]["name"])
        for d in yaml.safe_load_all(text)
        if d and d.get("kind") == "Deployment"
    ]


def revision(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    """The Deployment's current revision, or None if it does not exist."""
    out = kubectl.run(
        "get", "deployment", name, "-n", namespace, "-o", "json", "--ignore-not-found"
    )
    if not out.strip():
        return None
    doc = json.loads(out)
    return str(doc["metadata"].get("annotations", {}).get(REVISION, "")) or None


def rollout(
    kubectl: Kubectl,
    overlay: Path,
    *,
    registry: str | None = None,
    tag: str | None = None,
    timeout: str = "300s",
    log: Any = print,
) -> int:
    """Apply, wait, roll back on failure; 0 when every Deployment rolled out."""
    text = render(kubectl, overlay, registry, tag)
    targets = deployments(text)
    before = {t: revision(kubectl, *t) for t in targets}
    kubectl.run("apply", "-f", "-", stdin=text)
    log(f"applied {overlay} ({len(targets)} deployments)")
    failed = None
    for namespace, name in targets:
        try:
            kubectl.run("rollout", "status", f"deployment/{name}", "-n", namespace,
                        f"--timeout={timeout}")  # fmt: skip
            log(f"rolled out deployment/{name}")
        except KubectlError as exc:
            failed = (name, str(exc))
            break
    if failed is None:
        return 0
    log(f"rollout of deployment/{failed[0]} failed: {failed[1]}")
    for target in targets:
        namespace, name = target
        old = before[target]
        if old is None:
            log(f"deployment/{name} is new: no revision to roll back to")
            continue
        if revision(kubectl, namespace, name) == old:
            continue  # unchanged by this apply
        try:
            kubectl.run("rollout", "undo", f"deployment/{name}", "-n", namespace,
                        f"--to-revision={old}")  # fmt: skip
            kubectl.run("rollout", "status", f"deployment/{name}", "-n", namespace,
                        f"--timeout={timeout}")  # fmt: skip
            log(f"rolled back deployment/{name} to revision {old}")
        except KubectlError as exc:
            log(f"ROLLBACK FAILED for deployment/{name}: {exc}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("overlay", type=Path)
    parser.add_argument("--registry", help="image registry prefix, e.g. ghcr.io/acme")
    parser.add_argument("--tag", help="image tag of the release")
    parser.add_argument("--timeout", default="300s", help="per Deployment (default %(default)s)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--print", action="store_true", help="print the objects, apply nothing")
    args = parser.parse_args(argv)
    kubectl = Kubectl(args.kubectl, args.context)
    try:
        if args.print:
            print(render(kubectl, args.overlay, args.registry, args.tag), end="")
            return 0
        return rollout(
            kubectl, args.overlay, registry=args.registry, tag=args.tag, timeout=args.timeout
        )
    except KubectlError as exc:
        print(f"rollout: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
