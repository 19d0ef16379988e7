"""Running modules: `run` (WAGI/CGI command) and `call` (one export), remote or local."""

from __future__ import annotations

import base64
import json
import math
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import click

from wasmgrid.cli.app import connection_options, problem_line, run_async, session, split_ref
from wasmgrid.cli.outcomes import exit_code
from wasmgrid.cli.output import Output
from wasmgrid.client import CallResult, Client, ProblemError, RunResult, TypedArg

_TYPES = ("i32", "i64", "f32", "f64")
_INT_RANGES = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}


def is_local(target: str) -> bool:
    """A file path (``./x.wasm``, ``/abs/x.wasm``, anything ending in .wasm/.wat), not NS/NAME."""
    return target.startswith((".", "/", "~")) or target.endswith((".wasm", ".wat"))


def _input(source: str | None) -> bytes:
    if source is None:
        return b""
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{source}: {exc.strerror or exc}", param_hint="--input") from None


def _pairs(values: tuple[str, ...], sep: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, found, rest = value.partition(sep)
        if not found or not key.strip():
            raise click.BadParameter(f"{value!r} is not {what}")
        pairs.append((key.strip(), rest.strip() if sep == ":" else rest))
    return pairs


def _fail_outcome(out: Output, problem: ProblemError) -> None:
    stderr = problem.extensions.get("stderr")
    if isinstance(stderr, str) and stderr:
        sys.stderr.write(stderr if stderr.endswith("\n") else stderr + "\n")
    out.error(problem_line(problem))
    guest_code = int(problem.extensions.get("exit_code", 0))
    raise click.exceptions.Exit(exit_code(str(problem.outcome), guest_code))


def _run_json(result: RunResult) -> dict[str, object]:
    try:
        body: dict[str, str] = {"body": result.body.decode("utf-8")}
    except UnicodeDecodeError:
        body = {"body_base64": base64.b64encode(result.body).decode()}
    headers = dict(result.headers)
    return {
        "status": result.status,
        "module": result.module,
        "trace_id": result.trace_id,
        "headers": headers,
        **body,
    }


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("target", metavar="NS/NAME[@REQ] | FILE")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--input", "-i", "source", metavar="FILE|-", help="body / stdin ('-': read stdin)")
@click.option("--header", "-H", "headers", multiple=True, metavar="K:V", help="request header")
@click.option("--path", default="", metavar="P", help="extra path after the module (PATH_INFO)")
@click.option("--method", "-X", metavar="M", help="HTTP method (POST with --input, else GET)")
@click.option(
    "--query", "queries", multiple=True, metavar="K=V", help="a query argument (QUERY_STRING)"
)
@click.option("--env", "-e", "env", multiple=True, metavar="K=V", help="local run: an env variable")
@connection_options
def run(  # noqa: PLR0913, C901 - one parameter and a usage check per click option
    target: str,
    args: tuple[str, ...],
    source: str | None,
    headers: tuple[str, ...],
    path: str,
    method: str | None,
    queries: tuple[str, ...],
    env: tuple[str, ...],
) -> None:
    """Run a module, here or through the gateway.

    The module's output goes raw to stdout, a problem to stderr, and its outcome
    becomes the exit code.

    \b
    wasmgrid run examples/hello --input - <<< 'hi'      through the gateway
    wasmgrid run ./hello.wasm --input - -- a b           this file, here, no server
    wasmgrid run ./fn.wasm -- add 2 3                    a function module: a call

    ARGS are the module's argv, here and over HTTP (where they travel as the
    query's command line, RFC 3875: so --query and ARGS exclude each other); for a
    local module without _start they are FUNCTION ARG….
    Exit codes: the guest's own exit code; 120 output cap, 121 stack, 122 memory,
    123 fuel, 124 timeout, 125 scratch cap, 134 trap; 1-3 as for every command.
    """
    body = _input(source)
    s = session()
    if is_local(target):
        if headers or path or method or queries:
            raise click.UsageError(
                "--header, --path, --method and --query are for runs through a gateway"
            )
        _run_local(s.out, Path(target).expanduser(), body, args, _pairs(env, "=", "K=V"))
        return
    if env:
        raise click.UsageError("--env is for local runs; over HTTP send --header or ARGS")
    split_ref(target)
    if args and queries:
        raise click.UsageError(
            "ARGS travel as the query's command line (RFC 3875): give ARGS or --query, not both"
        )
    if "" in args:
        raise click.UsageError("an empty argument cannot travel in a URL's command line")
    query = _pairs(queries, "=", "K=V")

    def invoke(wg: Client) -> Awaitable[RunResult]:
        return wg.run(
            target,
            body,
            path=path,
            method=method or ("POST" if source is not None else "GET"),
            query=query,
            args=args,
            headers=dict(_pairs(headers, ":", "K:V")),
        )

    try:
        result = s.request(invoke)
    except ProblemError as problem:
        if problem.outcome is None:
            raise
        _fail_outcome(s.out, problem)
    if s.out.json_mode:
        s.out.json(_run_json(result))
        return
    sys.stdout.buffer.write(result.body)
    sys.stdout.flush()
    if result.status >= 400:
        s.out.note(f"(the module answered HTTP {result.status})")


def _run_local(
    out: Output, file: Path, stdin: bytes, args: tuple[str, ...], env: list[tuple[str, str]]
) -> None:
    from wasmgrid.cli.local import LocalResult, LocalRuntime, read_module

    wasm = read_module(file)

    async def go() -> LocalResult | None:
        async with LocalRuntime() as runtime:
            if not (await runtime.load(wasm)).is_command and args:
                return None  # a function module: `-- FUNCTION ARG…` is a call
            return await runtime.run(wasm, stdin=stdin, args=args, env=env, argv0=file.name)

    done = run_async(go())
    if done is None:
        _call_local(out, file, args[0], [(text, *parse_arg(text)) for text in args[1:]], None)
        return
    result = done.result
    outcome = result.outcome.name.lower()
    if out.json_mode:
        out.json(
            {
                "outcome": outcome,
                "exit_code": result.exit_code,
                "stdout": result.stdout.decode("utf-8", errors="replace"),
                "stderr": result.stderr.decode("utf-8", errors="replace"),
                "message": result.message,
                "fuel_consumed": result.fuel_consumed,
                "wall_time_us": int(result.wall_seconds * 1e6),
                "digest": done.digest,
            }
        )
    else:
        sys.stdout.buffer.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(result.stderr)
        sys.stderr.flush()
    if outcome != "ok":
        if outcome == "exit":
            if not out.json_mode:
                out.note(f"{file.name} exited with code {result.exit_code}")
        else:
            out.error(f"{file.name}: {outcome.replace('_', ' ')}: {_first_line(result.message)}")
    raise click.exceptions.Exit(exit_code(outcome, result.exit_code))


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def parse_arg(text: str) -> tuple[str | None, int | float]:
    """``[TYPE:]NUMBER`` → (type or None, number); ints in any base Python reads."""
    kind, sep, number = text.partition(":")
    if not sep:
        kind, number = "", text
    elif kind not in _TYPES:
        raise click.BadParameter(f"{text!r}: the type must be one of {', '.join(_TYPES)}")
    try:
        value: int | float = int(number, 0)
    except ValueError:
        try:
            value = int(number)
        except ValueError:
            try:
                value = float(number)
            except ValueError:
                raise click.BadParameter(f"{text!r} is not a number") from None
    if kind in ("i32", "i64"):
        if isinstance(value, float):
            raise click.BadParameter(f"{text!r}: {kind} needs an integer")
        low, high = _INT_RANGES[kind]
        if not low <= value <= high:
            raise click.BadParameter(f"{text!r} is outside the {kind} range {low}..{high}")
    elif kind:
        value = float(value)
    return kind or None, value


def _local_value(kind: str, value: int | float, text: str) -> tuple[str, int | float]:
    if kind in ("i32", "i64"):
        if isinstance(value, float):
            raise click.BadParameter(f"{text!r}: the export expects {kind}, an integer")
        low, high = _INT_RANGES[kind]
        if not low <= value <= high:
            raise click.BadParameter(f"{text!r} is outside the {kind} range {low}..{high}")
        bits = 32 if kind == "i32" else 64
        return kind, value - 2**bits if value >= 2 ** (bits - 1) else value
    return kind, float(value)


def _show_call(out: Output, result: CallResult) -> None:
    if out.json_mode:
        out.json(result)
        return
    for value in result.results:
        # A core module's numbers as they are; a component's WIT values as JSON.
        out.text(str(value) if result.types else json.dumps(value, ensure_ascii=False))


def _json_args(text: str) -> list[Any]:
    """``--json-args``: one JSON array, an element per parameter."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--json-args") from None
    if not isinstance(doc, list):
        raise click.BadParameter(
            f"must be a JSON array, one element per parameter; got {type(doc).__name__}",
            param_hint="--json-args",
        )
    return doc


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("target", metavar="NS/NAME[@REQ] | FILE")
@click.argument("function")
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[TYPE:]ARG…")
@click.option(
    "--json-args",
    metavar="ARRAY",
    help="a component's arguments: one JSON array mapped to the WIT parameter types",
)
@connection_options
def call(  # noqa: C901 - local or remote, core module or component, each checked
    target: str, function: str, args: tuple[str, ...], json_args: str | None
) -> None:
    """Call an exported function with typed arguments.

    Prints each result on its own line (a component's as JSON).

    \b
    wasmgrid call examples/mathfn fib 10               55
    wasmgrid call examples/mathfn divmod 17 -- -5      -3 and 2
    wasmgrid call ./fn.wasm scale f32:1.5              a local file, no server
    wasmgrid call examples/textstats analyse --json-args '["a tiny runtime"]'

    An argument is a number, typed by the export's signature, or TYPE:NUMBER with
    TYPE one of i32 i64 f32 f64 (needed for nan and inf over HTTP). A component's
    function is named as WIT names it and takes --json-args (the JSON form of each
    WIT type is in the runtime README).
    """
    if json_args is not None and args:
        raise click.UsageError("give the arguments either as ARG… or as --json-args, not both")
    values = _json_args(json_args) if json_args is not None else None
    parsed = [(text, *parse_arg(text)) for text in args]
    s = session()
    if is_local(target):
        _call_local(s.out, Path(target).expanduser(), function, parsed, values)
        return
    split_ref(target)
    if values is not None:
        try:
            component = s.request(lambda wg: wg.call(target, function, *values))
        except ProblemError as problem:
            if problem.outcome is None:
                raise
            _fail_outcome(s.out, problem)
        _show_call(s.out, component)
        return
    payload: list[int | float | TypedArg] = []
    for text, kind, value in parsed:
        if kind is not None:
            payload.append(TypedArg(kind, value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise click.BadParameter(f"{text!r}: give a type, e.g. f64:{text}")
        else:
            payload.append(value)

    try:
        result = s.request(lambda wg: wg.call(target, function, *payload))
    except ProblemError as problem:
        if problem.outcome is None:
            raise
        _fail_outcome(s.out, problem)
    _show_call(s.out, result)


def _json_numbers(values: list[Any]) -> list[tuple[str, str | None, int | float]]:
    """--json-args for a core module: numbers, typed by the export's signature."""
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise click.BadParameter(
                f"args[{i}]: a core module's arguments are numbers, got {json.dumps(v)}",
                param_hint="--json-args",
            )
    return [(json.dumps(v), None, v) for v in values]


def _call_local(
    out: Output,
    file: Path,
    function: str,
    parsed: list[tuple[str, str | None, int | float]],
    values: list[Any] | None,
) -> None:
    from wasmgrid.cli.local import LocalResult, LocalRuntime, component_call_error, read_module
    from wasmgrid.runtime.components import CompiledComponent

    wasm = read_module(file)

    async def go() -> LocalResult:
        async with LocalRuntime() as runtime:
            compiled = await runtime.load(wasm)
            if isinstance(compiled, CompiledComponent):
                if values is None:
                    raise component_call_error(compiled)
                return await runtime.call_json(wasm, function, values)
            found = compiled.functions.get(function)
            params = found.params if found is not None else ()
            typed = []
            numbers = parsed if values is None else _json_numbers(values)
            for i, (text, kind, value) in enumerate(numbers):
                wanted = kind or (params[i] if i < len(params) else None)
                if wanted is None:  # the runtime names the export's real signature
                    typed.append(("i32" if isinstance(value, int) else "f64", value))
                else:
                    typed.append(_local_value(wanted, value, text))
            return await runtime.call(wasm, function, typed)

    done = run_async(go())
    result = done.result
    outcome = result.outcome.name.lower()
    if outcome != "ok":
        sys.stderr.buffer.write(result.stderr)
        what = f"{function}: {outcome.replace('_', ' ')}"
        out.error(f"{file.name}: {what}: {_first_line(result.message)}")
        raise click.exceptions.Exit(exit_code(outcome, result.exit_code))
    _show_call(
        out,
        CallResult(
            module=str(file),
            digest=done.digest,
            function=function,
            results=tuple(result.json_results or (v for _, v in result.results)),
            types=tuple(t for t, _ in result.results),
            fuel_consumed=result.fuel_consumed,
            wall_time_us=int(result.wall_seconds * 1e6),
        ),
    )
