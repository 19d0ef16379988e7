"""`wasmgrid new`, `run` and `call` on local files, run as a user does: a subprocess, no server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Builds modules with make and clang and runs the CLI as a process.
pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
TOOLS = ("clang", "wat2wasm", "make")


def wasmgrid(
    *args: str, cwd: Path, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a child process (PATH has this venv, so `make run` finds `wasmgrid`)."""
    return subprocess.run(
        [sys.executable, "-m", "wasmgrid.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})},
    )


@pytest.fixture(scope="module")
def toolchain() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install {missing} (.ci/run does)")
        pytest.skip(
            f"needs {missing}: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 wabt"
        )


def _new(template: str, tmp_path: Path, name: str) -> Path:
    made = wasmgrid("new", template, name, cwd=tmp_path)
    assert made.returncode == 0, made.stderr.decode()
    directory = tmp_path / name
    build = subprocess.run(["make"], cwd=directory, capture_output=True, timeout=120)
    assert build.returncode == 0, build.stderr.decode()
    assert (directory / f"{name}.wasm").is_file()
    return directory


def test_the_c_wagi_template_builds_and_runs(toolchain: None, tmp_path: Path) -> None:
    project = _new("c-wagi", tmp_path, "greeter")
    assert sorted(p.name for p in project.iterdir()) == [
        ".gitignore",
        "Makefile",
        "README.md",
        "greeter.wasm",
        "main.c",
    ]
    ran = wasmgrid(
        "run",
        "./greeter.wasm",
        "--input",
        "-",
        "-e",
        "REQUEST_METHOD=POST",
        cwd=project,
        stdin=b"12345",
    )
    assert ran.returncode == 0, ran.stderr.decode()
    assert ran.stdout.decode() == (
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Hello from greeter!\nmethod: POST\nbody: 5 bytes\n"
    )
    make_run = subprocess.run(
        ["make", "-s", "run"],
        cwd=project,
        capture_output=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert make_run.returncode == 0, make_run.stderr.decode()
    assert b"body: 3 bytes" in make_run.stdout


def test_the_c_function_template_builds_and_runs(toolchain: None, tmp_path: Path) -> None:
    project = _new("c-function", tmp_path, "calc")
    ran = wasmgrid("run", "./calc.wasm", "--", "add", "2", "3", cwd=project)
    assert (ran.returncode, ran.stdout) == (0, b"5\n"), ran.stderr.decode()
    fib = wasmgrid("call", "./calc.wasm", "fib", "90", cwd=project)
    assert fib.stdout == b"2880067194370816120\n"
    as_json_args = wasmgrid("call", "./calc.wasm", "fib", "--json-args", "[90]", cwd=project)
    assert as_json_args.stdout == b"2880067194370816120\n", as_json_args.stderr.decode()
    average = wasmgrid("call", "./calc.wasm", "average", "1", "-2", cwd=project)
    assert average.stdout == b"-0.5\n"
    bare = wasmgrid("run", "./calc.wasm", cwd=project)
    assert bare.returncode == 2
    assert "add(i32, i32) -> i32" in bare.stderr.decode()
    wrong = wasmgrid("call", "./calc.wasm", "add", "1", cwd=project)
    assert wrong.returncode == 1
    assert wrong.stderr.decode().strip() == (
        "wasmgrid: export add(i32, i32) -> i32 takes 2 argument(s), got 1"
    )


def test_the_wat_template_builds_and_runs(toolchain: None, tmp_path: Path) -> None:
    project = _new("wat", tmp_path, "hi")
    ran = wasmgrid("run", "./hi.wasm", cwd=project)
    assert (ran.returncode, ran.stdout) == (0, b"Hello from WebAssembly!\n")
    as_json = wasmgrid("run", "./hi.wasm", "--json", cwd=project)
    doc = json.loads(as_json.stdout)
    assert (doc["outcome"], doc["stdout"], doc["exit_code"]) == (
        "ok",
        "Hello from WebAssembly!\n",
        0,
    )


def test_new_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    refused = wasmgrid("new", "wat", "full", cwd=tmp_path)
    assert refused.returncode == 2
    assert b"not empty" in refused.stderr
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


EXIT_7 = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))"""
TRAP = '(module (memory (export "memory") 1) (func (export "_start") unreachable))'
SPIN = '(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))'
CHATTY = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\40\\00\\00\\00")
  (func (export "_start")
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""


@pytest.mark.parametrize(
    ("source", "env", "code", "message"),
    [
        (EXIT_7, {}, 7, None),
        (TRAP, {}, 134, "wasmgrid: guest.wat: trap: wasm trap: wasm `unreachable`"),
        (
            SPIN,
            {"WASMGRID_RUNTIME_DEFAULT_FUEL": "100000"},
            123,
            "wasmgrid: guest.wat: fuel exhausted: fuel limit of 100000 exhausted",
        ),
        (
            SPIN,
            {"WASMGRID_RUNTIME_DEFAULT_TIMEOUT_MS": "300"},
            124,
            "wasmgrid: guest.wat: timeout: wall-clock timeout of 300 ms exceeded",
        ),
        (
            CHATTY,
            {"WASMGRID_RUNTIME_DEFAULT_STDOUT_BYTES": "16"},
            120,
            "wasmgrid: guest.wat: output truncated: stdout exceeded its limit of 16 bytes",
        ),
    ],
    ids=["exit-7", "trap", "fuel", "timeout", "output-cap"],
)
def test_a_local_run_exits_with_the_outcome_under_the_runtimes_limits(
    tmp_path: Path, source: str, env: dict[str, str], code: int, message: str | None
) -> None:
    (tmp_path / "guest.wat").write_text(source)
    ran = wasmgrid("run", "guest.wat", cwd=tmp_path, env=env)
    assert ran.returncode == code, ran.stderr.decode()
    if message is not None:
        assert ran.stderr.decode().startswith(message)
    assert b"Traceback" not in ran.stderr


def test_a_file_that_is_not_webassembly_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "junk.wasm").write_bytes(b"#!/bin/sh\necho hi\n")
    ran = wasmgrid("run", "./junk.wasm", cwd=tmp_path)
    assert ran.returncode == 1
    assert ran.stderr.decode().count("\n") == 1
    assert "not a WebAssembly binary" in ran.stderr.decode()
    missing = wasmgrid("run", "./absent.wasm", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.decode() == "wasmgrid: absent.wasm: No such file or directory\n"


def test_a_bad_runtime_setting_is_named(tmp_path: Path) -> None:
    (tmp_path / "guest.wat").write_text(TRAP)
    ran = wasmgrid("run", "guest.wat", cwd=tmp_path, env={"WASMGRID_RUNTIME_DEFAULT_FUEL": "lots"})
    assert ran.returncode == 2
    assert ran.stderr.decode().startswith(
        "wasmgrid: invalid setting WASMGRID_RUNTIME_DEFAULT_FUEL='lots'"
    )


def _component(tmp_path: Path) -> Path:
    """A tiny typed component (``add: func(a: u32, b: u32) -> u32``): a core module from
    WAT given its WIT by wasm-tools (``component embed``, then ``component new``)."""
    tool = str(BIN / "wasm-tools")
    (tmp_path / "calc.wit").write_text(
        "package test:calc;\nworld calc {\n  export add: func(a: u32, b: u32) -> u32;\n}\n"
    )
    (tmp_path / "core.wat").write_text(
        '(module (func (export "add") (param i32 i32) (result i32)'
        " local.get 0 local.get 1 i32.add))"
    )
    for step in (
        [tool, "parse", "core.wat", "-o", "core.wasm"],
        [tool, "component", "embed", "calc.wit", "core.wasm", "--world", "calc", "-o", "e.wasm"],
        [tool, "component", "new", "e.wasm", "-o", "calc.wasm"],
    ):
        done = subprocess.run(step, cwd=tmp_path, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
    return tmp_path / "calc.wasm"


def test_a_component_is_called_with_json_arguments(tmp_path: Path) -> None:
    _component(tmp_path)
    added = wasmgrid("call", "./calc.wasm", "add", "--json-args", "[2, 3]", cwd=tmp_path)
    assert (added.returncode, added.stdout) == (0, b"5\n"), added.stderr.decode()
    as_json = wasmgrid(
        "call", "./calc.wasm", "add", "--json-args", "[2, 3]", "--json", cwd=tmp_path
    )
    assert json.loads(as_json.stdout)["results"] == [5]
    wrong = wasmgrid("call", "./calc.wasm", "add", "--json-args", "[2, -1]", cwd=tmp_path)
    assert (wrong.returncode, wrong.stderr.decode().strip()) == (
        1,
        "wasmgrid: args[1]: expected u32 in 0..4294967295, got -1"
        " (add: func(a: u32, b: u32) -> u32)",
    )
    numbers = wasmgrid("call", "./calc.wasm", "add", "2", "3", cwd=tmp_path)
    assert numbers.returncode == 2
    assert "give --json-args '[...]'; its functions: add: func(a: u32, b: u32) -> u32" in (
        numbers.stderr.decode()
    )
    not_a_list = wasmgrid("call", "./calc.wasm", "add", "--json-args", '{"a": 2}', cwd=tmp_path)
    assert not_a_list.returncode == 2
    assert "--json-args: must be a JSON array, one element per parameter; got dict" in (
        not_a_list.stderr.decode()
    )
