"""The client's address: `X-Forwarded-For` is believed only when the direct peer is a trusted proxy.

Hops may carry a port (`198.18.0.7:40007`, `[2001:db8::7]:40007`): the address is what counts, so every
reader of a client address goes through `request_client_ip` here."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted if entry.strip())


def parse_address(text: str | None) -> Address | None:
    """An IP address from `ip`, `ip:port`, `[v6]` or `[v6]:port`; None when it is none of those."""
    if not text:
        return None
    host = text.strip().strip('"')
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:] if end > 0 else "x"
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        host = host[1:end]
    elif host.count(":") == 1:
        host, port = host.split(":")
        if not port.isdigit():
            return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """Walk `X-Forwarded-For` from the right past trusted proxies; the first untrusted hop is the client.

    Anything left of that hop was written by the client itself and is ignored, so nobody escapes a
    per-IP limit by inventing addresses.
    """
    peer_address = parse_address(peer)
    shown_peer = str(peer_address) if peer_address is not None else (peer or "unknown")
    networks = _networks(tuple(trusted_proxies))
    if not forwarded_for or not _is_trusted(peer_address, networks):
        return shown_peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if not _is_trusted(address, networks):
            # A hop that is no address (`unknown`, garbage) cannot be limited on its own: fall back to the proxy.
            return str(address) if address is not None else shown_peer
    # Every hop is a trusted proxy: the leftmost is the closest thing to a client.
    first = parse_address(hops[0]) if hops else None
    return str(first) if first is not None else shown_peer


def request_client_ip(connection: HTTPConnection, trusted_proxies: Iterable[str]) -> str:
    """The client address of a request, from its peer and `X-Forwarded-For`."""
    peer = connection.client.host if connection.client else None
    return client_ip(peer, connection.headers.get("x-forwarded-for"), trusted_proxies)
