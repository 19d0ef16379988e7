"""The consistency bookkeeping and namespace configurations, alone: no Redis, no gRPC."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from wasmgrid.cache import configs
from wasmgrid.cache.compression import CompressionMode
from wasmgrid.cache.consistency import MutationLog, OutageJournal
from wasmgrid.cache.policies import PolicyName
from wasmgrid.cache.records import NamespaceSpec
from wasmgrid.cache.redis_tier import MutationKind
from wasmgrid.cache.settings import CacheSettings
from wasmgrid.common.errors import InvalidArgument


def _settings() -> CacheSettings:
    values: dict[str, Any] = {"redis_url": ""}  # every other field takes its default
    return CacheSettings(**values)


# -- the mutation log ------------------------------------------------------------------


def test_a_fill_is_refused_after_a_newer_mutation_of_its_key_prefix_or_tag() -> None:
    log = MutationLog(retention=60)
    started = time.monotonic()
    log.record("ns", MutationKind.KEY, "other", 9)
    log.record("elsewhere", MutationKind.KEY, "k", 9)
    log.record("ns", MutationKind.KEY, "k", 3)  # older than the value read (version 5)
    assert log.allows("ns", "k", 5, (), started)
    log.record("ns", MutationKind.PREFIX, "user:", 6)
    assert not log.allows("ns", "user:1", 5, (), started)
    assert log.allows("ns", "session:1", 5, (), started)
    log.record("ns", MutationKind.TAG, "t", 7)
    assert not log.allows("ns", "x", 5, ("t",), started)
    assert log.allows("ns", "x", 5, ("u",), started)
    assert log.allows("ns", "x", 7, ("t",), started)  # as new as the mutation itself
    log.record("ns", MutationKind.KEY, "k", 8)
    assert not log.allows("ns", "k", 5, (), started)


def test_mutations_before_the_read_started_do_not_refuse_its_fill() -> None:
    log = MutationLog(retention=60)
    log.record("ns", MutationKind.KEY, "k", 9)
    assert log.allows("ns", "k", 5, (), time.monotonic() + 1)


def test_when_the_log_drops_entries_early_older_reads_are_refused_whole() -> None:
    log = MutationLog(retention=60, max_entries=2)
    before = time.monotonic() - 1
    for i in range(3):
        log.record("ns", MutationKind.KEY, f"other{i}", 10 + i)
    # The first mutation was dropped: a read from before it cannot be checked against it.
    assert not log.allows("ns", "k", 5, (), before)
    assert log.allows("ns", "k", 5, (), time.monotonic() + 1)


# -- the outage journal ----------------------------------------------------------------


def test_the_journal_replays_whole_namespaces_first_then_keys_in_order() -> None:
    journal = OutageJournal(max_keys=2)
    journal.wrote("a", "k1")
    journal.wrote("a", "k2")
    journal.wrote("b", "k3")  # over max_keys: namespace b is invalidated as a whole
    journal.invalidated("c")
    journal.wrote("c", "k4")  # c is invalidated whole anyway: not remembered
    replayed = []
    while (change := journal.next_change()) is not None:
        replayed.append(change)
        journal.replayed(*change)
    assert replayed == [("b", None), ("c", None), ("a", "k1"), ("a", "k2")]


# -- namespace configurations ----------------------------------------------------------


def test_a_resolved_configuration_round_trips_through_its_shared_json() -> None:
    settings = _settings()
    spec = NamespaceSpec(
        "sessions",
        max_bytes=1 << 20,
        default_ttl_ms=30_000,
        policy=PolicyName.LRU,
        compression=CompressionMode.ZSTD,
        zstd_level=5,
        local_only=True,
    )
    config = configs.resolve(spec, settings)
    shared = configs.spec_from_json("sessions", configs.to_json(config))
    assert configs.resolve(shared, settings) == config
    assert config.max_entries == settings.default_max_entries  # 0 took the default


def test_the_adaptive_window_is_each_replicas_own_setting() -> None:
    spec = NamespaceSpec("pages")
    assert configs.resolve(spec, _settings()).adaptive_window  # on by default
    fixed = _settings().model_copy(update={"adaptive_window": False})
    config = configs.resolve(spec, fixed)
    assert not config.adaptive_window
    # Not written to the shared configuration: another replica applies its own setting.
    assert "adaptive_window" not in configs.to_json(config)
    assert configs.resolve(
        configs.spec_from_json("pages", configs.to_json(config)), _settings()
    ).adaptive_window


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (NamespaceSpec("n", max_bytes=100), "config.max_bytes: 100 is outside 4096.."),
        (NamespaceSpec("n", zstd_level=40), "config.zstd_level: 40 is outside 1..19"),
        (NamespaceSpec("n", min_compress_bytes=2 << 20), "config.min_compress_bytes: 2097152"),
        (NamespaceSpec("Bad Name"), "config.name"),
    ],
)
def test_a_spec_outside_the_limits_is_refused_naming_field_and_limit(
    spec: NamespaceSpec, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        configs.resolve(spec, _settings())
