"""The console's page load with a long call log: ``./run bench console_pages``.

Issue 13's target: the console's pages load in at most 300 ms with 100,000 calls in the log.

Two Ringflow servers (``ringflow serve``'s app, SQLite, the demo workflow), each in its own
process: the *baseline* with an empty call log, the *measured* one with ``--calls`` calls
(default 100,000: each with its run and path, a tenth of them missed, spread over 30 days).
Debian's Chromium (Playwright) signs in to each and loads ``/console`` ``--loads`` times; a
load ends when every panel the page shows at first has its data (the page marks it:
``body[data-ready-ms]``, milliseconds since the navigation started). Also timed: the API reads
behind the log (``GET /api/calls?limit=50``, and filtered by a rare outcome), sequentially.

Printed: median, p95 and worst page load for both, the ratio measured / baseline, and the API
reads' p50 / p99. The result is in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import create_engine, insert, select

from bench.harness import HOST, BenchError, clear_ringflow_env, host_app, percentile, server_process

TARGET_MS = 300.0
CHROMIUM = Path(os.environ.get("RINGFLOW_TEST_CHROMIUM", "/usr/bin/chromium"))
BATCH = 5_000


def _factory(data_dir: Path) -> Callable[[int], web.Application]:
    def make(port: int) -> web.Application:
        import server
        from ringflow.settings import load_settings

        settings = load_settings(
            data_dir=data_dir, public_url=f"http://{HOST}:{port}", log_level="WARNING"
        )
        return server.create_app(settings, server.load_flows(settings), serving=True)

    return make


def serve(conn: Connection, data_dir: str) -> None:
    """Child process: Ringflow on ``data_dir``'s SQLite database."""
    from ringflow.logs import configure_logging

    clear_ringflow_env()
    configure_logging("WARNING", [])
    asyncio.run(host_app(conn, _factory(Path(data_dir)), None))


def seed(database: Path, calls_wanted: int, now: datetime) -> str:
    """``calls_wanted`` calls with their runs in the server's database; an admin token."""
    from ringflow.admin.tokens import create_token
    from workflows.call_log import calls
    from workflows.db import runs, workflows

    engine = create_engine(f"sqlite:///{database}")
    chance = random.Random(13)
    paths = (
        ["welcome", "main", "address", "text_address", "anything_else", "bye"],
        ["welcome", "main", "hours", "anything_else", "bye"],
        ["welcome", "main", "operator", "voicemail", "thanks", "bye"],
    )
    with engine.begin() as conn:
        version = conn.execute(
            select(workflows.c.version_id).where(workflows.c.id == "demo-line")
        ).scalar_one()
        token = create_token(conn, "bench", now)
        for start in range(0, calls_wanted, BATCH):
            call_rows: list[dict[str, Any]] = []
            run_rows: list[dict[str, Any]] = []
            for n in range(start, min(start + BATCH, calls_wanted)):
                began = now - timedelta(seconds=chance.uniform(60, 30 * 86_400))
                sid = f"CA{n:032x}"
                run_id = f"{n:032x}"
                missed = n % 10 == 0
                path = paths[n % len(paths)]
                run_rows.append(
                    {
                        "id": run_id,
                        "version_id": version,
                        "channel": "voice",
                        "subject": sid,
                        "status": "completed",
                        "turn": 3,
                        "state": {"path": path, "keys": ["2", "2"], "facts": {}},
                        "last_response": None,
                        "error": None,
                        "created_at": began,
                        "updated_at": began,
                    }
                )
                call_rows.append(
                    {
                        "sid": sid,
                        "account_sid": None,
                        "caller": f"+1415555{n % 10_000:04d}",
                        "called": "+15005550001",
                        "run_id": run_id,
                        "workflow_id": "demo-line",
                        "status": "no-answer" if missed else "completed",
                        "outcome": "missed" if missed else "ended",
                        "duration": 0 if missed else 40,
                        "started_at": began,
                        "ended_at": began + timedelta(seconds=40),
                    }
                )
            conn.execute(insert(runs), run_rows)
            conn.execute(insert(calls), call_rows)
    engine.dispose()
    return token


async def page_loads(base_url: str, token: str, loads: int) -> list[float]:
    """Milliseconds to a ready console, ``loads`` times, signed in once."""
    from playwright.async_api import async_playwright

    from tests.browser import FLAGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(FLAGS), headless=True
        )
        try:
            context = await browser.new_context(base_url=base_url)
            page = await context.new_page()
            await page.goto("/console/sign-in")
            await page.fill("#token", token)
            await page.click("button[type=submit]")
            await page.wait_for_url(base_url + "/console")
            timings = []
            for _ in range(loads + 2):  # two to warm the caches up, not counted
                await page.goto("/console")
                ready = await page.wait_for_selector("body[data-ready-ms]", timeout=30_000)
                assert ready is not None
                timings.append(float(await ready.get_attribute("data-ready-ms") or "nan"))
            return timings[2:]
        finally:
            await browser.close()


async def api_reads(base_url: str, token: str, path: str, count: int) -> list[float]:
    """Milliseconds per ``GET /api{path}``, one after another."""
    headers = {"Authorization": f"Bearer {token}"}
    timings = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(count + 5):
            started = time.perf_counter()
            async with http.get(base_url + "/api" + path) as answer:
                if answer.status != 200:
                    raise BenchError(f"GET {path}: HTTP {answer.status}")
                await answer.read()
            timings.append((time.perf_counter() - started) * 1000)
    return timings[5:]


def _summary(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return (
        f"median {statistics.median(ordered):6.1f} ms  p95 {percentile(ordered, 0.95):6.1f} ms"
        f"  worst {ordered[-1]:6.1f} ms"
    )


def _reads(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"p50 {percentile(ordered, 0.5):6.2f} ms  p99 {percentile(ordered, 0.99):6.2f} ms"


async def measure(base_url: str, token: str, loads: int, reads: int) -> dict[str, list[float]]:
    return {
        "page": await page_loads(base_url, token, loads),
        "calls": await api_reads(base_url, token, "/calls?limit=50", reads),
        "missed": await api_reads(base_url, token, "/calls?limit=50&outcome=missed", reads),
        "unrouted": await api_reads(base_url, token, "/calls?limit=50&outcome=unrouted", reads),
    }


def run(calls_wanted: int, loads: int, reads: int) -> int:
    if not CHROMIUM.exists():
        raise BenchError(f"{CHROMIUM} is missing (./run test installs Debian's chromium)")
    now = datetime.now(UTC)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="rf-console-bench-") as scratch:
        for name, wanted in (("baseline (no calls)", 0), (f"{calls_wanted:,} calls", calls_wanted)):
            data_dir = Path(scratch) / f"data-{wanted}"
            data_dir.mkdir()
            with server_process(name, serve, str(data_dir)) as server:
                started = time.perf_counter()
                token = seed(data_dir / "ringflow.db", wanted, now)
                print(f"{name}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
                results[name] = asyncio.run(measure(server.base_url, token, loads, reads))
    baseline, measured = results.values()
    for name, result in results.items():
        print(f"\n{name}")
        print(f"  console ready      {_summary(result['page'])}")
        print(f"  GET /api/calls     {_reads(result['calls'])}")
        print(f"    outcome=missed   {_reads(result['missed'])}")
        print(f"    outcome=unrouted {_reads(result['unrouted'])}  (no such calls)")
    p95 = percentile(sorted(measured["page"]), 0.95)
    ratio = statistics.median(measured["page"]) / statistics.median(baseline["page"])
    print(f"\nratio (median, {calls_wanted:,} calls / none): {ratio:.2f}x")
    verdict = "meets" if p95 <= TARGET_MS else "misses"
    print(f"p95 console ready {p95:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
    return 0 if p95 <= TARGET_MS else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench console_pages", description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000, help="calls in the log")
    parser.add_argument("--loads", type=int, default=30, help="page loads timed per server")
    parser.add_argument("--reads", type=int, default=200, help="API reads timed per query")
    args = parser.parse_args(argv)
    try:
        return run(args.calls, args.loads, args.reads)
    except BenchError as error:
        print(f"console_pages: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
