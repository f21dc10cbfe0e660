"""The webhook benchmark's own parts: wrk sending each request once, the baselines answering
what Ringflow answers, the servers pinned to their CPU, the figures summed up.

No timing here: the benchmark itself is ``python -m bench.webhooks`` (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bench.baselines import fixed_app, gather_url, menu_app, menu_twiml
from bench.harness import BenchError, Job, call_params, make_signer, new_call_sid, signed_job
from bench.processes import check_cpus, pinned_server, python_command, server_env, usable_cpus
from bench.webhooks import (
    BARE,
    INCOMING,
    MENU,
    Phase,
    baseline_command,
    keypress_jobs,
    notes,
    summarize,
)
from bench.wrk import (
    WrkResult,
    histogram_percentile,
    parse_result,
    request_lines,
    run_wrk,
    write_requests,
)
from ivr.service import APOLOGY
from tests.conftest import PUBLIC_URL, ServerFactory, signed_post

RUN_ID = re.compile(r"/runs/[0-9a-f]{32}/")
needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def runs_masked(twiml: str) -> str:
    return RUN_ID.sub("/runs/RUN/", twiml)


@pytest.fixture
async def recording_server() -> AsyncIterator[tuple[str, list[tuple[str, str, str]]]]:
    """A loopback server noting (path, CallSid, signature) of every POST; it answers TwiML,
    but the apology for CallSids ending in "sorry" and a 500 for those ending in "boom"."""
    seen: list[tuple[str, str, str]] = []

    async def answer(request: web.Request) -> web.Response:
        form = await request.post()
        sid = str(form["CallSid"])
        seen.append((request.path, sid, request.headers.get("X-Twilio-Signature", "")))
        if sid.endswith("boom"):
            return web.Response(status=500, text="boom")
        text = APOLOGY if sid.endswith("sorry") else "Hello."
        return web.Response(text=f"<Response><Say>{text}</Say></Response>")

    app = web.Application()
    app.router.add_post("/{path:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen
    finally:
        await runner.cleanup()


def job(base_url: str, sid: str, path: str = "/twilio/voice") -> Job:
    return signed_job(make_signer("t" * 32), base_url + path, call_params(sid, "ringing"))


@needs_wrk
async def test_wrk_sends_every_request_once_and_counts_bad_answers(
    recording_server: tuple[str, list[tuple[str, str, str]]], tmp_path: Path
) -> None:
    base_url, seen = recording_server
    sids = [new_call_sid() for _ in range(297)] + ["CA-sorry", "CA-boom", "CA-also-sorry"]
    jobs = [
        job(base_url, sid, f"/twilio/voice/runs/{i:032x}/1/gather") for i, sid in enumerate(sids)
    ]
    requests = write_requests(tmp_path / "calls.requests", jobs, [APOLOGY])

    result = await asyncio.to_thread(run_wrk, shutil.which("wrk") or "", base_url, requests, 20, 60)

    assert sorted(sid for _path, sid, _sig in seen) == sorted(sids)  # each once, none left out
    sent = {sid: (path, signature) for path, sid, signature in seen}
    for sid, sent_job in zip(sids, jobs, strict=True):
        assert sent[sid] == (
            sent_job.url.removeprefix(base_url),
            sent_job.headers["X-Twilio-Signature"],
        )
    assert (result.sent, result.answered, result.completed) == (300, 300, 300)
    assert result.bad == 3
    assert result.errors(300) == 3
    assert result.status_errors == 1
    assert "We are sorry" in result.first_bad or result.first_bad.startswith("500")
    assert sum(count for _value, count in result.latency_us) >= 300
    # It ended on the last answer, not after sleeping out its 60 s.
    assert result.duration_s < 30


@needs_wrk
async def test_fewer_requests_than_connections(
    recording_server: tuple[str, list[tuple[str, str, str]]], tmp_path: Path
) -> None:
    base_url, seen = recording_server
    sids = [new_call_sid() for _ in range(3)]
    requests = write_requests(tmp_path / "few.requests", [job(base_url, sid) for sid in sids])

    result = await asyncio.to_thread(run_wrk, shutil.which("wrk") or "", base_url, requests, 50, 60)

    assert sorted(sid for _path, sid, _sig in seen) == sorted(sids)
    assert (result.answered, result.bad, result.errors(3)) == (3, 0, 0)


def test_requests_file_lines() -> None:
    body_job = Job(
        "http://127.0.0.1:8080/twilio/voice/runs/abc/1/gather?x=1",
        b"CallSid=CA1&Digits=1",
        {"X-Twilio-Signature": "c2ln"},
    )
    lines = list(request_lines([body_job], ["Sorry."]))
    assert lines == [
        "reject\tSorry.\n",
        "post\t/twilio/voice/runs/abc/1/gather?x=1\tc2ln\tCallSid=CA1&Digits=1\n",
    ]
    with pytest.raises(ValueError, match="tabs or line breaks"):
        list(request_lines([Job("http://h/p", b"a=1\tb", {})]))


def test_result_line_is_parsed_and_its_absence_is_an_error() -> None:
    output = (
        "Running 1m test @ http://127.0.0.1:1\n"
        'ringflow-bench: result {"duration_us":2000000,"completed":10,"sent":10,"answered":10,'
        '"bad":1,"first_bad":"500 boom","socket_errors":0,"timeouts":0,"status_errors":1,'
        '"p50_us":900,"p99_us":4000,"max_us":4000,"wrk_cpu_s":0.25,'
        '"latency_us":[[900,9],[4000,1]]}\n'
    )
    result = parse_result(output)
    assert result.rps == 5.0
    assert result.errors(12) == 3  # one bad answer, two never answered
    assert result.latency_us == ((900, 9), (4000, 1))
    with pytest.raises(BenchError, match="no result"):
        parse_result("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_histogram_percentiles_pool_histograms() -> None:
    pooled = [(100, 97), (5000, 3), (100, 100)]  # two runs' histograms, one bucket in both
    assert histogram_percentile(pooled, 0.50) == 100
    assert histogram_percentile(pooled, 0.99) == 5000
    assert histogram_percentile([], 0.99) == 0


# --- the baselines answer what Ringflow answers ------------------------------------------------


@pytest.fixture
async def baseline_urls() -> AsyncIterator[dict[str, str]]:
    """Both baseline apps on loopback ports, their action URLs on their own address."""
    runners, urls = [], {}
    for name, make in (("fixed", fixed_app), ("menu", menu_app)):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        runner = web.AppRunner(make(url), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        runners.append(runner)
        urls[name] = url
    try:
        yield urls
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_baselines_answer_the_demo_menu_ringflow_answers(
    servers: ServerFactory, baseline_urls: dict[str, str]
) -> None:
    server = await servers.start()
    ringflow = await signed_post(server, "/twilio/voice", call_params(new_call_sid(), "ringing"))
    assert ringflow.status == 200
    expected = runs_masked(ringflow.text).replace(PUBLIC_URL, "{url}")
    assert runs_masked(menu_twiml(gather_url(PUBLIC_URL, "0" * 32))) == runs_masked(ringflow.text)

    answers: dict[str, list[str]] = {}
    async with aiohttp.ClientSession() as session:
        for name, url in baseline_urls.items():
            for _ in range(2):
                form = call_params(new_call_sid(), "ringing")
                async with session.post(url + "/twilio/voice", data=form) as response:
                    assert response.status == 200
                    assert response.content_type == "text/xml"
                    answers.setdefault(name, []).append(await response.text())
    for name, url in baseline_urls.items():
        assert [runs_masked(a) for a in answers[name]] == [expected.format(url=url)] * 2
    assert answers["fixed"][0] == answers["fixed"][1]
    assert answers["menu"][0] != answers["menu"][1]  # a new run id each time


async def test_keypresses_go_to_the_menu_each_call_was_answered_with(
    servers: ServerFactory,
) -> None:
    server = await servers.start()
    sid = new_call_sid()
    call = job(PUBLIC_URL, sid)
    answer = await signed_post(server, "/twilio/voice", call_params(sid, "ringing"))

    (press,) = keypress_jobs(make_signer("t" * 32), PUBLIC_URL, [call], [answer.text])

    action = re.search(r'<Gather action="([^"]+)"', answer.text)
    assert action is not None
    assert press.url == action.group(1)
    assert f"CallSid={sid}" in press.body.decode()
    assert "Digits=1" in press.body.decode()
    path = press.url.removeprefix(PUBLIC_URL)
    params = dict(call_params(sid, "in-progress"), Digits="1", FinishedOnKey="")
    turn = await signed_post(server, path, params)
    assert turn.status == 200
    assert "We are open nine to six" in turn.text


# --- servers pinned to their CPU -------------------------------------------------------------


def test_servers_get_neither_ringflow_nor_twilio_settings_of_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RINGFLOW_DATABASE_URL", "postgresql://elsewhere/prod")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    env = server_env({"RINGFLOW_DATA_DIR": "/tmp/x"})
    assert "RINGFLOW_DATABASE_URL" not in env
    assert "TWILIO_ACCOUNT_SID" not in env
    assert env["RINGFLOW_DATA_DIR"] == "/tmp/x"
    assert env["PATH"] == os.environ["PATH"]


def test_the_server_and_the_load_need_two_usable_cpus() -> None:
    with pytest.raises(BenchError, match="different CPUs"):
        check_cpus(0, 0)
    with pytest.raises(BenchError, match="not available"):
        check_cpus(0, 4096)


async def test_a_server_runs_pinned_to_its_cpu_and_stops(tmp_path: Path) -> None:
    one_cpu = max(usable_cpus())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = baseline_command("fixed", port)
    assert command[:3] == python_command("-m", "bench.baselines")
    log = tmp_path / "fixed.log"
    before = os.sched_getaffinity(0)

    with pinned_server("bare", command, server_env({}), port, one_cpu, log) as server:
        assert os.sched_getaffinity(server.pid) == {one_cpu}
        assert os.sched_getaffinity(0) == before  # this process is not left pinned
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.base_url + "/twilio/voice", data={"CallSid": "CA1"}) as response,
        ):
            assert "<Gather" in await response.text()
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(server.pid, 0)


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    one_cpu = max(usable_cpus())
    command = python_command("-c", "import sys; print('no such luck'); sys.exit(3)")
    with (
        pytest.raises(BenchError, match=r"exited with status 3(.|\n)*no such luck"),
        pinned_server("broken", command, server_env({}), 1, one_cpu, tmp_path / "log"),
    ):
        pass


# --- the figures ------------------------------------------------------------------------------


def phase(scenario: str, number: int, rps: float, server_cpu_s: float) -> Phase:
    """A phase of 1000 answered requests at ``rps``, every latency 1 ms but 20 at 50 ms."""
    result = WrkResult(
        duration_s=1000 / rps,
        completed=1000,
        sent=1000,
        answered=1000,
        bad=0,
        first_bad="",
        socket_errors=0,
        timeouts=0,
        status_errors=0,
        latency_us=((1000, 980), (50_000, 20)),
        wrk_cpu_s=0.2 * 1000 / rps,  # wrk at 20 % of its CPU
    )
    return Phase(scenario, number, 1000, result, server_cpu_s, 0.0, 1000 / rps + 0.1)


def test_ratios_are_taken_against_the_same_rounds_baselines() -> None:
    phases = [
        phase(BARE, 1, 10_000, 0.05),
        phase(MENU, 1, 4_000, 0.25),
        phase(INCOMING, 1, 2_000, 0.5),
        phase(BARE, 2, 5_000, 0.06),  # a slow round for everything
        phase(MENU, 2, 2_000, 0.26),
        phase(INCOMING, 2, 1_000, 0.52),
    ]
    incoming = summarize(INCOMING, phases)
    assert incoming.vs_bare == (0.2, 0.2)
    assert incoming.vs_menu == (0.5, 0.5)
    assert incoming.median_rps == 1_500
    assert incoming.server_us == pytest.approx(510)  # all CPU over all requests
    assert (incoming.p50_ms, incoming.p99_ms) == (1.0, 50.0)  # both rounds' requests pooled
    assert summarize(BARE, phases).server_us == pytest.approx(55)


def test_phases_with_other_work_on_the_server_cpu_or_failures_get_notes() -> None:
    quiet = phase(BARE, 1, 10_000, 0.05)
    disturbed = dataclasses.replace(phase(INCOMING, 1, 10_000, 0.5), other_cpu_s=0.05)
    failed = dataclasses.replace(
        phase(MENU, 1, 10_000, 0.2),
        wrk=dataclasses.replace(quiet.wrk, answered=998, bad=1, first_bad="500 boom"),
    )

    lines = notes([quiet, disturbed, failed])

    assert lines == [
        "  round 1, aiohttp + VoiceResponse: 3 of 1000 requests failed, e.g. '500 boom'",
        "  other work took over 10 % of the server's CPU in 1 of 3 phases (up to 25 %): their "
        "req/s are understated, and CPU per request is inflated too when it is much",
    ]
    assert notes([quiet]) == []
