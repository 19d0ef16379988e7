"""Obtaining compiled modules: memory cache → disk artifact → blob/marketplace → compile.

A module is compiled off the request path: the first request (or a :meth:`prefetch`)
starts one load task per digest (fetch + verify + compile, or the disk artifact), and
every request for that digest waits on the same task, each only as long as its own
deadline allows. A request whose deadline comes first is answered :class:`Compiling`
(UNAVAILABLE, "compiling, N s so far") while the task goes on: a caller going away
never cancels a compile. Blocking work (disk, hashing, compile, deserialize) runs on
the loader's executor, never on the event loop.

The memory cache is bounded in bytes of compiled code (the module's code image, as
wasmtime maps it), least recently used first out.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from wasmgrid.common import wasmfeatures
from wasmgrid.common.errors import (
    Compiling,
    DataLoss,
    InvalidArgument,
    ResourceExhausted,
    ServiceError,
)
from wasmgrid.common.lru import LruMap
from wasmgrid.common.metrics import child
from wasmgrid.common.singleflight import SingleFlight
from wasmgrid.runtime import components
from wasmgrid.runtime.components import CompiledComponent
from wasmgrid.runtime.fetch import Fetcher
from wasmgrid.runtime.metrics import (
    ARTIFACTS_REJECTED,
    COMPILE_SECONDS,
    COMPILED_CACHE,
    COMPILES_IN_PROGRESS,
    COMPILING_ANSWERS,
    MODULE_CACHE_BYTES,
)
from wasmgrid.runtime.sandbox import BLOCKING_IMPORTS, Compiled, CompiledModule, describe_module
from wasmgrid.runtime.store import ArtifactStore, BlobStore

log = logging.getLogger(__name__)

T = TypeVar("T")
_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")
WASM_MAGIC = b"\0asm"
_REFUSED = "WebAssembly 3.0 runs; refused: " + ", ".join(
    f.name for f in wasmfeatures.FEATURES if not f.supported
)
#: How many refused digests are remembered.
INVALID_ENTRIES = 1024
#: Bounds of the retry hint given with a "compiling" answer, seconds.
RETRY_AFTER_MIN, RETRY_AFTER_MAX = 1, 10
#: Where an open file can be named by path (wasmtime loads artifacts by path).
_FD_DIR = "/proc/self/fd"


class CacheTier(enum.Enum):
    """Where compiled code came from (mirrors the proto enum)."""

    MEMORY = 1
    DISK = 2
    COMPILED = 3


def parse_digest(value: str, field: str = "module.digest") -> str:
    """The 64-hex digest from ``<hex>`` or ``sha256:<hex>``, else INVALID_ARGUMENT."""
    m = _DIGEST.match(value.strip().lower())
    if not m:
        shown = value if len(value) <= 80 else value[:80] + "…"
        raise InvalidArgument(
            f"{field} must be 64 hex characters of SHA-256 (optionally 'sha256:'-prefixed),"
            f" got {shown!r}"
        )
    return m.group(1)


@dataclass(frozen=True)
class Loaded:
    """A compiled module and where it came from for this request."""

    module: Compiled
    tier: CacheTier
    elapsed_seconds: float


def retry_after(seconds_so_far: float) -> int:
    """A retry hint for a compile that has run this long: longer compiles, later retries."""
    return int(max(RETRY_AFTER_MIN, min(RETRY_AFTER_MAX, round(seconds_so_far / 4))))


def code_bytes(module: wasmtime.Module) -> int:
    """Bytes of compiled code wasmtime holds for `module` (its code image)."""
    start, end = ctypes.c_void_p(), ctypes.c_void_p()
    ffi.wasmtime_module_image_range(module.ptr(), ctypes.byref(start), ctypes.byref(end))
    return max(0, (end.value or 0) - (start.value or 0))


class ModuleLoader:
    """The compiled-module cache: a byte-bounded in-memory LRU over disk artifacts.

    Core modules and components (told apart by their binary header) go through the same
    steps, artifacts and bounds; a component's cache weight is the size of its serialized
    compiled code (wasmtime reports no code image for components).
    """

    def __init__(  # noqa: PLR0913 - keyword-only collaborators, settings
        self,
        engine: wasmtime.Engine,
        linker: wasmtime.Linker,
        *,
        component_linker: wc.Linker,
        executor: Executor,
        blobs: BlobStore,
        artifacts: ArtifactStore | None,
        fetcher: Fetcher | None,
        max_cache_bytes: int,
        max_module_bytes: int,
    ) -> None:
        self.engine = engine
        self.linker = linker
        self.component_linker = component_linker
        self.executor = executor
        self.blobs = blobs
        self.artifacts = artifacts
        self.fetcher = fetcher
        self.max_cache_bytes = max_cache_bytes
        self.max_module_bytes = max_module_bytes
        self._compiled: LruMap[str, Compiled] = LruMap(
            1_000_000,
            max_weight=max_cache_bytes,
            weight=lambda compiled: compiled.code_bytes,
            keep_newest=True,
        )
        self._loads: SingleFlight[str, tuple[Compiled, CacheTier]] = SingleFlight("load")
        # Digests whose bytes did not compile or link: refused again without recompiling
        # (a module's bytes never change, so neither does the verdict).
        self._invalid: LruMap[str, str] = LruMap(INVALID_ENTRIES)
        self.hits = 0
        self.misses = 0
        #: Loads actually performed (fetch/compile/artifact), for tests and stats.
        self.loads = 0
        self.fetches = 0
        #: Compiles from wasm bytes (not artifact loads).
        self.compiles = 0

    def __len__(self) -> int:
        return len(self._compiled)

    def __contains__(self, digest: object) -> bool:
        """Whether `digest` is compiled and in memory."""
        return digest in self._compiled

    @property
    def in_progress(self) -> int:
        """Loads running now."""
        return len(self._loads)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def get(
        self, digest: str, wasm: bytes | None = None, wait: float | None = None
    ) -> Loaded:
        """The compiled module for `digest`; `wasm` (inline bytes) must hash to it.

        Waits at most `wait` seconds (None: as long as it takes) for a load in progress,
        then raises :class:`Compiling`; the load goes on either way.
        """
        started = time.perf_counter()
        cached = self._compiled.get(digest)
        if cached is not None:
            self.hits += 1
            child(COMPILED_CACHE, "memory_hit").inc()
            return Loaded(cached, CacheTier.MEMORY, time.perf_counter() - started)
        refused = self._invalid.get(digest)
        if refused is not None:
            raise InvalidArgument(refused)
        load = self._start(digest, wasm)
        try:
            # shield: a caller that goes away or runs out of time never cancels the load.
            compiled, tier = await asyncio.wait_for(asyncio.shield(load), wait)
        except TimeoutError:
            so_far = time.monotonic() - (self._loads.started_at(digest) or time.monotonic())
            COMPILING_ANSWERS.inc()
            raise Compiling(digest, so_far, retry_after(so_far)) from None
        return Loaded(compiled, tier, time.perf_counter() - started)

    def prefetch(self, digest: str) -> bool:
        """Start loading `digest` in the background (say, on news of a publish) unless
        it is cached, refused or already loading; True when a load was started."""
        if digest in self._compiled or digest in self._invalid or self._loads.running(digest):
            return False
        self._start(digest, None)
        return True

    def _start(self, digest: str, wasm: bytes | None) -> asyncio.Task[tuple[Compiled, CacheTier]]:
        return self._loads.start(digest, lambda: self._logged_load(digest, wasm))

    async def _logged_load(self, digest: str, wasm: bytes | None) -> tuple[Compiled, CacheTier]:
        try:
            return await self._load(digest, wasm)
        except ServiceError as exc:
            log.info("module load failed: %s", exc.message, extra={"digest": digest})
            raise
        except Exception:
            log.exception("module load failed", extra={"digest": digest})
            raise

    async def _load(self, digest: str, wasm: bytes | None) -> tuple[Compiled, CacheTier]:
        self.loads += 1
        COMPILES_IN_PROGRESS.inc()
        started = time.perf_counter()
        try:
            compiled: Compiled | None = None
            if self.artifacts is not None:
                compiled = await self._run(self._from_artifact, digest)
            tier = CacheTier.DISK
            if compiled is None:
                tier = CacheTier.COMPILED
                source: bytes | Path = wasm if wasm is not None else await self._blob(digest)
                try:
                    compiled = await self._run(self._compile, digest, source)
                except InvalidArgument as exc:
                    self._invalid.put(digest, exc.message)
                    raise
        finally:
            COMPILES_IN_PROGRESS.dec()
        seconds = time.perf_counter() - started
        COMPILE_SECONDS.labels(tier.name.lower()).observe(seconds)
        COMPILED_CACHE.labels("disk_hit" if tier is CacheTier.DISK else "miss").inc()
        log.info(
            "module loaded",
            extra={
                "digest": digest,
                "kind": "component" if isinstance(compiled, CompiledComponent) else "module",
                "source": tier.name.lower(),
                "seconds": round(seconds, 3),
            },
        )
        self.misses += 1
        self._keep(compiled)
        return compiled, tier

    @property
    def cache_bytes(self) -> int:
        """Compiled code held in memory, bytes."""
        return self._compiled.weight

    def _keep(self, compiled: Compiled) -> None:
        """Cache `compiled`, evicting the least recently used past the byte bound (the
        newest is kept even when it alone is larger: its callers need it now)."""
        self._compiled.put(compiled.digest, compiled)
        MODULE_CACHE_BYTES.set(self.cache_bytes)

    async def _blob(self, digest: str) -> Path:
        """The verified module file: on disk already, else downloaded into the store."""
        path: Path | None = await self._run(self.blobs.verified, digest)
        if path is not None:
            return path
        if self.fetcher is None:
            raise InvalidArgument(f"module {digest} is not local and no marketplace is configured")
        self.fetches += 1
        tmp = self.blobs.incoming()
        try:
            size, actual = await self.fetcher.fetch(digest, self.max_module_bytes, tmp)
            if actual != digest:
                raise DataLoss(
                    f"marketplace returned {size} bytes for digest {digest} whose sha256 is"
                    f" {actual}; refused, not run"
                )
            return await self._run(self.blobs.adopt, digest, tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def _from_artifact(self, digest: str) -> Compiled | None:
        assert self.artifacts is not None
        fd, reason, is_component = self.artifacts.open(digest)
        if fd is None:
            if reason != "missing":
                ARTIFACTS_REJECTED.labels(reason).inc()
            return None
        try:
            # By descriptor: exactly the file whose HMAC was just checked, mapped by
            # wasmtime without a copy in memory.
            where = (
                f"{_FD_DIR}/{fd}" if os.path.isdir(_FD_DIR) else str(self.artifacts.path(digest))
            )
            if is_component:
                component = wc.Component.deserialize_file(self.engine, where)
                code = os.fstat(fd).st_size
            else:
                module = wasmtime.Module.deserialize_file(self.engine, where)
        except wasmtime.WasmtimeError as exc:
            ARTIFACTS_REJECTED.labels("load").inc()
            log.warning("compiled artifact failed to load; recompiling: %s", exc)
            self.artifacts.remove(digest)
            return None
        finally:
            os.close(fd)
        try:
            size = self.blobs.path(digest).stat().st_size
        except FileNotFoundError:
            size = 0  # an inline module: the artifact is kept, its bytes are not
        if is_component:
            return self._prepare_component(digest, component, size, code)
        return self._prepare(digest, module, size)

    def check_size(self, size: int, field: str = "module") -> None:
        """Refuse a module over the size cap."""
        if size > self.max_module_bytes:
            raise ResourceExhausted(
                f"{field} is {size} bytes; the limit is {self.max_module_bytes}"
                " (WASMGRID_RUNTIME_MAX_MODULE_BYTES)"
            )

    def check_bytes(self, wasm: bytes, field: str = "module") -> None:
        """Refuse bytes that are too large or not a wasm binary."""
        self.check_size(len(wasm), field)
        _check_magic(wasm[:8], field)

    def _compile(self, digest: str, source: bytes | Path) -> Compiled:
        field = f"module {digest}"
        if isinstance(source, Path):
            size = source.stat().st_size
            self.check_size(size, field)
            with open(source, "rb") as f:
                _check_magic(f.read(8), field)
                f.seek(0)
                wasm = f.read()  # compiling needs the bytes; dropped right after
        else:
            wasm = source
            size = len(wasm)
            self.check_bytes(wasm, field)
        self.compiles += 1
        is_component = wasmfeatures.binary_kind(wasm[:8]) is wasmfeatures.BinaryKind.COMPONENT
        what = "component" if is_component else "module"
        try:
            if is_component:
                code: wasmtime.Module | wc.Component = wc.Component(self.engine, wasm)
            else:
                code = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as exc:
            detail = " ".join(str(exc).split())
            raise InvalidArgument(
                f"{what} {digest} does not compile: invalid WebAssembly or a feature this"
                f" runtime does not run ({_REFUSED}): {detail[:2000]}"
            ) from None
        del wasm
        payload: bytearray | None = None
        # A component's cache weight is its serialized size, so it is made either way.
        if self.artifacts is not None or is_component:
            try:
                payload = code.serialize()
            except wasmtime.WasmtimeError as exc:
                log.warning("could not serialize compiled code: %s", exc, extra={"digest": digest})
        # Linked (or its imports checked) before its artifact is kept: a refused module
        # leaves nothing on disk.
        compiled: Compiled
        if isinstance(code, wc.Component):
            compiled = self._prepare_component(digest, code, size, len(payload or b""))
        else:
            compiled = self._prepare(digest, code, size)
        if self.artifacts is not None and payload is not None:
            try:
                self.artifacts.put(digest, payload, component=is_component)
            except OSError as exc:
                log.warning("could not write compiled artifact: %s", exc, extra={"digest": digest})
        return compiled

    def _prepare_component(
        self, digest: str, component: wc.Component, size: int, code: int
    ) -> CompiledComponent:
        may_block = components.check_imports(self.engine, component, digest)
        functions, run = components.describe(self.engine, component)
        return CompiledComponent(
            digest=digest,
            component=component,
            linker=self.component_linker,
            wasm_bytes=size,
            functions=functions,
            run_export=run,
            may_block=may_block,
            code_bytes=code,
        )

    def _prepare(self, digest: str, module: wasmtime.Module, size: int) -> CompiledModule:
        try:
            pre = self.linker.instantiate_pre(module)
        except wasmtime.WasmtimeError as exc:
            raise InvalidArgument(
                f"module {digest} cannot be linked (only WASI preview 1 imports are provided):"
                f" {' '.join(str(exc).split())}"
            ) from None
        functions, memory = describe_module(module)
        return CompiledModule(
            digest=digest,
            module=module,
            pre=pre,
            wasm_bytes=size,
            functions=functions,
            is_command="_start" in functions,
            may_block=any(
                i.module == "wasi_snapshot_preview1" and i.name in BLOCKING_IMPORTS
                for i in module.imports
            ),
            has_initialize="_initialize" in functions,
            memory_export=memory,
            code_bytes=code_bytes(module),
        )


def _check_magic(head: bytes, field: str) -> None:
    if not head.startswith(WASM_MAGIC):
        raise InvalidArgument(
            f"{field} is not a WebAssembly binary (no \\0asm magic; text format is not"
            f" accepted), first bytes {head[:8]!r}"
        )
