"""The seed corpora under ``fuzz/corpus/<target>/``, written from their sources.

``python -m fuzz seeds`` rewrites them: the example modules and the runtime's WAT test
modules (one per WebAssembly feature) for ``wasm``, the example routes file and one
file per middleware for ``routes``, and small hand-written inputs for the others. A
seed is a well-formed input that exercises one path; libFuzzer mutates from there.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zipfile

import wasmtime
import zstandard

from fuzz.targets import BY_NAME, FUZZ_DIR

ROOT = FUZZ_DIR.parent

_ROUTE = "routes:\n  - name: r\n    path: {path}\n    module: ns/mod@^1\n{extra}"
ROUTES = {
    "empty.yaml": "",
    "no-routes.yaml": "routes: []\n",
    "params.yaml": _ROUTE.format(path="/a/{x}/b/{y}", extra="    args: ['{x}', '--', '{y}']\n"),
    "prefix.yaml": _ROUTE.format(path="/files/*", extra="    methods: [GET, PUT]\n"),
    "host.yaml": _ROUTE.format(path="/h", extra="    host: '*.example.com'\n"),
    "function.yaml": _ROUTE.format(path="/f", extra="    mode: function\n    function: add\n"),
    "limits.yaml": _ROUTE.format(
        path="/l",
        extra="    limits: {timeout: 500ms, memory: 64MiB, fuel: 1000, max_output: 1KB}\n",
    ),
    "auth.yaml": _ROUTE.format(path="/a", extra="    middleware:\n      - auth: {scopes: [run]}\n"),
    "rate.yaml": _ROUTE.format(
        path="/r",
        extra="    middleware:\n      - rate_limit: {algorithm: sliding_window, limit: 5,"
        " window: 1m, key: token}\n",
    ),
    "cache.yaml": _ROUTE.format(
        path="/c", extra="    middleware:\n      - cache: {ttl: 30s, vary: [Accept]}\n"
    ),
    "cors.yaml": _ROUTE.format(
        path="/o",
        extra="    middleware:\n      - cors: {allow_origins: ['https://a.example'],"
        " allow_methods: [GET], allow_credentials: true, max_age: 60}\n",
    ),
    "two.yaml": _ROUTE.format(path="/x/{id}", extra="    methods: [GET]\n")
    + "  - name: s\n    path: /x/static\n    module: ns/other\n    methods: [POST]\n",
}

CGI = {
    "raw.txt": b"hello, world\n",
    "lf.txt": b"Content-Type: text/plain\n\nbody\n",
    "crlf.txt": b"Content-Type: text/html; charset=utf-8\r\nX-Custom: 1\r\n\r\n<p>hi</p>",
    "status.txt": b"Status: 404 Not Found\nContent-Type: text/plain\n\nno such thing",
    "status-no-reason.txt": b"Status: 201\n\n",
    "local-redirect.txt": b"Location: /elsewhere?x=1\n\n",
    "client-redirect.txt": b"Location: https://example.com/\n\n",
    "redirect-status.txt": b"Status: 307 Temporary Redirect\nLocation: /moved\n\nmoved",
    "hop-by-hop.txt": b"Connection: close\nContent-Length: 3\nX-Ok: yes\n\nabc",
    "headers-only.txt": b"X-A: 1\nX-B: 2",
    "latin1.txt": b"X-Name: caf\xe9\n\n",
    "repeated.txt": b"Set-Cookie: a=1\nSet-Cookie: b=2\n\n",
}

_B = "wgboundary"


def _multipart(*parts: tuple[str, bytes], boundary: str = _B) -> bytes:
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + data
        + b"\r\n"
        for name, data in parts
    )
    return body + f"--{boundary}--\r\n".encode()


_META = b'{"description": "d", "license": "MIT", "tags": ["a", "b"], "version": "1.0.0"}'
_WASM = b"\x00asm\x01\x00\x00\x00"
_CT = f"multipart/form-data; boundary={_B}\n".encode()
MULTIPART = {
    "publish.txt": _CT + _multipart(("metadata", _META), ("module", _WASM)),
    "empty-metadata.txt": _CT + _multipart(("metadata", b""), ("module", _WASM)),
    "quoted-boundary.txt": b'multipart/form-data; boundary="a b"\n'
    + _multipart(("metadata", b"{}"), ("module", _WASM), boundary="a b"),
    "wrong-order.txt": _CT + _multipart(("module", _WASM), ("metadata", _META)),
    "one-part.txt": _CT + _multipart(("metadata", _META)),
    "bad-json.txt": _CT + _multipart(("metadata", b"{"), ("module", _WASM)),
    "raw-wasm.txt": b"application/wasm\n" + _WASM,
    "unsupported.txt": b"text/plain\nhello",
}

SEMVER = {
    "plain.txt": "1.2.3\x00^1.2\x001.2.4\x001.3.0\x002.0.0",
    "prerelease.txt": "1.0.0-rc.1+build.5\x00=1.0.0-rc.1\x001.0.0-rc.2\x001.0.0",
    "range.txt": "0.1.0\x00>=0.1, <0.3\x000.2.9\x000.3.0",
    "tilde.txt": "2.5.0\x00~2.5.0\x002.5.9\x002.6.0",
    "wildcard.txt": "3.0.0\x001.x\x001.9.9\x00*",
    "latest.txt": "0.0.1\x00latest\x000.0.2-alpha\x000.0.3",
    "caret-zero.txt": "0.0.3\x00^0.0.3\x000.0.4\x000.0.3-beta.2",
    "compare.txt": "1.0.0-alpha.1\x00<1.0.0\x001.0.0-alpha.beta\x001.0.0-beta.11",
}

#: Hand-made modules beside the compiled ones: the smallest module, and a component.
WASM_EXTRA = {
    "empty-module.wasm": _WASM,
    "component-header.wasm": b"\x00asm\x0d\x00\x01\x00",
}


def _wasm_seeds() -> dict[str, bytes]:
    seeds = dict(WASM_EXTRA)
    for path in sorted((ROOT / "examples" / "modules").glob("*/*.wasm")):
        seeds[path.name] = path.read_bytes()
    for path in sorted((ROOT / "services" / "runtime" / "tests" / "wat").rglob("*.wat")):
        try:
            seeds[path.stem + ".wasm"] = bytes(wasmtime.wat2wasm(path.read_text()))
        except wasmtime.WasmtimeError:
            continue  # a feature wat2wasm does not encode: the runtime's tests skip it too
    return seeds


def _tar(members: list[tuple[str, bytes | str | None]]) -> bytes:
    """A tar of (path, file bytes | symlink target | None for a directory), mtimes 0."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, body in members:
            info = tarfile.TarInfo(path)
            if body is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


_TREE: list[tuple[str, bytes | str | None]] = [
    ("lib", None),
    ("lib/std.lua", b"return {}\n"),
    ("lib/data.bin", bytes(range(256))),
    ("README", b"assets\n"),
    ("latest", "lib/std.lua"),
]


def _archive_seeds() -> dict[str, bytes]:
    tree = _tar(_TREE)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        for path, body in _TREE:
            if isinstance(body, bytes):
                z.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), body)
    return {
        "tree.tar": tree,
        "tree.tar.gz": gzip.compress(tree, mtime=0),
        "tree.tar.zst": zstandard.ZstdCompressor().compress(tree),
        "tree.zip": zipped.getvalue(),
        # Refused, each naming its entry: libFuzzer mutates from the edge of each rule.
        "dotdot.tar": _tar([("a/../../escape", b"x")]),
        "absolute.tar": _tar([("/etc/passwd", b"x")]),
        "link-out.tar": _tar([("up", "../outside")]),
        "duplicate.tar": _tar([("a", b"1"), ("./a", b"2")]),
    }


def _write(target: str, files: dict[str, bytes]) -> int:
    corpus = BY_NAME[target].corpus
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    for name, data in files.items():
        (corpus / name).write_bytes(data)
    return len(files)


def write_all() -> dict[str, int]:
    """Rewrite every target's seed corpus; seeds per target."""
    return {
        "wasm": _write("wasm", _wasm_seeds()),
        "routes": _write(
            "routes",
            {k: v.encode() for k, v in ROUTES.items()}
            | {
                "example.yaml": (ROOT / "services" / "gateway" / "routes.example.yaml").read_bytes()
            },
        ),
        "cgi": _write("cgi", CGI),
        "multipart": _write("multipart", MULTIPART),
        "semver": _write("semver", {k: v.encode() for k, v in SEMVER.items()}),
        "archive": _write("archive", _archive_seeds()),
    }
