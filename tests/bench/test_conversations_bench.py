"""The conversations benchmark at a tiny size, so that it keeps working: it seeds PostgreSQL,
answers the inbox over HTTP, and fires every timer kind through two real ``ringflow worker``
processes. No figures are checked (see bench/README.md for those), only that it runs through
and that every timer fired once."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from bench.conversations import (
    TIMER_KINDS,
    check_database_url,
    due_times,
    main,
    parse_options,
    plan_conversation,
    timer_label,
)
from bench.harness import BenchError


def test_timers_fall_due_at_the_rate_asked() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(1000))
    dues = due_times(start, 2500, 1000)
    assert dues[0] == start
    assert dues[-1] - dues[0] == timedelta(seconds=2.499)
    assert sum(1 for due in dues if due < start + timedelta(seconds=1)) == 1000


def test_seeded_conversations_are_unanswered_exactly_when_the_inbox_says_so() -> None:
    rng = random.Random(1)
    now = datetime.now(UTC)
    plans = [plan_conversation(rng, n, {1: [10, 11], 2: [20]}, now) for n in range(400)]
    for plan in plans:
        row = plan.row
        inbound = [t["created_at"] for t in plan.texts if t["direction"] == "inbound"]
        outbound = [t["created_at"] for t in plan.texts if t["direction"] == "outbound"]
        assert row["last_customer_message_at"] == max(inbound)
        assert row["last_agent_message_at"] == (max(outbound) if outbound else None)
        assert row["last_message_at"] == max(inbound + outbound) < now
        if row["assignee_team_id"] is None:
            assert row["assignee_agent_id"] is None
            assert not outbound
        kinds = [event["kind"] for event in plan.events]
        assert kinds.count("message.received") == len(inbound)
        assert kinds.count("agent.replied") == len(outbound)
    unanswered = [p for p in plans if p.row["last_agent_message_at"] is None] + [
        p
        for p in plans
        if p.row["last_agent_message_at"] is not None
        and p.row["last_agent_message_at"] < p.row["last_customer_message_at"]
    ]
    assert 0.2 < len(unanswered) / len(plans) < 0.5  # some unanswered, most not


def test_it_refuses_to_wipe_a_database_not_named_for_it() -> None:
    with pytest.raises(BenchError, match="refusing"):
        check_database_url("postgresql://postgres@127.0.0.1/ringflow")
    with pytest.raises(BenchError, match="PostgreSQL"):
        check_database_url("sqlite:///bench.db")
    check_database_url("postgresql://postgres@127.0.0.1/ringflow_bench")


def test_more_timers_than_conversations_are_refused() -> None:
    url = ["--database-url", "postgresql://h/bench"]
    with pytest.raises(SystemExit):
        parse_options([*url, "--conversations", "100", "--rate", "1000", "--window", "1"])
    with pytest.raises(SystemExit):
        parse_options([*url, "--timers", "no_such_timer"])
    assert parse_options(url).timers == tuple(TIMER_KINDS)


def test_a_tiny_run_fires_every_timer_once(capsys: pytest.CaptureFixture[str]) -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("the benchmark needs PostgreSQL: set TEST_DATABASE_URL")
    arguments = ["--database-url", url, "--conversations", "60", "--teams", "2"]
    arguments += ["--rate", "20", "--window", "2", "--inbox-requests", "3", "--lead", "2"]

    status = main(arguments)

    out = capsys.readouterr().out
    assert status == 0, out
    assert "seeded: 60 open conversations" in out
    assert "HTTP     team unanswered" in out
    for kind in TIMER_KINDS.values():
        assert f"{timer_label(kind):<33}     40" in out
    assert f"{'no-op (no handler)':<33}     40" in out
    assert {"wake", "unanswered", "no_agent_reply"} <= set(TIMER_KINDS)
    assert "error:" not in out
