"""Publish the examples (examples/modules/*/module.toml, examples/components/*/module.toml)
to a marketplace."""

from __future__ import annotations

import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grpc

from wasmgrid.api.marketplace.v1 import marketplace_pb2, marketplace_pb2_grpc
from wasmgrid.client import pack_directory

CHUNK = 256 * 1024


def examples_dir() -> Path | None:
    """examples/modules of this checkout (from the working directory or the package)."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / "examples" / "modules"
        if candidate.is_dir():
            return candidate
    return None


def _requests(
    meta: dict[str, object], wasm: bytes, assets: bytes
) -> Iterator[marketplace_pb2.PublishRequest]:
    tags = meta.get("tags", [])
    yield marketplace_pb2.PublishRequest(
        metadata=marketplace_pb2.PublishMetadata(
            name=str(meta["name"]),
            version=str(meta["version"]),
            description=str(meta.get("description", "")),
            license=str(meta.get("license", "")),
            category=str(meta.get("category", "")),
            tags=[str(t) for t in tags] if isinstance(tags, list) else [],
            size_bytes=len(wasm),
            assets_mount=str(meta.get("assets_mount", "")) if assets else "",
        )
    )
    for i in range(0, len(wasm), CHUNK):
        yield marketplace_pb2.PublishRequest(chunk=wasm[i : i + CHUNK])
    for i in range(0, len(assets), CHUNK):
        yield marketplace_pb2.PublishRequest(assets_chunk=assets[i : i + CHUNK])


def _assets(folder: Path, meta: dict[str, object]) -> bytes:
    """The example's ``assets`` directory packed as tar.gz (b"" when it has none)."""
    if "assets" not in meta:
        return b""
    with tempfile.TemporaryDirectory(prefix="wasmgrid-example-") as tmp:
        packed = Path(tmp) / "assets.tar.gz"
        pack_directory(folder / str(meta["assets"]), packed)
        return packed.read_bytes()


def publish_examples(marketplace: str, token: str) -> list[str]:
    """Publish every example once; already-published versions are reported, not errors."""
    root = examples_dir()
    if root is None:
        return ["examples: no examples/modules directory found; skipped"]
    lines = []
    with grpc.insecure_channel(marketplace) as channel:
        stub = marketplace_pb2_grpc.MarketplaceServiceStub(channel)
        components = root.parent / "components"
        manifests = [*sorted(root.glob("*/module.toml")), *sorted(components.glob("*/module.toml"))]
        for manifest in manifests:
            meta = tomllib.loads(manifest.read_text())
            label = f"{meta['name']}@{meta['version']}"
            path = manifest.parent / str(meta["wasm"])
            if not path.is_file():  # a component built by `make examples`, not committed
                lines.append(f"skipped      {label}: {path.name} is not built (make examples)")
                continue
            wasm = path.read_bytes()
            assets = _assets(manifest.parent, meta)
            try:
                stub.Publish(
                    _requests(meta, wasm, assets),
                    metadata=(("authorization", f"Bearer {token}"),),
                    timeout=30,
                )
                lines.append(f"published    {label}")
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                if code == grpc.StatusCode.ALREADY_EXISTS:
                    lines.append(f"published    {label} (already there)")
                else:
                    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                    lines.append(f"publish of {label} failed: {code}: {details}")
    return lines
