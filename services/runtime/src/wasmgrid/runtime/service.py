"""The RuntimeService gRPC servicer (thin: proto ⇄ domain through :mod:`.convert`) and the
service's lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import wasmtime
from opentelemetry import context as otel_context
from opentelemetry import trace
from wasmtime import component as wc

from wasmgrid.api.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from wasmgrid.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument
from wasmgrid.common.guestpath import (
    DEFAULT_ASSETS_MOUNT,
    DEFAULT_SCRATCH_MOUNT,
    check_guest_path,
)
from wasmgrid.common.handlers import HandlerInstrumentation, InstrumentedServer
from wasmgrid.common.metrics import child
from wasmgrid.common.server import Service
from wasmgrid.common.telemetry import start_span
from wasmgrid.runtime import convert, privatedirs
from wasmgrid.runtime.assets import AssetsStore
from wasmgrid.runtime.components import CompiledComponent, checked_call_args
from wasmgrid.runtime.engine import (
    EngineOptions,
    EpochTicker,
    create_engine,
    engine_fingerprint,
    pool_fits,
)
from wasmgrid.runtime.fetch import Fetcher, MarketplaceFetcher
from wasmgrid.runtime.limits import AppliedLimits, LimitPolicy, LimitValues, resolve_limits
from wasmgrid.runtime.metrics import EXECUTION_SECONDS, FUEL_CONSUMED, INVOCATIONS
from wasmgrid.runtime.modules import Loaded, ModuleLoader, parse_digest
from wasmgrid.runtime.pool import ExecutionPool
from wasmgrid.runtime.preopens import Preopen, ScratchRequest
from wasmgrid.runtime.publishes import PublishWatcher
from wasmgrid.runtime.sandbox import CallSpec, ExecutionResult, Outcome, Value
from wasmgrid.runtime.settings import RuntimeSettings
from wasmgrid.runtime.stats import MAX_NAME, StatsTable
from wasmgrid.runtime.store import ArtifactStore, BlobStore, load_or_create_key
from wasmgrid.runtime.streams import Streams
from wasmgrid.runtime.validation import check_args, check_call, check_env

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

DEFAULT_TOP_N = 20
MAX_TOP_N = 100
#: RPC time kept back from the guest's budget to stop it (up to a tick) and answer.
ANSWER_SECONDS = 0.02
#: Share of a call's remaining deadline kept back when it waits for a compile (at most
#: COMPILE_WAIT_MARGIN_MAX seconds, plus COMPILE_ANSWER_SECONDS), so the "compiling" answer
#: reaches a caller before its own deadline does even when this process is busy.
COMPILE_WAIT_MARGIN = 0.1
COMPILE_WAIT_MARGIN_MAX = 1.0
COMPILE_ANSWER_SECONDS = 0.05
#: Largest Call.args_json accepted, bytes.
MAX_ARGS_JSON_BYTES = 8 * 1024 * 1024
#: This process's random id in GetStats (new at each start; pids repeat across containers).
INSTANCE_ID = uuid.uuid4().hex


def _component_args(
    compiled: CompiledComponent, request: runtime_pb2.CallRequest, numbers: tuple[Value, ...]
) -> list[Any]:
    """A component call's arguments from args_json, checked against the function's types."""
    if numbers:
        raise InvalidArgument(
            f"{compiled.digest} is a component: pass its arguments as JSON in args_json,"
            " not as typed numbers in args"
        )
    if not request.function or len(request.function.encode()) > 1024:
        raise InvalidArgument(f"function must be 1..1024 bytes, got {request.function[:64]!r}")
    try:
        args = json.loads(request.args_json) if request.args_json else []
    except ValueError as exc:
        raise InvalidArgument(f"args_json is not JSON: {exc}") from None
    return checked_call_args(compiled, request.function, args)[1]


def _json(values: list[Any]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _policy(s: RuntimeSettings) -> LimitPolicy:
    return LimitPolicy(
        defaults=LimitValues(
            s.default_fuel,
            s.default_timeout_ms,
            s.default_memory_bytes,
            s.default_stdout_bytes,
            s.default_stderr_bytes,
        ),
        maxima=LimitValues(
            s.max_fuel, s.max_timeout_ms, s.max_memory_bytes, s.max_stdout_bytes, s.max_stderr_bytes
        ),
        stack_bytes=s.stack_bytes,
        max_table_elements=s.max_table_elements,
    )


class RuntimeServicer(runtime_pb2_grpc.RuntimeServiceServicer):
    """Translates RuntimeService RPCs to the loader, the pool and the stats table."""

    def __init__(self, service: RuntimeService) -> None:
        self.svc = service

    def _wait(self, context: grpc.aio.ServicerContext[Any, Any]) -> float | None:
        """How long this call may wait for a compile: its deadline less the time to
        answer (None: no deadline, wait for it)."""
        remaining = context.time_remaining()
        if remaining is None:
            return None
        kept = min(remaining * COMPILE_WAIT_MARGIN, COMPILE_WAIT_MARGIN_MAX)
        return max(0.0, remaining - kept - COMPILE_ANSWER_SECONDS)

    async def _load(
        self, source: runtime_pb2.ModuleSource, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[Loaded, str]:
        s = self.svc.settings
        kind = source.WhichOneof("source")
        if kind is None:
            raise InvalidArgument("module must set digest or wasm")
        name = source.display_name[:MAX_NAME]
        if kind == "wasm":
            if not s.allow_inline:
                raise FailedPrecondition(
                    "module.wasm (inline module bytes) is disabled on this runtime"
                    " (WASMGRID_RUNTIME_ALLOW_INLINE=false); publish the module and pass its"
                    " digest"
                )
            wasm = source.wasm
            self.svc.loader.check_bytes(wasm, "module.wasm")
            digest = hashlib.sha256(wasm).hexdigest()
            return await self.svc.loader.get(digest, wasm, self._wait(context)), name
        return await self.svc.loader.get(
            parse_digest(source.digest), None, self._wait(context)
        ), name

    def _limits(
        self, msg: runtime_pb2.Limits, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AppliedLimits:
        remaining = context.time_remaining()
        cap_ms: int | None = None
        if remaining is not None:
            reserve = 2 * self.svc.settings.epoch_tick_ms / 1000 + ANSWER_SECONDS
            if remaining < reserve + 0.001:
                raise DeadlineExceeded(
                    f"the RPC deadline leaves {remaining * 1000:.1f} ms; too little to start"
                    f" (stopping and answering needs {reserve * 1000:.0f} ms)"
                )
            cap_ms = int((remaining - reserve) * 1000)
        return resolve_limits(msg, self.svc.policy, timeout_cap_ms=cap_ms)

    async def _execute(
        self, mode: str, loaded: Loaded, name: str, spec: CallSpec, limits: AppliedLimits
    ) -> ExecutionResult:
        digest = loaded.module.digest
        kind = "component" if isinstance(loaded.module, CompiledComponent) else "module"
        span = start_span(tracer, f"wasm.{mode}")
        # Attributes only for a span that keeps them (most are not sampled), and the span
        # made current by hand: trace.use_span's generator costs as much as the span.
        recording = span.is_recording()
        if recording:
            span.set_attributes(
                {
                    "wasm.digest": digest,
                    "wasm.kind": kind,
                    "wasm.module": name,
                    "wasm.cache_tier": loaded.tier.name,
                    "wasm.function": spec.function or "_start",
                    "wasm.fuel_limit": limits.fuel,
                    "wasm.timeout_ms": limits.timeout_ms,
                }
            )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = await self.svc.pool.run(loaded.module, spec, limits, limits.timeout_ms / 1000)
            if recording:
                span.set_attribute("wasm.outcome", result.outcome.name)
                span.set_attribute("wasm.fuel_consumed", result.fuel_consumed)
        except BaseException as exc:
            if recording:
                span.record_exception(exc)
                span.set_status(
                    trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                )
            raise
        finally:
            otel_context.detach(token)
            span.end()
        child(INVOCATIONS, mode, result.outcome.name, kind).inc()
        child(EXECUTION_SECONDS, mode, kind).observe(result.wall_seconds)
        FUEL_CONSUMED.observe(result.fuel_consumed)
        self.svc.stats.record(
            digest, name, result.outcome, result.wall_seconds, result.fuel_consumed
        )
        return result

    async def Invoke(
        self,
        request: runtime_pb2.InvokeRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> runtime_pb2.InvokeResponse:
        s = self.svc.settings
        env = check_env([(e.name, e.value) for e in request.env])
        args = check_args(list(request.args))
        if len(request.stdin) > s.max_stdin_bytes:
            raise InvalidArgument(
                f"stdin is {len(request.stdin)} bytes; the limit is {s.max_stdin_bytes}"
                " (WASMGRID_RUNTIME_MAX_STDIN_BYTES)"
            )
        loaded, name = await self._load(request.module, context)
        if not loaded.module.is_command:
            what = (
                "component exports no wasi:cli/run (not a command)"
                if isinstance(loaded.module, CompiledComponent)
                else "module has no _start export (a function/reactor module)"
            )
            raise FailedPrecondition(
                f"{loaded.module.digest}: the {what}: use Call with one of its exports"
            )
        limits = self._limits(request.limits, context)
        spec = CallSpec(
            stdin=request.stdin,
            args=args,
            env=env,
            argv0=name or "module",
            scratch=self._scratch(request),
        )
        if request.HasField("assets"):
            assets_digest = parse_digest(request.assets.digest, "assets.digest")
            mount = check_guest_path(request.assets.mount, "assets.mount", DEFAULT_ASSETS_MOUNT)
            if spec.scratch is not None and spec.scratch.guest_path == mount:
                raise InvalidArgument(f"scratch.mount and assets.mount are both {mount!r}")
            await self.svc.assets.get(assets_digest)
            with self.svc.assets.lease(assets_digest) as tree:
                spec.preopens = (Preopen(str(tree), mount),)
                result = await self._execute("invoke", loaded, name, spec, limits)
        else:
            result = await self._execute("invoke", loaded, name, spec, limits)
        return runtime_pb2.InvokeResponse(
            outcome=convert.OUTCOMES.to_proto(result.outcome),
            exit_code=result.exit_code,
            trap_message=result.message,
            output=convert.output_to_pb(result),
            execution=convert.execution_to_pb(result, loaded, limits),
        )

    def _scratch(self, request: runtime_pb2.InvokeRequest) -> ScratchRequest | None:
        """The call's scratch directory request, its caps within the runtime's maxima."""
        if not request.HasField("scratch"):
            return None
        s, asked = self.svc.settings, request.scratch
        return ScratchRequest(
            parent=self.svc.scratch_parent,
            guest_path=check_guest_path(asked.mount, "scratch.mount", DEFAULT_SCRATCH_MOUNT),
            max_bytes=min(asked.max_bytes or s.default_scratch_bytes, s.max_scratch_bytes),
            max_files=min(asked.max_files or s.default_scratch_files, s.max_scratch_files),
        )

    async def Call(
        self,
        request: runtime_pb2.CallRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> runtime_pb2.CallResponse:
        env = check_env([(e.name, e.value) for e in request.env])
        call_args = convert.values_from_pb(request.args)
        if len(request.args_json) > MAX_ARGS_JSON_BYTES:
            raise InvalidArgument(
                f"args_json is {len(request.args_json)} bytes; the limit is {MAX_ARGS_JSON_BYTES}"
            )
        loaded, name = await self._load(request.module, context)
        compiled = loaded.module
        spec = CallSpec(env=env, function=request.function, argv0=name or "module")
        if isinstance(compiled, CompiledComponent):
            spec.component_args = _component_args(compiled, request, call_args)
        else:
            if request.args_json:
                raise InvalidArgument(
                    f"args_json is for components; {compiled.digest} is a core module: pass"
                    " typed numbers in args"
                )
            check_call(compiled.functions, request.function, call_args, compiled.digest)
            spec.call_args = call_args
        limits = self._limits(request.limits, context)
        result = await self._execute("call", loaded, name, spec, limits)
        return runtime_pb2.CallResponse(
            outcome=convert.OUTCOMES.to_proto(result.outcome),
            results=[convert.value_to_pb(v) for v in result.results],
            exit_code=result.exit_code,
            trap_message=result.message,
            output=convert.output_to_pb(result),
            execution=convert.execution_to_pb(result, loaded, limits),
            results_json=(
                _json(result.json_results)
                if isinstance(compiled, CompiledComponent) and result.outcome is Outcome.OK
                else ""
            ),
        )

    async def Warm(
        self,
        request: runtime_pb2.WarmRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> runtime_pb2.WarmResponse:
        loaded, _ = await self._load(request.module, context)
        m = loaded.module
        response = runtime_pb2.WarmResponse(
            digest=m.digest,
            cache_tier=convert.TIERS.to_proto(loaded.tier),
            elapsed_us=int(loaded.elapsed_seconds * 1e6),
            module_bytes=m.wasm_bytes,
            is_command=m.is_command,
            is_component=isinstance(m, CompiledComponent),
        )
        if isinstance(m, CompiledComponent):
            response.component_functions.extend(
                runtime_pb2.ComponentFunction(
                    name=f.name, signature=f.signature(), callable=f.callable
                )
                for f in sorted(m.functions.values(), key=lambda f: f.name)
            )
            return response
        response.functions.extend(
            convert.signature_to_pb(sig)
            for sig in sorted(m.functions.values(), key=lambda f: f.name)
        )
        return response

    async def GetStats(
        self,
        request: runtime_pb2.GetStatsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> runtime_pb2.GetStatsResponse:
        svc = self.svc
        n = min(request.top_n or DEFAULT_TOP_N, MAX_TOP_N)
        stats = svc.stats
        return runtime_pb2.GetStatsResponse(
            invocations=stats.invocations,
            outcomes=convert.outcome_counts(stats.outcomes),
            in_flight=svc.pool.in_flight,
            max_concurrent=svc.pool.max_concurrent,
            rejected=svc.pool.rejected,
            compiled_cache_entries=len(svc.loader),
            compiled_cache_bytes=svc.loader.cache_bytes,
            compiled_cache_max_bytes=svc.loader.max_cache_bytes,
            compiles_in_progress=svc.loader.in_progress,
            compiled_cache_hits=svc.loader.hits,
            compiled_cache_misses=svc.loader.misses,
            modules_tracked=len(stats.modules),
            modules=[convert.module_stats_to_pb(a) for a in stats.top(n)],
            worker_id=svc.settings.worker_id,
            pid=os.getpid(),
            instance_id=INSTANCE_ID,
        )


#: Names of a runtime process's own directories: output files (and scratch directories
#: unless SCRATCH_DIR is set), and its scratch directories under SCRATCH_DIR.
TMP_PREFIX = "wasmgrid-runtime-"
SCRATCH_PREFIX = "wasmgrid-scratch-"


def _tmp_root() -> str | None:
    """tmpfs for the per-thread stdout files when available (faster than disk)."""
    shm = "/dev/shm"  # noqa: S108 - a private mkdtemp is made inside it
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


SERVICE_NAME = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"].full_name
STREAM_SERVICE_NAME = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeStreamService"].full_name
#: The ``grpc_type`` label of a call multiplexed on a stream (a unary RPC's is "unary").
STREAM_CALL = "stream_call"


class RuntimeService(Service):
    """Sandboxed execution of WebAssembly modules on wasmtime."""

    name = "runtime"
    # A stream lives as long as its connection: each call on it gets its own span (with
    # the call's trace context), not one span of the whole stream.
    untraced_prefixes = (STREAM_SERVICE_NAME,)

    def __init__(self, settings: RuntimeSettings, *, fetcher: Fetcher | None = None) -> None:
        self.settings = settings
        self.policy = _policy(settings)
        self._fetcher_override = fetcher
        # Calls at once, plus thread-lane calls a backstop timeout gave up on that still
        # hold their instance until the guest stops, plus a margin.
        slots = 2 * settings.max_concurrent + 16 if settings.pooling else 0
        if slots and not pool_fits(slots):
            log.warning(
                "address-space limit (ulimit -v) too small for %d pooled instance slots;"
                " allocating instances per call instead (WASMGRID_RUNTIME_POOLING)",
                slots,
            )
            slots = 0
        self.options = EngineOptions(
            stack_bytes=settings.stack_bytes,
            pool_slots=slots,
            pool_memory_bytes=settings.max_memory_bytes,
            pool_table_elements=settings.max_table_elements,
        )
        self.engine = create_engine(self.options)
        self.fingerprint = engine_fingerprint(self.options)
        self.stats = StatsTable(settings.stats_modules)
        self._tmp_dir: str | None = None
        #: The call streams (None when STREAMS is off).
        self.streams: Streams | None = None
        #: This process's working directories (output files, scratch), locked while it runs.
        self._private: list[privatedirs.PrivateDir] = []
        self._fetcher: MarketplaceFetcher | None = None
        self._io: ThreadPoolExecutor | None = None
        self.ticker = EpochTicker(self.engine, settings.epoch_tick_ms / 1000)
        self.loader: ModuleLoader
        self.pool: ExecutionPool
        self.assets: AssetsStore
        #: Where scratch directories are made (set at start).
        self.scratch_parent = ""
        self._watcher: PublishWatcher | None = None
        self._watch_task: asyncio.Task[None] | None = None

    def register(self, server: grpc.aio.Server) -> Sequence[str]:
        servicer = RuntimeServicer(self)
        runtime_pb2_grpc.add_RuntimeServiceServicer_to_server(servicer, server)
        names = [SERVICE_NAME]
        if self.settings.streams:
            # Each call on a stream is instrumented like the unary RPC it stands for.
            kit = (
                server.kit
                if isinstance(server, InstrumentedServer)
                else HandlerInstrumentation(self.name, tracing=True)
            )
            self.streams = Streams(
                invoke=kit.wrap_call(servicer.Invoke, SERVICE_NAME, "Invoke", STREAM_CALL),
                call=kit.wrap_call(servicer.Call, SERVICE_NAME, "Call", STREAM_CALL),
            )
            runtime_pb2_grpc.add_RuntimeStreamServiceServicer_to_server(self.streams, server)
            names.append(STREAM_SERVICE_NAME)
        return names

    async def drain(self, grace: float) -> None:
        if self.streams is not None:
            self.streams.drain()

    async def start(self) -> None:
        s = self.settings
        data_dir = Path(s.data_dir)
        key = load_or_create_key(data_dir, s.artifact_key)
        blobs = BlobStore(data_dir / "blobs", s.max_disk_bytes, worker=s.worker_id)
        artifacts = (
            ArtifactStore(data_dir / "artifacts", key, self.fingerprint, s.max_disk_bytes)
            if s.disk_artifacts
            else None
        )
        fetcher: Fetcher | None = self._fetcher_override
        if fetcher is None:
            self._fetcher = MarketplaceFetcher(s.marketplace_addr, s.fetch_timeout_seconds)
            fetcher = self._fetcher
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        component_linker = wc.Linker(self.engine)
        component_linker.add_wasip2()
        # Compiles, deserializes and disk reads: few threads (compilation is itself parallel).
        self._io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wasm-compile")
        self.loader = ModuleLoader(
            self.engine,
            linker,
            component_linker=component_linker,
            executor=self._io,
            blobs=blobs,
            artifacts=artifacts,
            fetcher=fetcher,
            max_cache_bytes=s.compiled_cache_bytes,
            max_module_bytes=s.max_module_bytes,
        )
        # Directories of runtimes that were killed are removed first (see privatedirs).
        tmp_parent = _tmp_root() or str(data_dir)
        privatedirs.sweep(tmp_parent, TMP_PREFIX)
        self._private.append(privatedirs.claim(tmp_parent, TMP_PREFIX))
        self._tmp_dir = self._private[0].path
        self.scratch_parent = self._tmp_dir
        if s.scratch_dir is not None:
            s.scratch_dir.mkdir(parents=True, exist_ok=True)
            privatedirs.sweep(str(s.scratch_dir), SCRATCH_PREFIX)
            self._private.append(privatedirs.claim(str(s.scratch_dir), SCRATCH_PREFIX))
            self.scratch_parent = self._private[1].path
        # One tree per worker process: a tree one process evicts is never one another
        # process has preopened for a running call.
        self.assets = AssetsStore(
            data_dir / "assets" / f"worker-{s.worker_id}",
            fetcher,
            self._io,
            max_bytes=s.max_assets_bytes,
            max_disk_bytes=s.max_disk_bytes,
        )
        self.pool = ExecutionPool(
            self.engine,
            s.max_concurrent,
            self._tmp_dir,
            s.epoch_tick_ms / 1000,
            inline_fuel=s.inline_fuel,
        )
        if self._fetcher_override is None and s.watch_publishes:
            self._watcher = PublishWatcher(
                s.marketplace_addr, self.loader, self.assets, max_module_bytes=s.max_module_bytes
            )
            self._watch_task = asyncio.create_task(self._watcher.run(), name="publish-watch")
        self.ticker.start()
        log.info(
            "runtime engine ready",
            extra={
                "wasmtime_fingerprint": self.fingerprint,
                "data_dir": str(data_dir),
                "max_concurrent": s.max_concurrent,
                "allow_inline": s.allow_inline,
            },
        )

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self._watcher is not None:
            await self._watcher.close()
        self.ticker.stop()
        self.pool.shutdown()
        if self._io is not None:
            self._io.shutdown(wait=True, cancel_futures=True)
        if self._fetcher is not None:
            await self._fetcher.close()
        for private in self._private:
            private.remove()
        self._private.clear()

    async def check_ready(self) -> str | None:
        if not self.ticker.alive:
            return "epoch ticker thread is not running"
        if self._tmp_dir is None or not os.access(self._tmp_dir, os.W_OK):
            return f"scratch directory {self._tmp_dir} is not writable"
        return None
