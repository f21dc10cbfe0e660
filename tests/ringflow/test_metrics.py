"""``/metrics``: scraped from a real server, the counters a monitoring system alerts on move
with what the server did; nobody without a token reads them; a separate listener serves them
to a private scraper; every app keeps its own; a separate worker process serves its own on
its listener."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ringflow.clock import system_clock
from ringflow.database import open_database
from ringflow.metrics import Metrics
from ringflow.metrics_http import exposition
from server import JOB_WORKER
from tests.conftest import RunningServer, ServerFactory, eventually, signed_post
from workflows.jobs import enqueue
from workflows.jobs.stats import job_counts

METRICS_TOKEN = "metrics-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef0123"
CALL = {"CallSid": "CA" + "1" * 32, "From": "+15551230000", "To": "+15559870000"}


async def scrape(server: RunningServer, token: str = METRICS_TOKEN) -> dict[str, float]:
    """Every sample of the server's ``/metrics``, keyed ``name{label="value",...}``."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + "/metrics", headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return samples(await response.text())


def samples(exposition: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


async def start(servers: ServerFactory, admin_token: str | None = None) -> RunningServer:
    return await servers.start(metrics_token=METRICS_TOKEN, admin_token=admin_token)


async def test_a_call_counts_under_its_outcome_and_its_turn_is_timed(
    servers: ServerFactory,
) -> None:
    server = await start(servers)
    before = await scrape(server)
    assert before.get('ringflow_calls_ended_total{outcome="abandoned"}', 0) == 0

    assert (await signed_post(server, "/twilio/voice", CALL)).status == 200
    ended = {**CALL, "CallStatus": "completed", "CallDuration": "7"}
    assert (await signed_post(server, "/twilio/voice/status", ended)).status == 204
    again = await signed_post(server, "/twilio/voice/status", ended)  # Twilio repeats itself
    assert again.status == 204

    after = await scrape(server)
    # The caller hung up in the demo's menu: one call, counted once.
    assert after['ringflow_calls_ended_total{outcome="abandoned"}'] == 1
    assert after['ringflow_voice_turn_seconds_count{webhook="incoming"}'] == 1
    backend = server.db.url.get_backend_name()
    writes = f'ringflow_database_write_seconds_count{{backend="{backend}"}}'
    assert after[writes] >= before.get(writes, 0) + 2, "the call's and its status's writes"


async def test_a_text_received_counts_and_a_delivery_status_counts_once(
    servers: ServerFactory,
) -> None:
    server = await start(servers)
    text = {
        "MessageSid": "SM" + "2" * 32,
        "From": "+15005550006",
        "To": "+15005550001",
        "Body": "hello",
    }
    assert (await signed_post(server, "/twilio/sms", text)).status == 200
    assert (await signed_post(server, "/twilio/sms", text)).status == 200  # a repeat
    # A status for a text this server never sent changes nothing, so counts nothing.
    unknown = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered"}
    assert (await signed_post(server, "/twilio/sms/status", unknown)).status == 204

    after = await scrape(server)
    assert after['ringflow_texts_total{status="received"}'] == 1
    assert after.get('ringflow_texts_total{status="delivered"}', 0) == 0


async def test_a_dead_job_shows_in_the_gauge_with_its_age(servers: ServerFactory) -> None:
    server = await start(servers)
    now = server.clock()
    await server.db.write(
        lambda conn: enqueue(conn, "nobody.handles", {}, dedupe_key="orphan", now=now)
    )
    server.app[JOB_WORKER].wake()

    async def dead() -> bool:
        found = await scrape(server)
        return found.get('ringflow_jobs{kind="nobody.handles",status="dead"}') == 1

    await eventually(dead, what="the dead job in the gauge")
    found = await scrape(server)
    assert found['ringflow_jobs{kind="nobody.handles",status="queued"}'] == 0
    assert found['ringflow_jobs_oldest_age_seconds{kind="nobody.handles",status="dead"}'] >= 0
    assert found['ringflow_jobs_finished_total{kind="nobody.handles",outcome="dead"}'] == 1
    assert found['ringflow_job_start_lag_seconds_count{kind="nobody.handles"}'] == 1
    assert found["ringflow_jobs_read_ok{}"] == 1


async def test_a_bad_signature_is_counted(servers: ServerFactory) -> None:
    server = await start(servers)
    forged = await signed_post(server, "/twilio/voice", CALL, token="not the auth token")
    assert forged.status == 403
    text = {"MessageSid": "SM" + "4" * 32, "From": "+15551230000", "To": "+1555", "Body": ""}
    assert (await signed_post(server, "/twilio/sms", text, token="wrong")).status == 403

    found = await scrape(server)
    assert found['ringflow_webhook_signature_failures_total{channel="voice"}'] == 1
    assert found['ringflow_webhook_signature_failures_total{channel="sms"}'] == 1


async def get_metrics(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_metrics_need_the_metrics_token_or_an_admin_token(servers: ServerFactory) -> None:
    server = await start(servers, admin_token=ADMIN_TOKEN)
    url = server.base_url + "/metrics"

    status, body = await get_metrics(url)
    assert status == 401
    assert "ringflow_" not in body
    assert (await get_metrics(url, {"Authorization": "Bearer guess"}))[0] == 403
    assert (await get_metrics(url, {"Authorization": f"Basic {METRICS_TOKEN}"}))[0] == 401
    await scrape(server, METRICS_TOKEN)
    await scrape(server, ADMIN_TOKEN)


async def test_without_a_metrics_token_only_admin_tokens_read_them(
    servers: ServerFactory,
) -> None:
    server = await servers.start()
    url = server.base_url + "/metrics"
    assert (await get_metrics(url))[0] == 401
    assert (await get_metrics(url, {"Authorization": "Bearer "}))[0] == 401
    assert (await get_metrics(url, {"Authorization": f"Bearer {METRICS_TOKEN}"}))[0] == 403


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_separate_listener_serves_metrics_without_a_token(
    servers: ServerFactory,
) -> None:
    port = free_port()
    server = await servers.start(metrics_listen=f"127.0.0.1:{port}")
    assert (await signed_post(server, "/twilio/voice", CALL)).status == 200

    status, body = await get_metrics(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert samples(body)['ringflow_voice_turn_seconds_count{webhook="incoming"}'] == 1
    # The server's own port still wants a token.
    assert (await get_metrics(server.base_url + "/metrics"))[0] == 401
    status, _ = await get_metrics(f"http://127.0.0.1:{port}/healthz")
    assert status == 404, "the metrics listener serves metrics and nothing else"


async def test_every_app_counts_for_itself(servers: ServerFactory) -> None:
    first = await start(servers)
    second = await start(servers)
    assert (await signed_post(first, "/twilio/voice", CALL)).status == 200

    assert (await scrape(first))['ringflow_voice_turn_seconds_count{webhook="incoming"}'] == 1
    assert (await scrape(second))['ringflow_voice_turn_seconds_count{webhook="incoming"}'] == 0


async def test_a_separate_worker_process_serves_its_metrics_on_the_listener(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'ringflow.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("RINGFLOW_")}
    env.update(
        RINGFLOW_DATABASE_URL=url,
        RINGFLOW_DATA_DIR=str(tmp_path / "data"),
        RINGFLOW_METRICS_LISTEN=f"127.0.0.1:{port}",
        RINGFLOW_LOG_LEVEL="WARNING",
    )
    env.pop("TWILIO_AUTH_TOKEN", None)
    env.pop("TWILIO_ACCOUNT_SID", None)
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "ringflow"),
        "worker",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def listening() -> bool:
            try:
                return (await get_metrics(f"http://127.0.0.1:{port}/metrics"))[0] == 200
            except aiohttp.ClientConnectionError:
                assert worker.returncode is None, "the worker stopped"
                return False

        await eventually(listening, 30, "the worker's metrics listener")
        db = await open_database(url)
        try:
            now = system_clock()
            await db.write(
                lambda conn: enqueue(conn, "nobody.handles", {}, dedupe_key="x", now=now)
            )
        finally:
            await db.close()

        async def dead() -> bool:
            found = samples((await get_metrics(f"http://127.0.0.1:{port}/metrics"))[1])
            return found.get('ringflow_jobs{kind="nobody.handles",status="dead"}') == 1

        await eventually(dead, 10, "the dead job in the worker's gauge")
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = await worker.communicate()
    assert worker.returncode == 0, err.decode()


async def test_a_scrape_still_answers_when_the_jobs_cannot_be_read(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'empty.db'}")  # no schema: no jobs table
    try:
        metrics = Metrics(system_clock)
        metrics.watch_database(db, job_counts)
        response = await exposition(metrics, accept="")
        assert response.text is not None
        found = samples(response.text)
    finally:
        await db.close()
    assert found["ringflow_jobs_read_ok{}"] == 0
    assert not any(name.startswith("ringflow_jobs{") for name in found)
