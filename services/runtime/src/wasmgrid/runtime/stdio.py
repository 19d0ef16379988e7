"""The guest's standard streams and environment, set through wasmtime's C API.

stdout and stderr go to per-worker-thread files on tmpfs whose sizes the epoch callback
watches (fuel does not bound output); stdin is handed over from memory; the environment
is set as two C arrays.
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


class CaptureFile:
    """One captured stream of one worker thread's calls: a file on tmpfs that WASI opens
    (truncated) again for each call.

    Fuel does not bound output (a little fuel writes hundreds of megabytes), so each
    stream is capped by the epoch callback watching its file's size: a flood is stopped
    at the first tick past the cap (a few MB beyond it at most), and only the first
    `cap` bytes are ever read back. A file, not a WASI custom-output callback, for
    stderr too: wasmtime sets a callback stream up through its async runtime, which
    cost 70 µs a call here even when the guest wrote nothing to it (a file: under 2).
    """

    def __init__(self, tmp_dir: str, stream: str) -> None:
        self.path = os.path.join(tmp_dir, f"thread-{threading.get_ident()}.{stream}")
        self.encoded_path = os.fsencode(self.path)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def read(self, cap: int) -> tuple[bytes, int]:
        """(the first `cap` bytes written, how many bytes beyond `cap` were dropped)."""
        size = os.fstat(self.fd).st_size
        if not size:
            return b"", 0
        keep = min(size, cap)
        parts: list[bytes] = []
        offset = 0
        while offset < keep:
            chunk = os.pread(self.fd, keep - offset, offset)
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
        return b"".join(parts), size - keep

    def close(self) -> None:
        os.close(self.fd)


class OutputFiles:
    """One worker thread's stdout and stderr files, reused by each of its calls."""

    __slots__ = ("stderr", "stdout")

    def __init__(self, tmp_dir: str) -> None:
        self.stdout = CaptureFile(tmp_dir, "stdout")
        self.stderr = CaptureFile(tmp_dir, "stderr")

    def attach(self, wasi: wasmtime.WasiConfig) -> None:
        """Make the two files the guest's stdout and stderr (WASI opens and truncates them
        when the store takes the config). The C API directly, with the paths encoded
        once: wasmtime-py's setters encode and wrap the path again for every call."""
        config = wasi.ptr()
        if not ffi.wasi_config_set_stdout_file(config, self.stdout.encoded_path):
            raise wasmtime.WasmtimeError(f"failed to set stdout file {self.stdout.path}")
        if not ffi.wasi_config_set_stderr_file(config, self.stderr.encoded_path):
            raise wasmtime.WasmtimeError(f"failed to set stderr file {self.stderr.path}")

    def close(self) -> None:
        self.stdout.close()
        self.stderr.close()


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
_outputs: dict[str, list[OutputFiles]] = {}
_outputs_lock = threading.Lock()


def output_files_for(tmp_dir: str) -> OutputFiles:
    """This thread's output files under `tmp_dir` (created on first use)."""
    mine: dict[str, OutputFiles] | None = getattr(_local, "outputs", None)
    if mine is None:
        mine = _local.outputs = {}
    files = mine.get(tmp_dir)
    if files is None:
        files = mine[tmp_dir] = OutputFiles(tmp_dir)
        with _outputs_lock:
            _outputs.setdefault(tmp_dir, []).append(files)
    return files


def release_output_files(tmp_dir: str) -> None:
    """Close every thread's output files under `tmp_dir` (after its threads stopped)."""
    with _outputs_lock:
        for files in _outputs.pop(tmp_dir, []):
            files.close()
