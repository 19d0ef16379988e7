"""Running a module file on this machine, in the runtime's own sandbox, with no server.

`wasmgrid run ./x.wasm` and `wasmgrid call ./x.wasm f 1 2` start the runtime
service's engine, module loader and execution pool in-process (not its gRPC
server) and run one call exactly as the runtime does: the same feature policy,
the same fresh Store and WASI context without preopens, and the same limits —
the runtime's defaults, or the ``WASMGRID_RUNTIME_DEFAULT_*`` /
``WASMGRID_RUNTIME_MAX_*`` variables when set, as for the service.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmgrid.cli.app import CliError
from wasmgrid.common.errors import ServiceError
from wasmgrid.common.settings import load_settings
from wasmgrid.runtime.components import CompiledComponent, checked_call_args
from wasmgrid.runtime.limits import AppliedLimits, LimitValues, resolve_limits
from wasmgrid.runtime.sandbox import CallSpec, Compiled, CompiledModule, ExecutionResult, Value
from wasmgrid.runtime.service import RuntimeService
from wasmgrid.runtime.settings import RuntimeSettings
from wasmgrid.runtime.validation import check_args, check_call, check_env


class NoMarketplace:
    """A local run has its bytes; nothing is fetched."""

    async def fetch(
        self, digest: str, max_bytes: int, dest: Path, *, kind: str = "module"
    ) -> tuple[int, str]:
        raise CliError(f"{kind} {digest} is not local")


@dataclass(frozen=True)
class LocalResult:
    """One local execution and the limits it ran under."""

    result: ExecutionResult
    limits: AppliedLimits
    digest: str
    #: The export's signature for a call (``add(i32, i32) -> i32``), else "".
    signature: str = ""


def exports(compiled: Compiled) -> str:
    """The callable exports, e.g. ``add(i32, i32) -> i32, fib(i64) -> i64``."""
    names = sorted(n for n, s in compiled.functions.items() if s.callable and not n.startswith("_"))
    return ", ".join(str(compiled.functions[n]) for n in names) or "none"


def component_call_error(compiled: CompiledComponent) -> CliError:
    """A component's functions take WIT values: JSON, not typed numbers."""
    return CliError(
        "a component's functions take JSON arguments mapped to their WIT types: give"
        f" --json-args '[...]'; its functions: {exports(compiled)}",
        2,
    )


def read_module(path: Path) -> bytes:
    """The module's binary; a ``.wat`` file is assembled first."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    if path.suffix == ".wat":
        import wasmtime

        try:
            return bytes(wasmtime.wat2wasm(data.decode()))
        except (wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
            raise CliError(f"{path}: not valid WebAssembly text: {exc}") from None
    return data


class LocalRuntime:
    """The runtime service's engine, loader and pool, started for one module run."""

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="wasmgrid-run-")
        settings = load_settings(
            RuntimeSettings,
            data_dir=Path(self._scratch.name),
            disk_artifacts=False,
            allow_inline=True,
            pooling=False,  # one call: no pool of preallocated instance slots to reserve
            workers=1,
            max_concurrent=1,
            artifact_key=secrets.token_hex(32),
        )
        self.settings = settings
        self.service = RuntimeService(settings, fetcher=NoMarketplace())

    async def __aenter__(self) -> LocalRuntime:
        await self.service.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop()
        self._scratch.cleanup()

    async def load(self, wasm: bytes) -> Compiled:
        """The module compiled and linked as the runtime does (its errors as CliError)."""
        try:
            self.service.loader.check_bytes(wasm)
            loaded = await self.service.loader.get(hashlib.sha256(wasm).hexdigest(), wasm)
        except ServiceError as exc:
            raise CliError(exc.message) from None
        return loaded.module

    async def _execute(self, wasm: bytes, spec: CallSpec) -> LocalResult:
        svc = self.service
        compiled = await self.load(wasm)
        signature = ""
        try:
            if spec.function is None and not compiled.is_command:
                raise CliError(
                    "the module has no _start export (a function module): give"
                    f" `-- FUNCTION ARG…`; its exports: {exports(compiled)}",
                    2,
                )
            if spec.function is not None and isinstance(compiled, CompiledComponent):
                if spec.call_args:
                    raise component_call_error(compiled)
                wit, spec.component_args = checked_call_args(
                    compiled, spec.function, spec.component_args
                )
                signature = str(wit)
            if spec.function is not None and isinstance(compiled, CompiledModule):
                if spec.component_args:
                    raise CliError(
                        f"JSON arguments are for components; {compiled.digest} is a core"
                        f" module: give it typed numbers; its exports: {exports(compiled)}",
                        2,
                    )
                signature = str(
                    check_call(compiled.functions, spec.function, spec.call_args, compiled.digest)
                )
            limits = resolve_limits(LimitValues(), svc.policy)
            result = await svc.pool.run(compiled, spec, limits, limits.timeout_ms / 1000)
        except ServiceError as exc:
            raise CliError(exc.message) from None
        return LocalResult(result, limits, compiled.digest, signature)

    async def run(
        self,
        wasm: bytes,
        *,
        stdin: bytes,
        args: Sequence[str],
        env: Sequence[tuple[str, str]],
        argv0: str,
    ) -> LocalResult:
        """Run the module's ``_start`` with `stdin`, `args` and `env`."""
        if len(stdin) > self.settings.max_stdin_bytes:
            raise CliError(
                f"input is {len(stdin)} bytes; the runtime's limit is"
                f" {self.settings.max_stdin_bytes} (WASMGRID_RUNTIME_MAX_STDIN_BYTES)"
            )
        try:
            spec = CallSpec(stdin=stdin, args=check_args(args), env=check_env(env), argv0=argv0)
        except ServiceError as exc:
            raise CliError(exc.message) from None
        return await self._execute(wasm, spec)

    async def call(self, wasm: bytes, function: str, args: Sequence[Value]) -> LocalResult:
        """Call one export with typed arguments."""
        spec = CallSpec(function=function, call_args=tuple(args), argv0="module")
        return await self._execute(wasm, spec)

    async def call_json(self, wasm: bytes, function: str, args: list[Any]) -> LocalResult:
        """Call a component's function with JSON arguments (checked against its WIT
        types as the runtime's Call does); the results are in ``json_results``."""
        spec = CallSpec(function=function, component_args=list(args), argv0="module")
        return await self._execute(wasm, spec)
