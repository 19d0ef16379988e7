"""The typed SDK (wasmgrid.client) against the running suite, through the real gateway."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from pathlib import Path

import pytest

from wasmgrid.client import Client, ProblemError, SyncClient, TypedArg

from .conftest import DevStackProcess

REPO = Path(__file__).resolve().parents[2]


def _base(dev_stack: DevStackProcess) -> str:
    return f"http://127.0.0.1:{dev_stack.ports.gateway_http}"


async def test_sdk_publish_run_call_and_errors(dev_stack: DevStackProcess, tmp_path: Path) -> None:
    base = _base(dev_stack)
    admin = (dev_stack.data_dir / "admin-token").read_text().strip()
    user = f"sdk{secrets.token_hex(3)}"
    async with Client(base, token=admin) as wg:
        created = await wg.create_user(user)
    assert created.user.username == user
    assert created.user.role == "publisher"
    assert created.secret.startswith("wgt_")
    assert sorted(created.token.scopes) == ["publish", "rate", "yank"]
    async with Client(base, token=created.secret) as wg:
        me = await wg.whoami()
        assert me.user.username == user
        assert me.token.id == created.token.id
        wasm = (REPO / "examples/modules/mathfn/mathfn.wasm").read_bytes()
        module_file = tmp_path / "mathfn.wasm"
        module_file.write_bytes(wasm)
        published = await wg.publish(
            f"{user}/calc",
            "1.0.0",
            module_file,
            description="sdk test",
            license="MIT",
            category="mathematics",
            tags=["sdk", "math"],
        )
        assert published.version == "1.0.0"
        assert published.digest == hashlib.sha256(wasm).hexdigest()
        assert sorted(published.tags) == ["math", "sdk"]
        assert published.validation is not None
        assert published.validation.valid
        assert published.validation.kind == "reactor"

        result = await wg.call(f"{user}/calc@1.0.0", "divmod", 17, 5)
        assert result.results == (3, 2)
        assert result.types == ("i32", "i32")
        assert result.version == "1.0.0"
        fib = await wg.call(f"{user}/calc@^1", "fib", TypedArg("i64", 50))
        assert fib.results == (12586269025,)
        downloaded = await wg.download(f"{user}/calc", "1.0.0")
        assert downloaded.data == wasm
        assert downloaded.digest == published.digest

        hello = await wg.run("examples/hello", b"sdk")
        assert hello.status == 200
        assert hello.text == "SDK"
        assert hello.module == "examples/hello@1.0.0"

        module = await wg.module(f"{user}/calc")
        assert module.latest_version == "1.0.0"
        assert module.kind == "reactor"
        versions = await wg.all_versions(f"{user}/calc")
        assert [v.version for v in versions] == ["1.0.0"]
        yanked = await wg.yank(f"{user}/calc", "1.0.0", "sdk test")
        assert yanked.yanked
        assert yanked.yank_reason == "sdk test"
        assert not (await wg.unyank(f"{user}/calc", "1.0.0")).yanked

        with pytest.raises(ProblemError) as missing:
            await wg.run(f"{user}/no-such-module", b"")
        assert missing.value.status == 404
        assert "no-such-module" in missing.value.detail
        with pytest.raises(ProblemError) as again:
            await wg.publish(f"{user}/calc", "1.0.0", wasm, license="MIT", category="mathematics")
        assert again.value.status == 409
        with pytest.raises(ProblemError) as bad:
            await wg.call(f"{user}/calc", "divmod", 1)
        assert bad.value.status == 400
        assert "divmod" in bad.value.detail
        with pytest.raises(ProblemError) as trapped:
            await wg.call(f"{user}/calc", "divmod", 1, 0)
        assert trapped.value.status == 500
        assert trapped.value.outcome == "trap"

    async with Client(base, token="wgt_not-a-real-token") as wg:
        with pytest.raises(ProblemError) as unauthenticated:
            await wg.whoami()
    assert unauthenticated.value.status == 401


async def test_sync_client_against_the_suite(dev_stack: DevStackProcess) -> None:
    def script() -> tuple[str, int]:
        with SyncClient(_base(dev_stack)) as wg:
            page = wg.search("hello", limit=5)
            return page.modules[0].name, wg.run("examples/hello", b"x").status

    assert await asyncio.to_thread(script) == ("examples/hello", 200)
