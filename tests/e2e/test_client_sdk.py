"""The typed SDK (wasmgrid.client) against the running suite."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from wasmgrid.client import Client, WasmgridError

from .conftest import DevStackProcess

REPO = Path(__file__).resolve().parents[2]


async def test_sdk_publish_run_call_and_errors(dev_stack: DevStackProcess) -> None:
    base = f"http://127.0.0.1:{dev_stack.ports.gateway_http}"
    admin = (dev_stack.data_dir / "admin-token").read_text().strip()
    user = f"sdk{secrets.token_hex(3)}"
    async with Client(base, token=admin) as wg:
        created = await wg.create_user(user)
    async with Client(base, token=created["secret"]) as wg:
        assert (await wg.whoami())["user"]["username"] == user
        wasm = (REPO / "examples/modules/mathfn/mathfn.wasm").read_bytes()
        published = await wg.publish(
            f"{user}/calc",
            "1.0.0",
            wasm,
            description="sdk test",
            license="MIT",
            category="mathematics",
            tags=["sdk", "math"],
        )
        assert published["version"]["version"] == "1.0.0"
        assert sorted(published["version"]["tags"]) == ["math", "sdk"]
        result = await wg.call(f"{user}/calc@1.0.0", "divmod", 17, 5)
        assert result.results == [3, 2] and result.types == ["i32", "i32"]
        assert await wg.download(f"{user}/calc", "1.0.0") == wasm

        hello = await wg.run("examples/hello", b"sdk")
        assert hello.status == 200 and "SDK" in hello.text

        with pytest.raises(WasmgridError) as missing:
            await wg.run(f"{user}/no-such-module", b"")
        assert missing.value.status == 404 and "no-such-module" in missing.value.detail
        with pytest.raises(WasmgridError) as again:
            await wg.publish(f"{user}/calc", "1.0.0", wasm, license="MIT", category="mathematics")
        assert again.value.status == 409
        with pytest.raises(WasmgridError) as bad:
            await wg.call(f"{user}/calc", "divmod", 1)
        assert bad.value.status == 400 and "divmod" in bad.value.detail
