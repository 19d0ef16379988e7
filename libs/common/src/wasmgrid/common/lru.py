"""A bounded map: least recently used entries go first, entries may expire.

Every in-process cache and memo in the services is one of these, so each is bounded
the same way whatever the keys callers send.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, NamedTuple, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")


class _Slot(NamedTuple, Generic[V]):
    expires: float
    weight: int
    value: V


class LruMap(Generic[K, V]):
    """At most `max_entries` entries (and at most `max_weight` in total, when a `weight`
    function is given); putting past a bound drops the least recently used entries.

    ``get`` counts as a use; ``peek`` does not. With `ttl_seconds` (or a ``ttl_seconds``
    given to one ``put``) an entry expires that long after it was put: an expired entry
    is never returned and is removed when next looked up. ``len`` counts entries not yet
    removed, expired or not.
    """

    def __init__(
        self,
        max_entries: int,
        *,
        ttl_seconds: float | None = None,
        max_weight: int | None = None,
        weight: Callable[[V], int] | None = None,
        keep_newest: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries {max_entries} is negative")
        if (max_weight is None) != (weight is None):
            raise ValueError("max_weight and weight go together")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.max_weight = max_weight
        self._weigh = weight
        self.keep_newest = keep_newest
        self.clock = clock
        #: Total weight of the entries held (0 without a weight function).
        self.weight = 0
        #: Entries dropped to stay within the bounds (not expiries, not pops).
        self.evictions = 0
        self._data: OrderedDict[K, _Slot[V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return self.peek(key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[K]:
        """Keys, least recently used first."""
        return iter(list(self._data))

    def _live(self, key: K) -> _Slot[V] | None:
        slot = self._data.get(key)
        if slot is None:
            return None
        if slot.expires != _NEVER and slot.expires <= self.clock():
            self._remove(key)
            return None
        return slot

    def get(self, key: K) -> V | None:
        """The value for `key` (now the most recently used), or None."""
        slot = self._live(key)
        if slot is None:
            return None
        self._data.move_to_end(key)
        return slot.value

    def peek(self, key: K) -> V | None:
        """The value for `key` without counting a use, or None."""
        slot = self._live(key)
        return None if slot is None else slot.value

    def put(self, key: K, value: V, *, ttl_seconds: float | None = None) -> bool:
        """Hold `value` as the most recently used entry; False when it cannot be held
        (a TTL of zero or less, no room at all, or heavier than `max_weight` alone unless
        `keep_newest`)."""
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        if self.max_entries == 0 or (ttl is not None and ttl <= 0):
            self.pop(key)
            return False
        weight = self._weigh(value) if self._weigh is not None else 0
        if self.max_weight is not None and weight > self.max_weight and not self.keep_newest:
            self.pop(key)
            return False
        self.pop(key)
        expires = _NEVER if ttl is None else self.clock() + ttl
        self._data[key] = _Slot(expires, weight, value)
        self.weight += weight
        data = self._data
        while len(data) > self.max_entries or (
            self.max_weight is not None and self.weight > self.max_weight and len(data) > 1
        ):
            _, old = data.popitem(last=False)
            self.weight -= old.weight
            self.evictions += 1
        return True

    def pop(self, key: K) -> V | None:
        """Remove `key`; its value if it was held and had not expired, else None."""
        slot = self._data.get(key)
        if slot is None:
            return None
        self._remove(key)
        if slot.expires != _NEVER and slot.expires <= self.clock():
            return None
        return slot.value

    def _remove(self, key: K) -> None:
        slot = self._data.pop(key)
        self.weight -= slot.weight

    def values(self) -> list[V]:
        """Values of entries not expired, least recently used first."""
        now = self.clock()
        return [s.value for s in self._data.values() if s.expires > now]

    def items(self) -> list[tuple[K, V]]:
        """(key, value) of entries not expired, least recently used first."""
        now = self.clock()
        return [(k, s.value) for k, s in self._data.items() if s.expires > now]

    def clear(self) -> None:
        """Remove every entry."""
        self._data.clear()
        self.weight = 0
