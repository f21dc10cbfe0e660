"""Outbound HTTP that cannot be turned against the server's own network (SSRF guard).

Workflows (``http_request`` steps) and webhook subscriptions make Ringflow call URLs an admin
wrote. Without a guard, such a URL could reach what only the server can reach: a cloud
metadata service (``169.254.169.254``), the database, an admin page on ``localhost``. So every
request made here:

* is ``http``/``https`` to a host name or address, without user info in the URL;
* goes to a host on the :class:`OutboundPolicy`'s allowlist, when it has one;
* goes only to *public* addresses: the host's name is resolved and EVERY address it resolves to
  is checked (loopback, private, link-local, shared, reserved, multicast and unspecified
  addresses are refused, IPv4 addresses inside IPv6 ones too), unless it is inside one of the
  networks the settings allow (``RINGFLOW_OUTBOUND_ALLOWED_NETWORKS``). The connection is made
  to the addresses that were checked (:class:`GuardedResolver` is the connector's resolver), so
  a name that resolves differently a moment later (DNS rebinding) changes nothing; an address
  literal in the URL, which aiohttp never resolves, is checked before the request;
* never follows a redirect (a 3xx is an answer like any other), ignores proxy settings from
  the environment, and reads at most ``max_bytes`` of the answer within ``timeout`` seconds.

Errors: :class:`OutboundRefused` (the policy said no: never worth retrying) and
:class:`OutboundFailed` (timeout, connection, an answer too large: maybe later), both
:class:`OutboundError`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from ringflow.client_address import Network

__all__ = [
    "GuardedResolver",
    "OutboundAnswer",
    "OutboundClient",
    "OutboundError",
    "OutboundFailed",
    "OutboundPolicy",
    "OutboundRefused",
    "guarded_session",
    "send",
]

USER_AGENT = "Ringflow-Outbound/1"


class OutboundError(Exception):
    """An outbound request did not get an answer."""


class OutboundRefused(OutboundError, OSError):
    """The policy refuses the URL, its host or an address it resolves to."""


class OutboundFailed(OutboundError):
    """No answer: a timeout, a connection error, an answer too large."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


_NAT64 = (ip_network("64:ff9b::/96"), ip_network("64:ff9b:1::/48"))


def _plain(address: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address, else
    itself."""
    if isinstance(address, IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                return inner
        if address.teredo is not None:
            return address.teredo[1]
        if any(address in prefix for prefix in _NAT64):
            return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class OutboundPolicy:
    """Where outbound requests may go: ``hosts`` (None: any host; else exact names or
    ``*.example.com`` for its subdomains) and ``networks`` that may be reached although they
    are not public (an internal CRM at 10.0.0.8)."""

    hosts: tuple[str, ...] | None = None
    networks: tuple[Network, ...] = field(default=())

    def address_allowed(self, address: IPv4Address | IPv6Address) -> bool:
        """Whether a connection to ``address`` is allowed."""
        if any(address in network for network in self.networks):
            return True
        inner = _plain(address)
        if inner is not address and any(inner in network for network in self.networks):
            return True
        return all(
            candidate.is_global and not candidate.is_multicast and not candidate.is_unspecified
            for candidate in {address, inner}
        )

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` (lower case, no trailing dot) is on the allowlist."""
        if self.hosts is None:
            return True
        for allowed in self.hosts:
            pattern = allowed.lower().rstrip(".")
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and host != pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False

    def check_url(self, url: str | URL) -> URL:
        """``url`` parsed, or :class:`OutboundRefused` saying why it may not be called (its
        host's addresses are checked when it is resolved)."""
        try:
            parsed = URL(url) if isinstance(url, str) else url
        except (ValueError, TypeError):
            raise OutboundRefused("not a URL") from None
        if parsed.scheme not in ("http", "https"):
            raise OutboundRefused(f"only http and https URLs, not {parsed.scheme or 'none'!r}")
        host = (parsed.raw_host or "").lower().rstrip(".")
        if not host:
            raise OutboundRefused("the URL has no host")
        if parsed.user is not None or parsed.password is not None:
            raise OutboundRefused("the URL must not carry a user name or password")
        if not self.host_allowed(host):
            raise OutboundRefused(f"host {host!r} is not on the allowlist")
        literal = _literal(host)
        if literal is not None and not self.address_allowed(literal):
            raise OutboundRefused(f"address {literal} is not public")
        return parsed


def _literal(host: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses the host if ANY of its addresses is not allowed."""

    def __init__(self, policy: OutboundPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = ip_address(result["host"])
            if not self._policy.address_allowed(address):
                raise OutboundRefused(f"host {host!r} resolves to {address}, which is not public")
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_session(policy: OutboundPolicy, *, limit: int = 100) -> aiohttp.ClientSession:
    """A client session whose connections go only where ``policy`` allows (no proxies from
    the environment, no cookies kept between requests)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit=limit)
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True, slots=True)
class OutboundAnswer:
    """What the other side answered (any status: redirects are not followed)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def send(
    session: aiohttp.ClientSession,
    policy: OutboundPolicy,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109  (the exchange's bound, applied inside)
    max_bytes: int = 256 * 1024,
) -> OutboundAnswer:
    """Make one request under ``policy`` (see the module docstring); the whole exchange
    within ``timeout`` seconds, at most ``max_bytes`` of answer."""
    target = policy.check_url(url)
    try:
        async with asyncio.timeout(timeout):
            async with session.request(
                method,
                target,
                headers=dict(headers or {}),
                data=body,
                allow_redirects=False,
            ) as response:
                content = await response.content.read(max_bytes + 1)
                if len(content) > max_bytes:
                    raise OutboundFailed(f"the answer is larger than {max_bytes} bytes")
                return OutboundAnswer(response.status, dict(response.headers), content)
    except TimeoutError:
        raise OutboundFailed(f"no answer within {timeout:g} s", timeout=True) from None
    except aiohttp.ClientConnectorError as error:
        refused = _refusal(error)
        if refused is not None:
            raise refused from None
        raise OutboundFailed(f"could not connect: {error.os_error or error}") from None
    except aiohttp.ClientError as error:
        raise OutboundFailed(f"request failed: {type(error).__name__}: {error}") from None


def _refusal(error: aiohttp.ClientConnectorError) -> OutboundRefused | None:
    cause: Any = error.os_error
    seen: Sequence[Any] = (cause, error.__cause__, getattr(cause, "__cause__", None))
    for item in seen:
        if isinstance(item, OutboundRefused):
            return item
    return None


class OutboundClient:
    """:func:`send` under one policy, over a session opened when first needed; close it with
    :meth:`close` (its owner's cleanup context does)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109  (passed on to send())
        max_bytes: int = 256 * 1024,
    ) -> OutboundAnswer:
        """One request (see :func:`send`)."""
        if self._session is None or self._session.closed:
            self._session = guarded_session(self.policy)
        return await send(
            self._session,
            self.policy,
            method,
            url,
            headers=headers,
            body=body,
            timeout=timeout,
            max_bytes=max_bytes,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
