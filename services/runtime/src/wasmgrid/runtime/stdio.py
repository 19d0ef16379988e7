"""The guest's standard streams and environment, set through wasmtime's C API.

stderr goes to a capped in-memory sink; stdout to a per-worker-thread file on tmpfs
whose size the epoch callback watches (fuel does not bound output); stdin is handed
over from memory; the environment is set as two C arrays.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from wasmgrid.runtime.engine import Interrupt


class OutputSink:
    """Collects stderr up to `cap` bytes; past it, counts and stops the guest.

    Used for stderr, which guests rarely write: a WASI custom-output callback costs
    more per write than a file, so stdout (written by every call) goes to a tmpfs
    file watched by the epoch callback instead (see :class:`StdoutFile`).
    """

    def __init__(self, cap: int, interrupt: Interrupt, engine: wasmtime.Engine) -> None:
        self.cap = cap
        self.interrupt = interrupt
        self.engine = engine
        self.parts: list[bytes] = []
        self.size = 0
        self.dropped = 0

    def __call__(self, data: bytes) -> int:
        room = self.cap - self.size
        if len(data) <= room:
            self.parts.append(data)
            self.size += len(data)
            return len(data)
        if room > 0:
            self.parts.append(data[:room])
            self.size += room
        self.dropped += len(data) - max(room, 0)
        if self.interrupt.reason is None:
            self.interrupt.stop("output")
            self.engine.increment_epoch()  # wake the epoch check now, not at the next tick
        return len(data)  # pretend success: the guest is being stopped anyway

    def value(self) -> bytes:
        return b"".join(self.parts)


class StdoutFile:
    """One worker thread's stdout file on tmpfs, reused by each of its calls.

    Fuel does not bound output (a little fuel writes hundreds of megabytes), so stdout
    is capped by the epoch callback watching this file's size: a flood is stopped at
    the first tick past the cap (a few MB beyond it at most), and only the first `cap`
    bytes are ever read back.
    """

    def __init__(self, tmp_dir: str) -> None:
        self.stdout_path = os.path.join(tmp_dir, f"thread-{threading.get_ident()}.stdout")
        self.stdout_fd = os.open(self.stdout_path, os.O_RDWR | os.O_CREAT, 0o600)

    def read_stdout(self, cap: int) -> tuple[bytes, int]:
        """(the first `cap` bytes written, how many bytes beyond `cap` were dropped)."""
        size = os.fstat(self.stdout_fd).st_size
        keep = min(size, cap)
        parts: list[bytes] = []
        offset = 0
        while offset < keep:
            chunk = os.pread(self.stdout_fd, keep - offset, offset)
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
        return b"".join(parts), size - keep

    def close(self) -> None:
        os.close(self.stdout_fd)


def set_stdin_bytes(wasi: wasmtime.WasiConfig, data: bytes) -> None:
    """Give the guest `data` as stdin from memory (then EOF).

    wasmtime's C API has ``wasi_config_set_stdin_bytes`` (wasmtime-py does not wrap
    it): no file to write and reopen per call, and no blocking-pool hop per read. The
    config takes ownership of the vector.
    """
    vec = ffi.wasm_byte_vec_t()
    # A pointer into `data` itself (bytes convert as one), which the vector copies: an
    # array of this length would make a type per length, garbage in a cycle after it.
    pointer = ctypes.cast(data, _BYTES)  # type: ignore[arg-type]
    ffi.wasm_byte_vec_new(ctypes.byref(vec), len(data), pointer)
    ffi.wasi_config_set_stdin_bytes(wasi.ptr(), ctypes.byref(vec))


_BYTES = ctypes.POINTER(ctypes.c_ubyte)
_CHARS_ARRAY = ctypes.POINTER(ctypes.POINTER(ctypes.c_char))


@functools.lru_cache(maxsize=64)
def _strings(n: int) -> Any:
    """The type of an array of `n` C strings, kept: ctypes holds array types only weakly,
    and a type dropped after each call is garbage in a cycle (types refer to themselves)."""
    return ctypes.c_char_p * n


def set_env(wasi: wasmtime.WasiConfig, env: Sequence[tuple[str, str]]) -> None:
    """The guest's environment: wasmtime-py's ``env`` setter, minus its per-string
    ``c_char_p`` objects (two arrays built in one step each: ~4x faster for the
    ~15 CGI variables of an HTTP request). The config copies the strings.

    The arrays are passed by address: ``ctypes.cast`` of an array links the array and
    its result in a reference cycle, garbage only the collector frees, every call.
    """
    n = len(env)
    array = _strings(n)
    names = array(*[name.encode() for name, _ in env])
    values = array(*[value.encode() for _, value in env])
    if not ffi.wasi_config_set_env(
        wasi.ptr(),
        n,
        ctypes.cast(ctypes.addressof(names), _CHARS_ARRAY),
        ctypes.cast(ctypes.addressof(values), _CHARS_ARRAY),
    ):
        raise wasmtime.WasmtimeError("failed to configure the environment")


_local = threading.local()
_scratches: dict[str, list[StdoutFile]] = {}
_scratch_lock = threading.Lock()


def stdout_file_for(tmp_dir: str) -> StdoutFile:
    """This thread's stdout file under `tmp_dir` (created on first use)."""
    mine: dict[str, StdoutFile] | None = getattr(_local, "scratch", None)
    if mine is None:
        mine = _local.scratch = {}
    scratch = mine.get(tmp_dir)
    if scratch is None:
        scratch = mine[tmp_dir] = StdoutFile(tmp_dir)
        with _scratch_lock:
            _scratches.setdefault(tmp_dir, []).append(scratch)
    return scratch


def release_stdout_files(tmp_dir: str) -> None:
    """Close every thread's stdout file under `tmp_dir` (after its threads stopped)."""
    with _scratch_lock:
        for scratch in _scratches.pop(tmp_dir, []):
            scratch.close()
