"""Assets end to end through HTTP: a multipart publish with an ``assets`` part, the
version listing them, ``POST /v1/run`` reading them in a C module, a route whose args
name a file in them, a route with scratch space, and a bad archive refused by name."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import aiohttp

from wasmgrid.common.testing import Poll

from .conftest import Infra, StartGateway

REPO = Path(__file__).resolve().parents[3]
FILES = (REPO / "examples/modules/files/files.wasm").read_bytes()


def tar_gz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def form(archive: bytes, **metadata: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field(
        "metadata",
        json.dumps({"license": "MIT", "category": "utilities", **metadata}),
        content_type="application/json",
    )
    data.add_field("module", FILES, filename="files.wasm", content_type="application/wasm")
    data.add_field("assets", archive, filename="assets.tar.gz", content_type="application/gzip")
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ROUTES = """
routes:
  - name: words
    path: /words
    module: assetsgw/files
    args: ["{assets}/data/words.txt"]
  - name: notes
    path: /notes/*
    module: assetsgw/files
    scratch: {path: /scratch, max_size: 1MiB, max_files: 10}
"""


async def test_a_module_published_with_assets_reads_them_through_run_and_routes(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway(ROUTES)
    http, url = gw.http, gw.url
    archive = tar_gz({"data/words.txt": b"alpha\nbeta\n", "README": b"hello"})
    async with http.put(
        url("/v1/modules/assetsgw/files/1.0.0"),
        data=form(archive, assets_mount="/share"),
        headers=bearer(infra.admin),
    ) as resp:
        published = await resp.json()
        assert resp.status == 201, published
    assets = published["version"]["assets"]
    assert (assets["mount"], assets["file_count"], assets["content_bytes"]) == ("/share", 2, "16")
    async with http.get(url("/v1/modules/assetsgw/files/versions/1.0.0")) as resp:
        assert (await resp.json())["version"]["assets"] == assets

    async with http.post(url("/v1/run/assetsgw/files/share/data/words.txt")) as resp:
        assert resp.status == 200
        assert await resp.read() == b"alpha\nbeta\n"
    async with http.post(url("/v1/run/assetsgw/files/share/README?op=write"), data=b"x") as resp:
        assert resp.status == 403  # the module's answer: the assets are read-only
        assert await resp.read() == b"write /share/README: Operation not permitted\n"
    async with http.post(url("/v1/run/assetsgw/files/share/README")) as resp:
        assert await resp.read() == b"hello"
    async with http.get(url("/words")) as resp:
        assert resp.status == 200
        assert await resp.read() == b"alpha\nbeta\n"

    async with http.post(url("/notes/scratch/n.txt?op=write"), data=b"kept?") as resp:
        assert await resp.read() == b"wrote 5 bytes to /scratch/n.txt\n"
    async with http.post(url("/notes/scratch?op=ls")) as resp:
        assert await resp.read() == b""
    async with http.post(url("/notes/scratch/big?op=fill&n=104857600")) as resp:
        assert resp.status == 500  # a guest fault
        problem = await resp.json(content_type=None)
    assert problem["type"].endswith("/guest-scratch-limit")
    assert problem["fault"] == "guest"
    assert problem["detail"].startswith(
        "module assetsgw/files@1.0.0: scratch space exceeded its limit of 1048576 bytes ("
    )


async def test_an_archive_with_an_escaping_path_is_refused_naming_it(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    async with gw.http.put(
        gw.url("/v1/modules/assetsgw/evil/1.0.0"),
        data=form(tar_gz({"../escape": b"x"})),
        headers=bearer(infra.admin),
    ) as resp:
        assert resp.status == 400
        problem = await resp.json(content_type=None)
    assert problem["detail"] == "assets entry '../escape': '..' in the path"


async def test_a_publish_through_the_gateway_makes_the_runtime_compile_before_the_first_call(
    start_gateway: StartGateway, infra: Infra, poll: Poll
) -> None:
    import hashlib

    import wasmtime

    gw = await start_gateway()
    # A module no test published before: its digest is new to the runtime.
    wasm = bytes(wasmtime.wat2wasm('(module (func (export "_start")) (func (export "feed_test")))'))
    digest = hashlib.sha256(wasm).hexdigest()
    loader = infra.runtime.service.loader
    assert digest not in loader
    async with gw.http.put(
        gw.url("/v1/modules/assetsgw/fresh/1.0.0?license=MIT&category=utilities"),
        data=wasm,
        headers={**bearer(infra.admin), "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 201, await resp.text()

    async def compiled() -> bool:
        return digest in loader

    await poll(compiled, "the runtime to compile the new version", 30)
    compiles = loader.compiles
    async with gw.http.post(gw.url("/v1/run/assetsgw/fresh")) as resp:
        assert resp.status == 200, await resp.text()
    assert loader.compiles == compiles  # the first call compiled nothing


async def test_an_admin_sets_a_namespace_cap_that_the_gateway_and_marketplace_honour(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway(namespace_limits_ttl_seconds=0)
    http, url = gw.http, gw.url
    async with http.post(url("/v1/users"), json={"username": "capped"}) as resp:
        owner = (await resp.json())["secret"]
    async with http.get(url("/v1/namespaces/capped/limits")) as resp:
        assert resp.status == 200
        default = await resp.json()
    assert (default["max_module_bytes"], default.get("custom", False)) == (str(50 << 20), False)

    body = {"max_module_bytes": 4096, "max_assets_bytes": 4096}
    async with http.put(
        url("/v1/namespaces/capped/limits"), json=body, headers=bearer(owner)
    ) as resp:
        assert resp.status == 403
    async with http.put(
        url("/v1/namespaces/capped/limits"), json=body, headers=bearer(infra.admin)
    ) as resp:
        assert resp.status == 200
        assert await resp.json() == {
            "namespace": "capped",
            "max_module_bytes": "4096",
            "max_assets_bytes": "4096",
            "custom": True,
        }
    # Refused at the edge from its declared length, before any byte reaches the registry.
    big = FILES  # 46 KB: over the module cap, within the edge's allowance (+256 KiB)
    async with http.put(
        url("/v1/modules/capped/files/1.0.0?license=MIT&category=utilities"),
        data=big + b"\0" * (300 * 1024),
        headers={**bearer(owner), "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 413
        problem = await resp.json(content_type=None)
    assert problem["detail"] == (
        f"module upload of {len(big) + 300 * 1024} bytes exceeds the {8192 + 256 * 1024}-byte"
        " limit of namespace 'capped'"
    )
    # Within the edge's allowance but over the module cap: the marketplace names the cap.
    async with http.put(
        url("/v1/modules/capped/files/1.0.0?license=MIT&category=utilities"),
        data=big,
        headers={**bearer(owner), "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 400
        problem = await resp.json(content_type=None)
    assert problem["detail"] == (
        f"module of metadata.size_bytes {len(big)} is above the limit of 4096 bytes of"
        " namespace 'capped' (an admin can raise it with SetNamespaceLimits)"
    )
    async with http.put(
        url("/v1/namespaces/capped/limits"),
        json={"max_module_bytes": 1 << 20},
        headers=bearer(infra.admin),
    ) as resp:
        assert resp.status == 200
    async with http.put(
        url("/v1/modules/capped/files/1.0.0?license=MIT&category=utilities"),
        data=big,
        headers={**bearer(owner), "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 201, await resp.text()


async def test_a_version_that_asks_for_scratch_space_gets_it_on_every_call(
    start_gateway: StartGateway, infra: Infra
) -> None:
    gw = await start_gateway()
    http, url = gw.http, gw.url
    data = aiohttp.FormData()
    data.add_field(
        "metadata",
        json.dumps(
            {
                "license": "MIT",
                "category": "utilities",
                "scratch": {"mount": "/work", "max_bytes": 1 << 20, "max_files": 4},
            }
        ),
        content_type="application/json",
    )
    data.add_field("module", FILES, filename="files.wasm", content_type="application/wasm")
    async with http.put(
        url("/v1/modules/assetsgw/scratchy/1.0.0"), data=data, headers=bearer(infra.admin)
    ) as resp:
        published = await resp.json()
        assert resp.status == 201, published
    assert published["version"]["scratch"] == {
        "mount": "/work",
        "max_bytes": str(1 << 20),
        "max_files": 4,
    }
    async with http.post(url("/v1/run/assetsgw/scratchy/work/a.txt?op=write"), data=b"hi") as resp:
        assert await resp.read() == b"wrote 2 bytes to /work/a.txt\n"
    async with http.post(url("/v1/run/assetsgw/scratchy/work?op=ls")) as resp:
        assert (resp.status, await resp.read()) == (200, b"")  # a new directory per call
    async with http.post(url("/v1/run/assetsgw/scratchy/work/big?op=fill&n=67108864")) as resp:
        assert resp.status == 500  # a guest fault
        problem = await resp.json(content_type=None)
    assert problem["type"].endswith("/guest-scratch-limit")
    assert problem["fault"] == "guest"
    assert problem["detail"].startswith(
        "module assetsgw/scratchy@1.0.0: scratch space exceeded its limit of 1048576 bytes ("
    )
    bad = aiohttp.FormData()
    bad.add_field(
        "metadata",
        json.dumps({"license": "MIT", "category": "utilities", "scratch": {"mount": "tmp"}}),
        content_type="application/json",
    )
    bad.add_field("module", FILES, filename="files.wasm", content_type="application/wasm")
    async with http.put(
        url("/v1/modules/assetsgw/scratchy/1.0.1"), data=bad, headers=bearer(infra.admin)
    ) as resp:
        assert resp.status == 400
        problem = await resp.json(content_type=None)
    assert problem["detail"] == (
        "metadata.scratch.mount 'tmp' must be an absolute path (start with '/')"
    )
