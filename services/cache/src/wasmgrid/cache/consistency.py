"""The bookkeeping that keeps a replica's memory tier (L1) consistent with the shared tier.

A read of L2 that is in flight while the key is replaced or invalidated must not put
the old value into L1 afterwards. Every mutation (local or broadcast) is appended to
the :class:`MutationLog` with its version; a fill is refused if a matching mutation
with a newer version arrived after the read started. The log keeps mutations for
longer than any read can take (reads time out), and if it ever has to drop entries
early, fills from reads older than the dropped entry are refused as a whole.

While the shared tier is unreachable, the :class:`OutageJournal` remembers what this
replica changed (bounded), to be replayed onto the shared tier on recovery.
"""

from __future__ import annotations

import time
from collections import deque
from typing import NamedTuple

from wasmgrid.cache.redis_tier import MutationKind

MAX_MUTATION_LOG = 100_000
#: Keys written while the shared tier was down, remembered to be invalidated on recovery.
MAX_DIRTY_KEYS = 10_000


class Stamp(NamedTuple):
    """When a read or write of the shared tier began: the clock and the namespace's epoch."""

    started: float
    epoch: int


class _Mutation(NamedTuple):
    at: float
    namespace: str
    kind: MutationKind
    target: str
    version: int


class MutationLog:
    """Recent mutations by namespace, to refuse fills that raced a newer mutation."""

    def __init__(self, retention: float, max_entries: int = MAX_MUTATION_LOG) -> None:
        self._entries: deque[_Mutation] = deque()
        self._floor = float("-inf")
        self._retention = retention
        self._max_entries = max_entries

    def record(self, namespace: str, kind: MutationKind, target: str, version: int) -> None:
        """Append a mutation; drop those older than the retention (or over the bound)."""
        now = time.monotonic()
        entries = self._entries
        entries.append(_Mutation(now, namespace, kind, target, version))
        horizon = now - self._retention
        while entries and entries[0].at < horizon:
            entries.popleft()
        while len(entries) > self._max_entries:
            self._floor = entries.popleft().at

    def allows(
        self, namespace: str, key: str, version: int, tags: tuple[str, ...], started: float
    ) -> bool:
        """Whether no mutation newer than `version` touching `key` arrived since `started`."""
        if started <= self._floor:
            return False
        for m in reversed(self._entries):
            if m.at < started:
                break
            if m.namespace != namespace or m.version <= version:
                continue
            if (
                (m.kind is MutationKind.KEY and m.target == key)
                or (m.kind is MutationKind.PREFIX and key.startswith(m.target))
                or (m.kind is MutationKind.TAG and m.target in tags)
            ):
                return False
        return True


class OutageJournal:
    """What this replica changed while the shared tier was down, to replay on recovery.

    Keys are remembered up to `max_keys`; past that, their whole namespace is marked to
    be invalidated instead. `configs` holds namespaces configured here meanwhile.
    """

    def __init__(self, max_keys: int = MAX_DIRTY_KEYS) -> None:
        self._keys: dict[tuple[str, str], None] = {}
        self._namespaces: set[str] = set()
        self._max_keys = max_keys
        self.configs: set[str] = set()

    def wrote(self, namespace: str, key: str) -> None:
        """`key` was written or deleted in memory only."""
        if namespace not in self._namespaces:
            if len(self._keys) < self._max_keys:
                self._keys[(namespace, key)] = None
            else:
                self._namespaces.add(namespace)

    def invalidated(self, namespace: str) -> None:
        """A prefix or tag of `namespace` was invalidated in memory only."""
        self._namespaces.add(namespace)

    def next_change(self) -> tuple[str, str | None] | None:
        """The next change to replay: (namespace, key), or (namespace, None) to invalidate
        the whole namespace; None when the journal is empty."""
        if self._namespaces:
            return min(self._namespaces), None
        if self._keys:
            return next(iter(self._keys))
        return None

    def replayed(self, namespace: str, key: str | None) -> None:
        """Forget a change returned by :meth:`next_change` once the shared tier has it."""
        if key is None:
            self._namespaces.discard(namespace)
        else:
            self._keys.pop((namespace, key), None)
