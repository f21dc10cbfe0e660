"""Who sent a request: the direct peer, or, behind a trusted proxy, the address it forwarded.

``X-Forwarded-For`` is a list anyone can start: a client sends ``X-Forwarded-For: 1.2.3.4``
and each proxy on the way appends the address it got the request from. So the header is
read only when the direct peer is one of ``RINGFLOW_TRUSTED_PROXIES`` (addresses or
networks), and then from the right: proxies we trust are skipped, and the first address that
is not one of them is the client (everything to its left was written by the client itself).
When every address is a trusted proxy, the left-most one is the client. An entry that is not
an address ends the walk: the last trusted hop before it is taken instead, since an entry a
trusted proxy wrote is always an address.

Without trusted proxies, or from any other peer, the header is ignored: the client is the
direct peer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web

__all__ = ["ClientAddress", "Network"]

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
UNKNOWN = "?"
"""The client of a request whose peer address is unknown (e.g. a Unix socket)."""


def _parse(text: str) -> Address | None:
    """An address from a header entry or a peer; ``[v6]:port`` and ``v4:port`` allowed."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


class ClientAddress:
    """Finds a request's client address (see the module docstring)."""

    def __init__(self, trusted_proxies: Iterable[Network] = ()) -> None:
        self._trusted = tuple(trusted_proxies)

    def _is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        """The client, given the direct ``peer`` and the ``X-Forwarded-For`` header values
        (in the order they came)."""
        if peer is None:
            return UNKNOWN
        nearest = _parse(peer)
        if nearest is None:
            return peer[:64]
        if not self._trusted or not self._is_trusted(nearest):
            return str(nearest)
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                break
            nearest = address
            if not self._is_trusted(address):
                break
        return str(nearest)

    def of(self, request: web.BaseRequest) -> str:
        """The client of ``request``."""
        return self.resolve(request.remote, request.headers.getall("X-Forwarded-For", []))
