"""The client address a service records: the gateway's word for it, else the gRPC peer."""

from __future__ import annotations

import pytest

from wasmgrid.common.origin import (
    CLIENT_ADDRESS_KEY,
    MAX_ADDRESS_CHARS,
    client_address,
    forwarded,
    peer_host,
)


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.0.0.7:5123", "10.0.0.7"),
        ("ipv6:[::1]:5123", "::1"),
        ("ipv6:[2001:db8::5%eth0]:443", "2001:db8::5%eth0"),
        ("unix:/run/wasmgrid.sock", "unix:/run/wasmgrid.sock"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_grpc_peer_string_gives_its_address(peer: str | None, host: str) -> None:
    assert peer_host(peer) == host


def test_the_forwarded_client_address_wins_over_the_peer() -> None:
    md = (("authorization", "Bearer x"), (CLIENT_ADDRESS_KEY, " 203.0.113.9 "))
    assert client_address(md, "ipv4:10.0.0.7:5123") == "203.0.113.9"


def test_without_a_forwarded_address_the_peer_is_the_client() -> None:
    assert client_address((("authorization", "Bearer x"),), "ipv4:10.0.0.7:5") == "10.0.0.7"
    assert client_address(None, "ipv6:[::1]:5") == "::1"
    assert client_address(((CLIENT_ADDRESS_KEY, "  "),), "ipv4:10.0.0.7:5") == "10.0.0.7"


def test_a_forwarded_address_is_bounded() -> None:
    md = ((CLIENT_ADDRESS_KEY, "x" * 10_000),)
    assert client_address(md, "ipv4:10.0.0.7:5") == "x" * MAX_ADDRESS_CHARS


def test_an_address_sent_onward_is_printable_ascii_and_bounded() -> None:
    assert forwarded("198.51.100.23") == (CLIENT_ADDRESS_KEY, "198.51.100.23")
    assert forwarded("bad\r\nhost\u00e9") == (CLIENT_ADDRESS_KEY, "bad??host?")
    assert len(forwarded("1" * 10_000)[1]) == MAX_ADDRESS_CHARS
