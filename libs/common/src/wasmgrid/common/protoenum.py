"""Proto enum values by short name: ``SCOPE_PUBLISH`` ⇄ ``"publish"`` ⇄ ``Scope.PUBLISH``.

A proto enum's value names all carry the enum's prefix (``SCOPE_``, ``MODULE_KIND_``);
the short name is the rest, lower-cased. A :class:`ProtoEnum` maps numbers to short
names (for text in HTTP queries, YAML and the database) or to the members of a domain
enum with the same names, and is built from the proto's own descriptor, so a value
added to the contract cannot be missed by hand-written tables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import Enum
from typing import Any, Generic, TypeVar, cast

from wasmgrid.common.errors import InvalidArgument

P = TypeVar("P", bound=int)
D = TypeVar("D")
E = TypeVar("E", bound=Enum)


def _suffixes(proto: type[int]) -> dict[int, str]:
    """Non-zero numbers → value names without the enum's common ``…_`` prefix."""
    items: list[tuple[str, int]] = list(proto.items())  # type: ignore[attr-defined]
    common = os.path.commonprefix([name for name, _ in items])  # noqa: RUF071 - names, not paths
    cut = common.rfind("_") + 1
    return {number: name[cut:] for name, number in items if number}


class ProtoEnum(Generic[P, D]):
    """One proto enum's non-zero values ⇄ domain values; 0 (``*_UNSPECIFIED``) is "not set".

    Build it with :meth:`names` (domain values are the short names) or :meth:`members`
    (domain values are the members of an enum whose member names are the short names
    upper-cased, e.g. ``PolicyName.W_TINYLFU`` for ``EVICTION_POLICY_W_TINYLFU``).
    """

    def __init__(self, proto: type[P], to_domain: Mapping[int, D]) -> None:
        self.proto_name: str = cast(Any, proto).DESCRIPTOR.name
        self._to_domain = dict(to_domain)
        self._to_proto = {value: number for number, value in to_domain.items()}
        self._short = {number: name.lower() for number, name in _suffixes(proto).items()}
        self._by_short = {short: number for number, short in self._short.items()}

    @staticmethod
    def names(proto: type[P]) -> ProtoEnum[P, str]:
        """Short names as the domain values: ``Scope`` → ``{1: "publish", …}``."""
        return ProtoEnum(proto, {n: name.lower() for n, name in _suffixes(proto).items()})

    @staticmethod
    def members(proto: type[P], domain: type[E]) -> ProtoEnum[P, E]:
        """The members of `domain` as the domain values, matched by name; every non-zero
        proto value needs a member and every member a value (checked here, at import)."""
        by_name = {name: number for number, name in _suffixes(proto).items()}
        differ = set(by_name) ^ set(domain.__members__)
        if differ:
            raise ValueError(
                f"{domain.__name__} and proto enum {cast(Any, proto).DESCRIPTOR.name}"
                f" differ in {sorted(differ)}"
            )
        return ProtoEnum(proto, {by_name[name]: m for name, m in domain.__members__.items()})

    @property
    def choices(self) -> tuple[str, ...]:
        """The short names, in proto order."""
        return tuple(self._short.values())

    def to_proto(self, value: D, default: int | None = None) -> P:
        """The proto number of a domain value; `default` (if given) for a value the enum
        lacks, else KeyError."""
        number = self._to_proto.get(value, default)
        if number is None:
            raise KeyError(value)
        return cast(P, number)

    def from_proto(self, number: int, field: str) -> D | None:
        """The domain value of `number`; None for 0 (not set); :class:`InvalidArgument`
        naming `field` for a number the contract does not define."""
        if number == 0:
            return None
        value = self._to_domain.get(number)
        if value is None:
            raise InvalidArgument(f"{field}: {number} is not a value of {self.proto_name}")
        return value

    def name(self, number: int) -> str:
        """The short name of `number` (``"unspecified"`` for 0, the digits if unknown)."""
        return self._short.get(number, "unspecified" if number == 0 else str(number))

    def parse(self, text: str, field: str) -> P:
        """The proto number of short name `text`; :class:`InvalidArgument` naming `field`
        and the choices otherwise."""
        number = self._by_short.get(text)
        if number is None:
            raise InvalidArgument(f"{field}: {text!r} is not one of {', '.join(self.choices)}")
        return cast(P, number)
