"""Which workflow an event starts: numbered workflows before catch-alls, ``when`` filters,
schedules checked by name when installing, and which workflows read their contact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, update

from ringflow.database import Database
from tests.clock import FrozenClock
from workflows.catalog import WorkflowCatalog, compile_trigger, reads_contact
from workflows.conditions import FilterContext
from workflows.db import workflows
from workflows.loader import Workflow, from_text
from workflows.problems import WorkflowInvalid
from workflows.schedules import Schedule, ScheduleBook, parse_spec

CLOCK = FrozenClock()

LINE = "+15550002222"
OTHER_LINE = "+15550004444"
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Europe/Berlin",
            "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        }
    )
)
BOOK = ScheduleBook({"office": OFFICE})
MONDAY_10 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)  # 10:00 in Berlin
MONDAY_20 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)  # 20:00 in Berlin


def flow(
    workflow_id: str,
    *,
    event: str = "call.incoming",
    to: str | None = None,
    when: str | None = None,
    extra: str = "",
    steps: str = "  main: {hangup: {}}",
) -> Workflow:
    trigger = [f"event: {event}"]
    if to is not None:
        trigger.append(f'to: "{to}"')
    if when is not None:
        trigger.append(f"when: {when}")
    text = (
        f"id: {workflow_id}\ntrigger: {{{', '.join(trigger)}}}\n{extra}\n"
        f"start: main\nsteps:\n{steps}\n"
    )
    return from_text(text, f"{workflow_id}.yaml")


async def catalog_of(db: Database, *loaded: Workflow) -> WorkflowCatalog:
    catalog = WorkflowCatalog(db, BOOK, clock=CLOCK)
    await catalog.install_files(loaded)
    return catalog


def ids(found: list[Any]) -> list[str]:
    return [active.workflow.id for active in found]


def ctx(**fields: Any) -> FilterContext:
    values: dict[str, Any] = {"now": MONDAY_10, "channel": "voice", "schedules": BOOK.view()}
    values.update(fields)
    return FilterContext(**values)


async def test_workflows_naming_the_number_come_before_catch_alls(migrated_db: Database) -> None:
    catalog = await catalog_of(
        migrated_db,
        flow("a-any"),
        flow("z-line", to=LINE),
        flow("b-line", to=LINE),
        flow("c-other", to=OTHER_LINE),
        flow("d-any"),
        flow("texts", event="sms.received", steps='  main: {say: "Hi."}'),
    )
    assert ids(catalog.candidates("call.incoming", LINE)) == ["b-line", "z-line", "a-any", "d-any"]
    assert ids(catalog.candidates("call.incoming", OTHER_LINE)) == ["c-other", "a-any", "d-any"]
    assert ids(catalog.candidates("call.incoming", "+15550009999")) == ["a-any", "d-any"]
    assert ids(catalog.candidates("call.incoming")) == ["a-any", "d-any"]
    assert ids(catalog.candidates("sms.received", LINE)) == ["texts"]
    assert catalog.candidates("call.missed", LINE) == []
    match = catalog.match("call.incoming", LINE)
    assert match is not None
    assert match.workflow.id == "b-line"


async def test_two_refreshes_at_once_leave_the_later_read_applied(
    migrated_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An admin disables "b" while the change feed's refresh is between its read and its
    # apply: the admin's own refresh must not be overwritten by the older read.
    catalog = await catalog_of(migrated_db, flow("a"), flow("b"))
    real_read = migrated_db.read
    first_read, let_it_apply = asyncio.Event(), asyncio.Event()

    async def read(query: Callable[[Connection], Any]) -> Any:
        result = await real_read(query)
        if not first_read.is_set():
            first_read.set()
            await let_it_apply.wait()
        return result

    monkeypatch.setattr(migrated_db, "read", read)
    older = asyncio.create_task(catalog.refresh())
    await first_read.wait()  # it read "a" and "b" enabled
    await migrated_db.write(
        lambda conn: conn.execute(
            update(workflows).where(workflows.c.id == "b").values(enabled=False)
        )
    )
    newer = asyncio.create_task(catalog.refresh())
    await asyncio.sleep(0.05)  # time for the newer refresh to finish, if it did not wait
    let_it_apply.set()
    await asyncio.gather(older, newer)
    assert ids(list(catalog.active)) == ["a"]


async def test_a_failing_when_passes_to_the_next_candidate(migrated_db: Database) -> None:
    catalog = await catalog_of(
        migrated_db,
        flow("a-vip", to=LINE, when="{contact: {attribute: tier, eq: VIP}}"),
        flow("b-open", to=LINE, when="{open: office}"),
        flow("c-fallback"),
    )
    vip = ctx(contact={"tier": "VIP"})
    found = catalog.match("call.incoming", LINE, vip)
    assert found is not None
    assert found.workflow.id == "a-vip"

    gold_by_day = ctx(contact={"tier": "Gold"})
    found = catalog.match("call.incoming", LINE, gold_by_day)
    assert found is not None
    assert found.workflow.id == "b-open"

    gold_at_night = ctx(contact={"tier": "Gold"}, now=MONDAY_20)
    found = catalog.match("call.incoming", LINE, gold_at_night)
    assert found is not None
    assert found.workflow.id == "c-fallback"


async def test_a_workflow_with_when_never_matches_without_a_context(
    migrated_db: Database,
) -> None:
    catalog = await catalog_of(migrated_db, flow("a-open", to=LINE, when="{open: office}"))
    assert ids(catalog.candidates("call.incoming", LINE)) == ["a-open"]
    assert catalog.match("call.incoming", LINE) is None
    assert catalog.match("call.incoming", LINE, ctx()) is not None

    catalog = await catalog_of(
        migrated_db, flow("a-open", to=LINE, when="{open: office}"), flow("b-plain")
    )
    found = catalog.match("call.incoming", LINE)
    assert found is not None
    assert found.workflow.id == "b-plain"


async def test_no_workflow_for_an_event_matches_nothing(migrated_db: Database) -> None:
    catalog = await catalog_of(migrated_db, flow("a-line", to=LINE))
    assert catalog.match("call.incoming", OTHER_LINE, ctx()) is None


async def test_an_unknown_hours_schedule_is_refused(migrated_db: Database) -> None:
    catalog = WorkflowCatalog(migrated_db, BOOK, clock=CLOCK)
    with pytest.raises(WorkflowInvalid) as raised:
        await catalog.install_files([flow("good"), flow("closed-line", extra="hours: ofice")])
    assert raised.value.messages() == ["closed-line.yaml hours: unknown schedule 'ofice'"]
    # Nothing was installed, not even the good workflow.
    count = select(func.count()).select_from(workflows)
    assert await migrated_db.read(lambda conn: conn.execute(count).scalar_one()) == 0
    assert catalog.active == ()


async def test_an_unknown_schedule_in_when_is_refused(migrated_db: Database) -> None:
    catalog = WorkflowCatalog(migrated_db, BOOK, clock=CLOCK)
    bad = flow("bad", when="{any: [{open: office}, {closed: ofice}]}", extra="hours: nope")
    with pytest.raises(WorkflowInvalid) as raised:
        await catalog.install_files([bad])
    assert raised.value.source == "bad.yaml"
    assert raised.value.messages() == [
        "bad.yaml hours: unknown schedule 'nope'",
        "bad.yaml trigger.when.any.1.closed: unknown schedule 'ofice'",
    ]


def test_compile_trigger_without_when_gives_no_check() -> None:
    assert compile_trigger(flow("plain", extra="hours: office"), BOOK.names) is None
    check = compile_trigger(flow("by-day", when="{open: office}"), BOOK.names)
    assert check is not None
    assert check(ctx())
    assert not check(ctx(now=MONDAY_20))


async def test_which_workflows_read_their_contact(migrated_db: Database) -> None:
    by_filter = flow("by-filter", when="{contact: {attribute: tier, exists: true}}")
    by_template = flow(
        "by-template",
        event="sms.received",
        steps='  main: {say: "Hi {{contact.name | there}}!"}',
    )
    by_send = flow(
        "by-send",
        steps='  main: {send_sms: "Hello {{contact.name}}", next: bye}\n  bye: {hangup: {}}',
    )
    plain = flow(
        "plain", steps='  main: {say: "Please contact us.", next: bye}\n  bye: {hangup: {}}'
    )
    assert [reads_contact(w) for w in (by_filter, by_template, by_send, plain)] == [
        True,
        True,
        True,
        False,
    ]
    catalog = await catalog_of(migrated_db, by_filter, by_template, by_send, plain)
    assert {a.workflow.id: catalog.reads_contact(a) for a in catalog.active} == {
        "by-filter": True,
        "by-send": True,
        "by-template": True,
        "plain": False,
    }
