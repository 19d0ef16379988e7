"""Read-only assets and per-call scratch directories, through Invoke with the C example
``files`` (reads, lists and writes the paths it is given)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import grpc
import pytest

from wasmgrid.api.runtime.v1 import runtime_pb2 as pb
from wasmgrid.runtime.testing import (
    Marketplace,
    Runtime,
    RuntimeFactory,
    by_digest,
    example_module,
    sha,
)

REPO = Path(__file__).resolve().parents[3]
FILES = example_module(REPO, "files")


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


TREE = tar_of({"data/words.txt": b"alpha\nbeta\n", "README": b"hello"})


def call(
    path: str,
    query: str = "",
    *,
    stdin: bytes = b"",
    args: tuple[str, ...] = (),
    assets: pb.Assets | None = None,
    scratch: pb.Scratch | None = None,
) -> pb.InvokeRequest:
    request = pb.InvokeRequest(
        module=by_digest(FILES, "examples/files@1.0.0"),
        stdin=stdin,
        args=list(args),
        env=[pb.EnvVar(name="PATH_INFO", value=path), pb.EnvVar(name="QUERY_STRING", value=query)],
    )
    if assets is not None:
        request.assets.CopyFrom(assets)
    if scratch is not None:
        request.scratch.CopyFrom(scratch)
    return request


def body(resp: pb.InvokeResponse) -> bytes:
    assert resp.outcome == pb.OUTCOME_OK, resp.trap_message
    return resp.output.stdout.split(b"\r\n\r\n", 1)[1]


@pytest.fixture
async def files_runtime(make_runtime: RuntimeFactory, marketplace: Marketplace) -> Runtime:
    marketplace.state.blobs[sha(FILES)] = FILES
    marketplace.state.blobs[sha(TREE)] = TREE
    return await make_runtime(marketplace_addr=marketplace.address, allow_inline=False)


async def test_a_c_module_reads_its_assets_and_they_are_fetched_once(
    files_runtime: Runtime, marketplace: Marketplace, tmp_path: Path
) -> None:
    assets = pb.Assets(digest=sha(TREE), mount="/assets")
    for _ in range(3):
        resp = await files_runtime.stub.Invoke(call("/assets/data/words.txt", assets=assets))
        assert body(resp) == b"alpha\nbeta\n"
    listed = await files_runtime.stub.Invoke(call("/assets", "op=ls", assets=assets))
    assert body(listed) == b"README\ndata\n"
    # argv names the file (what a route's args = ["{assets}/README"] becomes).
    by_arg = await files_runtime.stub.Invoke(
        call("", args=("/data/README",), assets=pb.Assets(digest=sha(TREE), mount="/data"))
    )
    assert body(by_arg) == b"hello"
    asked = [r.digest for r in marketplace.state.requests]
    assert asked.count(sha(TREE)) == 1
    assert (
        tmp_path / "runtime" / "assets" / "worker-0" / sha(TREE) / "data" / "words.txt"
    ).read_bytes() == (b"alpha\nbeta\n")


async def test_a_call_without_assets_sees_no_files(files_runtime: Runtime) -> None:
    resp = await files_runtime.stub.Invoke(call("/assets/README"))
    assert resp.output.stdout == (
        b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\n"
        b"read /assets/README: Capabilities insufficient\n"
    )


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/assets/README", "op=write"),
        ("/assets/new.txt", "op=write"),
        ("/assets/data/x", "op=fill&n=10"),
    ],
)
async def test_a_write_to_the_assets_fails_and_the_next_call_sees_nothing_changed(
    files_runtime: Runtime, tmp_path: Path, path: str, query: str
) -> None:
    assets = pb.Assets(digest=sha(TREE), mount="/assets")
    resp = await files_runtime.stub.Invoke(call(path, query, stdin=b"overwritten", assets=assets))
    assert resp.outcome == pb.OUTCOME_OK
    head, text = resp.output.stdout.split(b"\r\n\r\n", 1)
    assert head == b"Status: 403 Forbidden\r\nContent-Type: text/plain"
    op = query.split("&")[0].removeprefix("op=")
    assert text == f"{op} {path}: Operation not permitted\n".encode()
    assert body(await files_runtime.stub.Invoke(call("/assets/README", assets=assets))) == b"hello"
    listed = await files_runtime.stub.Invoke(call("/assets", "op=ls", assets=assets))
    assert body(listed) == b"README\ndata\n"
    tree = tmp_path / "runtime" / "assets" / "worker-0" / sha(TREE)
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == [
        "README",
        "data",
        "data/words.txt",
    ]


async def test_scratch_files_of_one_call_are_gone_in_the_next(files_runtime: Runtime) -> None:
    scratch = pb.Scratch()  # /tmp, default caps
    wrote = await files_runtime.stub.Invoke(
        call("/tmp/note.txt", "op=write", stdin=b"temp", scratch=scratch)
    )
    assert body(wrote) == b"wrote 4 bytes to /tmp/note.txt\n"
    listed = await files_runtime.stub.Invoke(call("/tmp", "op=ls", scratch=scratch))
    assert body(listed) == b""
    missing = await files_runtime.stub.Invoke(call("/tmp/note.txt", scratch=scratch))
    assert missing.output.stdout.startswith(b"Status: 404")
    assert os.listdir(files_runtime.service.scratch_parent) == [
        n for n in os.listdir(files_runtime.service.scratch_parent) if not n.startswith("scratch-")
    ]


async def test_scratch_and_assets_together_at_their_own_mounts(files_runtime: Runtime) -> None:
    assets = pb.Assets(digest=sha(TREE), mount="/assets")
    scratch = pb.Scratch(mount="/work")
    wrote = await files_runtime.stub.Invoke(
        call("/work/out", "op=write", stdin=b"x", assets=assets, scratch=scratch)
    )
    assert body(wrote) == b"wrote 1 bytes to /work/out\n"


async def test_the_scratch_byte_cap_stops_the_guest_and_nothing_is_left(
    files_runtime: Runtime,
) -> None:
    scratch = pb.Scratch(max_bytes=1 << 20)
    resp = await files_runtime.stub.Invoke(
        call("/tmp/big", "op=fill&n=1073741824", scratch=scratch)
    )
    assert resp.outcome == pb.OUTCOME_SCRATCH_LIMIT
    assert resp.trap_message.startswith("scratch space exceeded its limit of 1048576 bytes (")
    assert not [
        n for n in os.listdir(files_runtime.service.scratch_parent) if n.startswith("scratch-")
    ]
    within = await files_runtime.stub.Invoke(call("/tmp/small", "op=fill&n=65536", scratch=scratch))
    assert body(within) == b"wrote 65536 bytes to /tmp/small\n"


async def test_without_scratch_the_guest_cannot_write_anywhere(files_runtime: Runtime) -> None:
    resp = await files_runtime.stub.Invoke(call("/tmp/x", "op=write", stdin=b"x"))
    head, text = resp.output.stdout.split(b"\r\n\r\n", 1)
    assert head == b"Status: 403 Forbidden\r\nContent-Type: text/plain"
    assert text == b"write /tmp/x: Capabilities insufficient\n"


async def test_bad_mounts_and_digests_are_refused_naming_the_field(files_runtime: Runtime) -> None:
    cases = [
        (pb.Assets(digest="nope"), None, "assets.digest must be 64 hex characters"),
        (
            pb.Assets(digest=sha(TREE), mount="relative"),
            None,
            "assets.mount 'relative' must be an absolute path (start with '/')",
        ),
        (None, pb.Scratch(mount="/"), "scratch.mount must not be '/' (the guest's root)"),
        (
            pb.Assets(digest=sha(TREE), mount="/tmp"),
            pb.Scratch(),
            "scratch.mount and assets.mount are both '/tmp'",
        ),
    ]
    for assets, scratch, message in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await files_runtime.stub.Invoke(call("/x", assets=assets, scratch=scratch))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.value.details() or "").startswith(message)


async def test_assets_that_do_not_match_their_digest_are_refused(
    make_runtime: RuntimeFactory, marketplace: Marketplace
) -> None:
    marketplace.state.blobs[sha(FILES)] = FILES
    marketplace.state.blobs[sha(TREE)] = tar_of({"evil": b"swapped"})
    rt = await make_runtime(marketplace_addr=marketplace.address, allow_inline=False)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rt.stub.Invoke(call("/assets/evil", assets=pb.Assets(digest=sha(TREE))))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").endswith("; refused")
