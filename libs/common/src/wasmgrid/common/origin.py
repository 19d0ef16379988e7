"""Where a request came from, as one service tells another over gRPC.

The gateway is the edge: it knows the HTTP client's address (its TCP peer, or the
first ``X-Forwarded-For`` hop when it is configured to trust its proxy) and sends it
in the metadata key :data:`CLIENT_ADDRESS_KEY` with each call it makes for that
client. A service reads it with :func:`client_address`, falling back to its own gRPC
peer for callers that come directly. The peer itself is always known to the service,
so a claimed address can be checked against who claimed it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: gRPC metadata key carrying the HTTP client's address.
CLIENT_ADDRESS_KEY = "wasmgrid-client-address"
#: Longest address kept (an IPv6 address with a zone is far shorter).
MAX_ADDRESS_CHARS = 256


def peer_host(peer: str | None) -> str:
    """The address in a gRPC peer string: ``ipv4:10.0.0.7:5123`` → ``10.0.0.7``,
    ``ipv6:[::1]:5123`` → ``::1``; any other form (``unix:…``) as it is."""
    if not peer:
        return ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    if kind == "ipv6":
        host = rest.rpartition(":")[0] if rest.startswith("[") else rest
        return host.strip("[]")
    return peer[:MAX_ADDRESS_CHARS]


def forwarded(address: str) -> tuple[str, str]:
    """The metadata entry that tells a service the client's `address`: printable ASCII
    (gRPC metadata allows no more; anything else becomes ``?``), at most
    :data:`MAX_ADDRESS_CHARS` characters."""
    text = "".join(c if " " <= c <= "~" else "?" for c in address[:MAX_ADDRESS_CHARS])
    return CLIENT_ADDRESS_KEY, text


def client_address(metadata: Iterable[tuple[str, str | bytes]] | None, peer: str | None) -> str:
    """The client's address: the value of :data:`CLIENT_ADDRESS_KEY` when a caller sent
    one (at most :data:`MAX_ADDRESS_CHARS` characters), else the gRPC peer's host."""
    for key, value in metadata or ():
        if key == CLIENT_ADDRESS_KEY:
            text = value if isinstance(value, str) else value.decode("ascii", "replace")
            text = text.strip()
            if text:
                return text[:MAX_ADDRESS_CHARS]
    return peer_host(peer)
