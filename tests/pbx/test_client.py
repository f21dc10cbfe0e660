"""The AMI connection against a local AMI server over TCP: the library's defects, worked
around (silence, a raising listener, concurrent sends), and the asyncio bridge."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from asterisk.ami import AMIClient

from pbx.client import AmiActionFailed, AmiClosed, AmiLink
from tests.fakes.ami_server import FakeAsterisk, read_events


@pytest.fixture
async def pbx() -> AsyncIterator[FakeAsterisk]:
    async with FakeAsterisk() as running:
        yield running


async def open_link(pbx: FakeAsterisk) -> AmiLink:
    link = AmiLink(asyncio.get_running_loop(), action_timeout=5)
    await link.open("127.0.0.1", pbx.port, pbx.username, pbx.secret)
    return link


async def next_event(link: AmiLink, name: str) -> dict[str, str]:
    async with asyncio.timeout(5):
        while True:
            event = await link.events.get()
            assert event is not None, "the connection closed"
            if event.get("Event") == name:
                return event


async def test_login_actions_and_event_lists(pbx: FakeAsterisk) -> None:
    link = await open_link(pbx)
    try:
        assert link.version == "5.0.2"
        assert (await link.action("Ping"))["Ping"] == "Pong"
        await pbx.play(read_events("answered")[:5])  # the caller's leg and Alice's, ringing
        channels = await link.event_list("CoreShowChannels", "CoreShowChannelsComplete")
        assert {c["Channel"] for c in channels} == {"PJSIP/trunk-00000012", "PJSIP/1001-00000013"}
        assert (await next_event(link, "Newchannel"))["CallerIDNum"] == "+14155550123"
        with pytest.raises(AmiActionFailed, match="Invalid/unknown command"):
            await link.action("NoSuchAction")
    finally:
        await link.close()
    login = pbx.received("Login")[0]
    assert login["Secret"] == pbx.secret
    assert login["ActionID"]


async def test_a_wrong_secret_is_refused(pbx: FakeAsterisk) -> None:
    link = AmiLink(asyncio.get_running_loop(), action_timeout=5)
    with pytest.raises(AmiActionFailed, match="Authentication failed"):
        await link.open("127.0.0.1", pbx.port, pbx.username, "wrong")
    assert link.closed.is_set()


async def test_nobody_listening_is_a_closed_connection() -> None:
    with SocketPort() as port:
        link = AmiLink(asyncio.get_running_loop())
        with pytest.raises(AmiClosed):
            await link.open("127.0.0.1", port, "ringflow", "x", connect_timeout=1)


async def test_ten_silent_seconds_kill_the_library_reader_but_not_ours(pbx: FakeAsterisk) -> None:
    # The library as published: its reader dies after its 3 s socket timeout.
    plain = AMIClient(address="127.0.0.1", port=pbx.port, timeout=3)
    await asyncio.to_thread(plain.connect)
    link = await open_link(pbx)
    try:
        started = time.monotonic()
        await asyncio.sleep(10)  # real silence: no pings, no events, on either connection
        assert time.monotonic() - started >= 10
        assert not plain._thread.is_alive(), "the unpatched reader should have died"
        await pbx.emit({"Event": "FullyBooted", "Privilege": "system,all", "Status": "after"})
        assert (await next_event(link, "FullyBooted"))["Status"] == "Fully Booted"
        assert (await next_event(link, "FullyBooted"))["Status"] == "after"
        assert (await link.action("Ping"))["Ping"] == "Pong"
    finally:
        await link.close()
        await asyncio.to_thread(plain.disconnect)


async def test_a_listener_that_raises_does_not_stop_the_reader(pbx: FakeAsterisk) -> None:
    seen: list[str] = []
    threads: set[str] = set()

    def listener(event: dict[str, str]) -> None:
        threads.add(threading.current_thread().name)
        seen.append(event["Event"])
        raise RuntimeError("a buggy listener")

    link = AmiLink(asyncio.get_running_loop(), action_timeout=5)
    link.add_thread_listener(listener)
    await link.open("127.0.0.1", pbx.port, pbx.username, pbx.secret)
    try:
        events = read_events("missed")
        await pbx.play(events)
        for expected in events:
            assert (await next_event(link, expected["Event"]))["Uniqueid"] == expected["Uniqueid"]
        assert (await link.action("Ping"))["Ping"] == "Pong"
    finally:
        await link.close()
    assert seen.count("Hangup") == 2
    assert threads == {"ami-reader"}  # listeners run on the reader thread, like the library's


async def test_concurrent_actions_are_sent_whole_and_answered_each(pbx: FakeAsterisk) -> None:
    link = await open_link(pbx)
    try:
        answers = await asyncio.gather(*(link.action("Ping") for _ in range(200)))
    finally:
        await link.close()
    assert len({answer["ActionID"] for answer in answers}) == 200
    assert len(pbx.received("Ping")) == 200


async def test_a_dropped_connection_fails_waiting_actions_and_ends_the_events(
    pbx: FakeAsterisk,
) -> None:
    link = await open_link(pbx)
    await pbx.drop()
    async with asyncio.timeout(5):
        while (await link.events.get()) is not None:
            pass
    with pytest.raises(AmiClosed):
        await link.action("Ping")
    await link.close()


class SocketPort:
    """A loopback port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
