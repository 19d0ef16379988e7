"""ProtoEnum: proto enum values by short name, built from the contract itself."""

from __future__ import annotations

import enum

import pytest

from wasmgrid.api.cache.v1 import cache_pb2
from wasmgrid.api.marketplace.v1 import marketplace_pb2 as mp
from wasmgrid.api.runtime.v1 import runtime_pb2
from wasmgrid.common.errors import InvalidArgument
from wasmgrid.common.protoenum import ProtoEnum

SCOPES = ProtoEnum.names(mp.Scope)


class Policy(enum.StrEnum):
    W_TINYLFU = "w-tinylfu"
    LRU = "lru"
    LFU = "lfu"
    FIFO = "fifo"
    TTL_FIRST = "ttl-first"


def test_short_names_drop_the_enums_prefix() -> None:
    assert SCOPES.choices == ("publish", "yank", "rate", "admin")
    assert SCOPES.name(mp.SCOPE_YANK) == "yank"
    assert SCOPES.name(0) == "unspecified"
    assert SCOPES.name(99) == "99"
    assert ProtoEnum.names(runtime_pb2.Outcome).name(runtime_pb2.OUTCOME_FUEL_EXHAUSTED) == (
        "fuel_exhausted"
    )


def test_text_parses_to_the_proto_number_or_names_the_choices() -> None:
    assert SCOPES.parse("rate", "scopes[0]") == mp.SCOPE_RATE
    with pytest.raises(InvalidArgument, match=r"^scopes\[0\]: 'run' is not one of publish, yank"):
        SCOPES.parse("run", "scopes[0]")


def test_numbers_from_a_message_map_to_domain_values_and_zero_is_not_set() -> None:
    assert SCOPES.from_proto(mp.SCOPE_ADMIN, "scope") == "admin"
    assert SCOPES.from_proto(0, "scope") is None
    with pytest.raises(InvalidArgument, match=r"^token\.scopes: 9 is not a value of Scope"):
        SCOPES.from_proto(9, "token.scopes")
    assert SCOPES.to_proto("publish") == mp.SCOPE_PUBLISH
    assert SCOPES.to_proto("run", default=0) == 0
    with pytest.raises(KeyError):
        SCOPES.to_proto("run")


def test_domain_enum_members_are_matched_by_name() -> None:
    policies = ProtoEnum.members(cache_pb2.EvictionPolicy, Policy)
    assert policies.to_proto(Policy.TTL_FIRST) == cache_pb2.EVICTION_POLICY_TTL_FIRST
    assert policies.from_proto(cache_pb2.EVICTION_POLICY_W_TINYLFU, "policy") is Policy.W_TINYLFU


def test_a_domain_enum_that_does_not_match_the_contract_is_refused_at_build_time() -> None:
    class Partial(enum.Enum):
        LRU = 1

    with pytest.raises(ValueError, match="Partial and proto enum EvictionPolicy differ"):
        ProtoEnum.members(cache_pb2.EvictionPolicy, Partial)
