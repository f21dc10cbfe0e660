"""The outbound guard: which addresses are public, URLs refused before any connection, a host
refused when ANY address it resolves to is internal (a name that mixes a public address with
a private one, or rebinds between a check and the connection, cannot slip through: the
connection goes to the addresses the resolver checked), redirects never followed, answers
bounded in time and size. Against real sockets on loopback, allowed explicitly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from ipaddress import ip_address, ip_network

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from ringflow.outbound import (
    GuardedResolver,
    OutboundClient,
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
)

LOOPBACK = OutboundPolicy(None, (ip_network("127.0.0.0/8"),))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space
        "0.0.0.0",  # noqa: S104  (an address refused, not bound)
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert not OutboundPolicy().address_allowed(ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert OutboundPolicy().address_allowed(ip_address(address))


def test_allowed_networks_open_one_internal_range_only() -> None:
    policy = OutboundPolicy(None, (ip_network("10.1.0.0/16"),))
    assert policy.address_allowed(ip_address("10.1.2.3"))
    assert not policy.address_allowed(ip_address("10.2.0.1"))
    assert not policy.address_allowed(ip_address("127.0.0.1"))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://127.0.0.1:8080/admin", "not public"),
        ("http://[::ffff:a9fe:a9fe]/latest", "not public"),
        ("http:///nohost", "no host"),
    ],
)
def test_urls_refused_before_any_connection(url: str, why: str) -> None:
    with pytest.raises(OutboundRefused, match=why):
        OutboundPolicy().check_url(url)


def test_the_host_allowlist() -> None:
    policy = OutboundPolicy(("api.crm.example", "*.shop.example"))
    policy.check_url("https://api.crm.example/x")
    policy.check_url("https://eu.shop.example/x")
    for url in ("https://crm.example/", "https://shop.example/", "https://evilshop.example/"):
        with pytest.raises(OutboundRefused, match="allowlist"):
            policy.check_url(url)


class Answers(AbstractResolver):
    """A resolver that answers each name with the addresses it is given."""

    def __init__(self, **names: list[str]) -> None:
        self.names = names
        self.asked = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked += 1
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.names[host.replace(".", "_")]
        ]

    async def close(self) -> None:
        return None


async def test_a_name_with_any_internal_address_is_refused() -> None:
    inner = Answers(mixed_example=["93.184.215.14", "10.0.0.7"], public_example=["8.8.8.8"])
    resolver = GuardedResolver(OutboundPolicy(), inner)
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.7"):
        await resolver.resolve("mixed.example", 80)
    assert [r["host"] for r in await resolver.resolve("public.example", 80)] == ["8.8.8.8"]


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path == "/redirect":
            raise web.HTTPFound("/secret")
        if request.path == "/big":
            return web.Response(body=b"x" * 10_000)
        if request.path == "/slow":
            await asyncio.sleep(2)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", hits
    await runner.cleanup()


async def test_names_are_checked_when_connecting(site: tuple[str, list[str]]) -> None:
    base, hits = site
    port = base.rsplit(":", 1)[1]
    client = OutboundClient(OutboundPolicy())  # loopback not allowed
    try:
        with pytest.raises(OutboundRefused, match="not public"):
            await client.send("GET", f"http://localhost:{port}/x")
    finally:
        await client.close()
    assert hits == []


async def test_redirects_are_answers_not_followed(site: tuple[str, list[str]]) -> None:
    base, hits = site
    client = OutboundClient(LOOPBACK)
    try:
        answer = await client.send("GET", base + "/redirect")
        assert answer.status == 302
        assert not answer.ok
        with pytest.raises(OutboundFailed, match="larger than 100 bytes"):
            await client.send("GET", base + "/big", max_bytes=100)
        with pytest.raises(OutboundFailed) as slow:
            await client.send("GET", base + "/slow", timeout=0.2)
        assert slow.value.timeout
    finally:
        await client.close()
    assert hits == ["/redirect", "/big", "/slow"]
