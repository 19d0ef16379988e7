"""textstats: the Python side of the `textstats` world (wit/world.wit).

Built into a WebAssembly component by componentize-py (`make examples`); each class
implements one export of the world with the bindings componentize-py generates.
"""

import os
import socket
import sys

import wit_world
from componentize_py_types import Err, Ok, Result, Some
from wit_world import exports
from wit_world.exports import echo

_calls = 0


class WitWorld(wit_world.WitWorld):
    def analyse(self, text: str) -> wit_world.Stats:
        words = text.split()
        mean = sum(map(len, words)) / len(words) if words else 0.0
        longest = max(words, key=len) if words else None
        return wit_world.Stats(words=words, count=len(words), mean_length=mean, longest=longest)


class Echo(exports.Echo):
    def echo_bool(self, v: bool) -> bool:
        return v

    def echo_s8(self, v: int) -> int:
        return v

    def echo_s16(self, v: int) -> int:
        return v

    def echo_s32(self, v: int) -> int:
        return v

    def echo_s64(self, v: int) -> int:
        return v

    def echo_u8(self, v: int) -> int:
        return v

    def echo_u16(self, v: int) -> int:
        return v

    def echo_u32(self, v: int) -> int:
        return v

    def echo_u64(self, v: int) -> int:
        return v

    def echo_f32(self, v: float) -> float:
        return v

    def echo_f64(self, v: float) -> float:
        return v

    def echo_char(self, v: str) -> str:
        return v

    def echo_string(self, v: str) -> str:
        return v

    def echo_list(self, v: list[str]) -> list[str]:
        return v

    def echo_bytes(self, v: bytes) -> bytes:
        return v

    def echo_record(self, v: echo.Point) -> echo.Point:
        return v

    def echo_tuple(self, v: tuple[int, str, float]) -> tuple[int, str, float]:
        return v

    def echo_variant(self, v: echo.Shape) -> echo.Shape:
        return v

    def echo_enum(self, v: echo.Color) -> echo.Color:
        return v

    def echo_flags(self, v: echo.Perms) -> echo.Perms:
        return v

    def echo_option(self, v: int | None) -> int | None:
        return v

    def echo_nested(self, v: Some[str | None] | None) -> Some[str | None] | None:
        return v

    def echo_result(self, v: Result[str, int]) -> str:
        if isinstance(v, Ok):
            return v.value
        raise Err(v.value)

    def echo_unit(self, v: Result[None, None]) -> None:
        if isinstance(v, Err):
            raise Err(None)

    def nothing(self, a: int, b: str) -> None:
        print(f"nothing({a}, {b!r})")


class Sandbox(exports.Sandbox):
    def counter(self) -> int:
        global _calls
        _calls += 1
        return _calls

    def spin(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += i
        return total

    def grow(self, mib: int) -> int:
        try:
            block = bytearray(mib * 1024 * 1024)
        except MemoryError:
            raise Err(f"could not allocate {mib} MiB") from None
        return len(block) // (1024 * 1024)

    def shout(self, bytes: int) -> int:
        line = b"x" * 1023 + b"\n"
        written = 0
        while written < bytes:
            chunk = line[: bytes - written]
            sys.stdout.buffer.write(chunk)
            written += len(chunk)
        sys.stdout.flush()
        return written

    def env(self, name: str) -> str | None:
        return os.environ.get(name)

    def connect(self, host: str, port: int) -> None:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.connect((host, port))
        except OSError as exc:
            raise Err(f"{type(exc).__name__}: {exc}") from None
