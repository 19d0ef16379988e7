"""Render every kustomize overlay and validate each object against the Kubernetes schemas.

    .venv/bin/python scripts/k8s_validate.py [OVERLAY_DIR ...]

Offline: the schemas come with the kubernetes-validate package. Every object is checked
in strict mode (unknown fields are errors) against the oldest Kubernetes version the
manifests support and the newest the package knows, so an API removed since is caught.
Custom resources (prometheus-operator's kinds) have no schema there and are reported as
skipped. Exit 1 on any invalid object, naming the overlay, the object and the error.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy/k8s/overlays"
#: The oldest Kubernetes the manifests are written for (gRPC probes GA in 1.27,
#: PodDisruptionBudget policy/v1 and HPA autoscaling/v2 long before).
MIN_VERSION = "1.30.0"


class RenderError(RuntimeError):
    """kustomize could not build an overlay."""


def render(overlay: Path) -> list[dict[str, Any]]:
    """Every object `kubectl kustomize overlay` renders."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RenderError("kubectl (with its built-in kustomize) is not on PATH")
    proc = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize {overlay}: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def versions() -> list[str]:
    """The Kubernetes versions every object is validated against."""
    return sorted({MIN_VERSION, kubernetes_validate.latest_version()})


def name_of(obj: dict[str, Any]) -> str:
    """``Kind/name`` of an object."""
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def validate(objects: Iterable[dict[str, Any]], version: str) -> Iterator[tuple[str, str]]:
    """(object, problem) for every object that fails; ("Kind/…", "skipped") for CRD kinds."""
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            yield name_of(obj), "skipped"
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(top level)"
            yield name_of(obj), f"{where}: {exc.message}"


def main(argv: list[str] | None = None) -> int:
    """Validate the overlays; print one line per overlay and per problem."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("overlays", nargs="*", type=Path)
    args = parser.parse_args(argv)
    overlays = args.overlays or sorted(p for p in OVERLAYS.iterdir() if p.is_dir())
    failed = False
    for overlay in overlays:
        try:
            objects = render(overlay)
        except RenderError as exc:
            print(f"FAIL {exc}", file=sys.stderr)
            failed = True
            continue
        skipped: Counter[str] = Counter()
        for version in versions():
            for obj, problem in validate(objects, version):
                if problem == "skipped":
                    skipped[obj.split("/")[0]] += 1
                    continue
                failed = True
                print(f"FAIL {overlay.name} {obj} (Kubernetes {version}): {problem}")
        kinds = ", ".join(f"{k} x{n // len(versions())}" for k, n in sorted(skipped.items()))
        print(
            f"ok   {overlay.name}: {len(objects)} objects valid against Kubernetes"
            f" {' and '.join(versions())}" + (f"; no schema, skipped: {kinds}" if kinds else "")
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
