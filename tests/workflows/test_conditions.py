"""Filters: validation messages, every kind true and false, combinators, paths, explain()."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.conditions import (
    FILTER_KINDS,
    FilterContext,
    FilterInvalid,
    FilterModel,
    compile_filter,
    explain,
    filter_json_schema,
    keyword_matcher,
    parse_filter,
)
from workflows.problems import WorkflowInvalid
from workflows.schedules import Schedule, parse_spec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "filters.md"
OFFICE = Schedule(
    parse_spec(
        {
            "timezone": "Europe/Berlin",
            "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        }
    )
)
SCHEDULES = {"office": OFFICE}
# Monday 2 March 2026: Berlin is UTC+1.
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
MONDAY_20 = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 20:00 in Berlin
KIND_ERROR = (
    "a filter needs exactly one kind key, one of: all, any, called, channel, closed, contact,"
    " conversation, data, duration, keywords, not, open, outcome, time"
)


def context(**fields: Any) -> FilterContext:
    values: dict[str, Any] = {"now": MONDAY_10, "channel": "voice", "schedules": SCHEDULES}
    values.update(fields)
    return FilterContext(**values)


def load(text: str | Mapping[str, Any]) -> FilterModel:
    data = yaml.safe_load(text) if isinstance(text, str) else text
    return parse_filter(data)


def matches(data: str | Mapping[str, Any], **fields: Any) -> bool:
    spec = load(data)
    ctx = context(**fields)
    result = compile_filter(spec, SCHEDULES)(ctx)
    # explain() agrees with the compiled check.
    assert (explain(spec, ctx) == []) is result
    return result


def problems(data: Any) -> list[str]:
    with pytest.raises(FilterInvalid) as raised:
        parse_filter(data)
    return raised.value.messages()


# --- every kind, true and false -----------------------------------------------------------


def test_open_and_closed() -> None:
    assert matches({"open": "office"}, now=MONDAY_10)
    assert not matches({"open": "office"}, now=MONDAY_20)
    assert matches({"closed": "office"}, now=MONDAY_20)
    assert not matches({"closed": "office"}, now=MONDAY_10)


def test_schedule_missing_at_run_time_is_false_not_an_error() -> None:
    spec = load({"open": "office"})
    check = compile_filter(spec, ["office"])
    ctx = context(schedules={})
    assert check(ctx) is False
    assert compile_filter(load({"closed": "office"}), ["office"])(ctx) is False
    assert explain(spec, ctx) == ["when.open: schedule 'office' is not defined"]


@pytest.mark.parametrize(
    ("test", "attributes", "expected"),
    [
        ({"eq": "VIP"}, {"tier": "VIP"}, True),
        ({"eq": "VIP"}, {"tier": "vip"}, True),
        ({"eq": "VIP"}, {"tier": "Gold"}, False),
        ({"eq": "VIP"}, {}, False),
        ({"eq": True}, {"member": True}, True),
        ({"eq": True}, {"member": 1}, False),
        ({"eq": 1}, {"member": True}, False),
        ({"eq": 3}, {"visits": 3.0}, True),
        ({"in": ["VIP", "Gold"]}, {"tier": "Gold"}, True),
        ({"in": ["VIP", "Gold"]}, {"tier": "Basic"}, False),
        ({"contains": "sale"}, {"tags": ["new", "Sales"]}, False),
        ({"contains": "sales"}, {"tags": ["new", "Sales"]}, True),
        ({"contains": "kim"}, {"name": "Minji Kim"}, True),
        ({"contains": "lee"}, {"name": "Minji Kim"}, False),
        ({"contains": 3}, {"name": "Minji 3"}, False),
        ({"exists": True}, {"member": False}, True),
        ({"exists": True}, {}, False),
        ({"exists": False}, {}, True),
        ({"exists": False}, {"member": None}, True),
        ({"exists": False}, {"member": "yes"}, False),
    ],
)
def test_contact(test: dict[str, Any], attributes: dict[str, Any], expected: bool) -> None:
    attribute = next(iter(attributes), "member" if "exists" in test else "tier")
    spec = {"contact": {"attribute": attribute, **test}}
    assert matches(spec, contact=attributes) is expected


def test_channel_called_outcome_duration() -> None:
    assert matches({"channel": "sms"}, channel="sms")
    assert matches({"channel": ["sms", "chat"]}, channel="chat")
    assert not matches({"channel": "sms"}, channel="voice")
    assert matches({"called": "+15550001111"}, called="+15550001111")
    assert not matches({"called": ["+15550001111"]}, called="+15550002222")
    assert not matches({"called": ["+15550001111"]}, called=None)
    assert matches({"outcome": ["missed", "ended"]}, outcome="missed")
    assert not matches({"outcome": "missed"}, outcome="ended")
    assert not matches({"outcome": "missed"}, outcome=None)
    assert matches({"duration": {"min": 10, "max": 600}}, duration=10)
    assert matches({"duration": {"min": 10, "max": 600}}, duration=600)
    assert not matches({"duration": {"min": 10, "max": 600}}, duration=9)
    assert not matches({"duration": {"min": 10, "max": 600}}, duration=601)
    assert matches({"duration": {"max": 5}}, duration=0)
    assert not matches({"duration": {"min": 1}}, duration=None)


# --- keywords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keywords", "text", "expected"),
    [
        (["error"], "An error occurred", True),
        (["error"], "ERROR!", True),
        (["error"], "error-prone", True),
        (["error"], "terrorist", False),
        (["error"], "errors", False),
        (["unsubscribe"], "please UNSUBSCRIBE me", True),
        (["log in"], "I cannot  LOG\nIN today", True),
        (["log in"], "login", False),
        (["c++"], "I write C++ code", True),
        (["오류"], "오류가 났어요", True),
        (["오류"], "결제 오류", True),
        (["구독 해지"], "구독 해지 해주세요", True),
        (["구독 해지"], "구독  해지해 주세요", True),
        (["구독 해지"], "구독을 해지해 주세요", False),
        (["오류"], "에러가 났어요", False),
        (["refund", "구독 해지", "error"], "환불 말고 구독 해지요", True),
        (["ｅｒｒｏｒ"], "an error", True),
    ],
)
def test_keywords(keywords: list[str], text: str, expected: bool) -> None:
    assert keyword_matcher(keywords)(text) is expected
    assert matches({"keywords": keywords}, text=text) is expected


def test_keywords_without_text_do_not_match() -> None:
    assert not matches({"keywords": "error"}, text=None)


# --- time ---------------------------------------------------------------------------------

BUSINESS = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30"}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 3, 2, 7, 59, tzinfo=UTC), False),  # Mon 08:59 Berlin
        (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), True),  # Mon 09:00
        (datetime(2026, 3, 2, 16, 29, tzinfo=UTC), True),  # Mon 17:29
        (datetime(2026, 3, 2, 16, 30, tzinfo=UTC), False),  # Mon 17:30
        (datetime(2026, 3, 7, 10, 0, tzinfo=UTC), False),  # Sat
    ],
)
def test_time_window(now: datetime, expected: bool) -> None:
    assert matches({"time": {**BUSINESS, "timezone": "Europe/Berlin"}}, now=now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 3, 6, 20, 59, tzinfo=UTC), False),  # Fri 21:59
        (datetime(2026, 3, 6, 21, 0, tzinfo=UTC), True),  # Fri 22:00
        (datetime(2026, 3, 7, 0, 59, tzinfo=UTC), True),  # Sat 01:59, Friday's night
        (datetime(2026, 3, 7, 1, 0, tzinfo=UTC), False),  # Sat 02:00
        (datetime(2026, 3, 7, 22, 0, tzinfo=UTC), False),  # Sat 23:00: not a listed day
        (datetime(2026, 3, 8, 0, 30, tzinfo=UTC), False),  # Sun 01:30, Saturday's night
        (datetime(2026, 3, 5, 23, 30, tzinfo=UTC), True),  # Fri 00:30, Thursday's night
    ],
)
def test_time_across_midnight(now: datetime, expected: bool) -> None:
    window = {"days": ["thu", "fri"], "from": "22:00", "to": "02:00"}
    spec = {"time": {**window, "timezone": "Europe/Berlin"}}
    assert matches(spec, now=now) is expected


def test_time_until_midnight_and_whole_days() -> None:
    late = {"time": {"from": "20:00", "to": "24:00", "timezone": "Asia/Seoul"}}
    assert matches(late, now=datetime(2026, 3, 2, 14, 59, tzinfo=UTC))  # 23:59 Seoul
    assert not matches(late, now=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 00:00 Seoul
    weekend = {"time": {"days": ["sat", "sun"], "timezone": "Asia/Seoul"}}
    assert matches(weekend, now=datetime(2026, 3, 7, 15, 30, tzinfo=UTC))  # Sun 00:30 Seoul
    assert not matches(weekend, now=datetime(2026, 3, 8, 15, 30, tzinfo=UTC))  # Mon 00:30


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 3, 28, 7, 59, tzinfo=UTC), False),  # Sat 08:59 CET
        (datetime(2026, 3, 28, 8, 0, tzinfo=UTC), True),  # Sat 09:00 CET
        (datetime(2026, 3, 29, 7, 0, tzinfo=UTC), True),  # Sun 09:00 CEST (clocks went forward)
        (datetime(2026, 3, 29, 6, 59, tzinfo=UTC), False),  # Sun 08:59 CEST
        (datetime(2026, 3, 29, 15, 29, tzinfo=UTC), True),  # Sun 17:29 CEST
        (datetime(2026, 3, 29, 15, 30, tzinfo=UTC), False),  # Sun 17:30 CEST
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), True),  # Mon 09:00 CEST
    ],
)
def test_time_in_a_dst_week(now: datetime, expected: bool) -> None:
    spec = {"time": {"from": "09:00", "to": "17:30", "timezone": "Europe/Berlin"}}
    assert matches(spec, now=now) is expected


def test_time_across_midnight_on_the_dst_night() -> None:
    spec = {"time": {"days": ["sat"], "from": "23:00", "to": "04:00", "timezone": "Europe/Berlin"}}
    assert matches(spec, now=datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # Sun 01:30 CET
    assert matches(spec, now=datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # Sun 03:30 CEST
    assert not matches(spec, now=datetime(2026, 3, 29, 2, 0, tzinfo=UTC))  # Sun 04:00 CEST


# --- combinators --------------------------------------------------------------------------


def test_all_any_not() -> None:
    vip = {"contact": {"attribute": "tier", "eq": "VIP"}}
    sms = {"channel": "sms"}
    assert matches({"all": [vip, sms]}, contact={"tier": "VIP"}, channel="sms")
    assert not matches({"all": [vip, sms]}, contact={"tier": "VIP"}, channel="voice")
    assert matches({"any": [vip, sms]}, contact={}, channel="sms")
    assert not matches({"any": [vip, sms]}, contact={}, channel="voice")
    assert matches({"not": vip}, contact={"tier": "Gold"})
    assert not matches({"not": vip}, contact={"tier": "VIP"})
    assert matches({"not": {"not": vip}}, contact={"tier": "VIP"})


EXAMPLE = """
all:
  - open: office
  - contact: {attribute: tier, in: [VIP, Gold]}
  - not: {contact: {attribute: member, eq: true}}
  - any:
      - keywords: [refund, "구독 해지", error]
      - channel: sms
  - called: ["+15550001111"]
  - time: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:30", timezone: Europe/Berlin}
  - outcome: [missed, ended]
  - duration: {min: 10, max: 600}
"""
EXAMPLE_MATCH: dict[str, Any] = {
    "now": MONDAY_10,
    "channel": "voice",
    "called": "+15550001111",
    "text": "구독 해지 해주세요",
    "contact": {"tier": "Gold", "member": False},
    "outcome": "missed",
    "duration": 42,
}


def test_nested_example_matches_and_explains() -> None:
    assert matches(EXAMPLE, **EXAMPLE_MATCH)
    spec = load(EXAMPLE)
    ctx = context(
        **{
            **EXAMPLE_MATCH,
            "contact": {"tier": "Basic", "member": True},
            "text": "hello",
            "now": MONDAY_20,
        }
    )
    assert not compile_filter(spec, SCHEDULES)(ctx)
    assert explain(spec, ctx) == [
        "when.all.0.open: schedule 'office' is closed",
        "when.all.1.contact: tier is 'Basic', not one of VIP, Gold",
        "when.all.2.not: the filter inside matched",
        "when.all.3.any.0.keywords: the text has none of refund, 구독 해지, error",
        "when.all.3.any.1.channel: channel is 'voice', not sms",
        "when.all.5.time: it is mon 20:00 in Europe/Berlin, not mon/tue/wed/thu/fri 09:00-17:30",
    ]


def test_explain_reasons() -> None:
    ctx = context(contact={"member": "yes", "tags": ["a"]}, called=None, duration=700)
    assert explain(load({"contact": {"attribute": "tier", "eq": "VIP"}}), ctx) == [
        "when.contact: tier is not set"
    ]
    assert explain(load({"contact": {"attribute": "member", "eq": True}}), ctx) == [
        "when.contact: member is 'yes', not true"
    ]
    assert explain(load({"contact": {"attribute": "member", "exists": False}}), ctx) == [
        "when.contact: member is set ('yes')"
    ]
    assert explain(load({"contact": {"attribute": "tags", "contains": "b"}}), ctx) == [
        "when.contact: tags is ['a'], which does not contain 'b'"
    ]
    assert explain(load({"called": "+15550001111"}), ctx) == ["when.called: no called number"]
    assert explain(load({"duration": {"max": 600}}), ctx) == [
        "when.duration: duration is 700s, over the maximum 600s"
    ]
    assert explain(load({"keywords": "x"}), ctx) == ["when.keywords: there is no message text"]
    assert explain(load({"closed": "office"}), ctx) == ["when.closed: schedule 'office' is open"]
    assert explain(load({"outcome": "missed"}), context(outcome="ended")) == [
        "when.outcome: outcome is 'ended', not missed"
    ]
    assert explain(load({"channel": "sms"}), ctx, path=("trigger", "when")) == [
        "trigger.when.channel: channel is 'voice', not sms"
    ]


def test_explain_is_empty_when_any_branch_matches() -> None:
    spec = load({"any": [{"channel": "sms"}, {"channel": "voice"}]})
    assert explain(spec, context()) == []


# --- compile-time schedule check ----------------------------------------------------------


def test_unknown_schedules_are_listed_with_their_paths() -> None:
    spec = load(
        """
all:
  - open: ofice
  - any: [{closed: office}, {not: {closed: hollidays}}]
"""
    )
    with pytest.raises(FilterInvalid) as raised:
        compile_filter(spec, ["office"], source="main.yaml")
    assert isinstance(raised.value, WorkflowInvalid)
    assert raised.value.messages() == [
        "main.yaml when.all.0.open: unknown schedule 'ofice'",
        "main.yaml when.all.1.any.1.not.closed: unknown schedule 'hollidays'",
    ]


# --- validation messages ------------------------------------------------------------------


INVALID: list[tuple[Any, str]] = [
    ({"foo": 1}, f"when: {KIND_ERROR}"),
    ("open", f"when: {KIND_ERROR}"),
    ({"open": "a", "closed": "b"}, f"when: {KIND_ERROR}"),
    ({"not": [{"open": "a"}]}, f"when.not: {KIND_ERROR}"),
    ({"all": []}, "when.all: must not be empty"),
    (
        {"any": [{"channel": "fax"}]},
        "when.any.0.channel.0: unknown channel 'fax': use voice, sms or chat",
    ),
    ({"open": "office", "next": "x"}, "when.next: unknown key"),
    (
        {"contact": {"attribute": "tier"}},
        "when.contact: needs one test: eq, in, contains or exists",
    ),
    (
        {"all": [{"contact": {"attribute": "tier", "eq": "VIP", "in": ["Gold"]}}]},
        "when.all.0.contact: use only one of eq, in, contains or exists, not eq and in",
    ),
    ({"contact": {"eq": 1}}, "when.contact.attribute: required"),
    (
        {"contact": {"attribute": "1tier", "eq": 1}},
        "when.contact.attribute: must be an attribute name: a letter or _, then letters,"
        " digits or _ (64 at most)",
    ),
    (
        {"contact": {"attribute": "t", "eq": [1]}},
        "when.contact.eq: must be text, a number or true/false, not [1]",
    ),
    ({"contact": {"attribute": "t", "in": []}}, "when.contact.in: must not be empty"),
    (
        {"contact": {"attribute": "t", "exists": "yes"}},
        "when.contact.exists: Input should be a valid boolean",
    ),
    ({"contact": {"attribute": "t", "equals": 1}}, "when.contact.equals: unknown key"),
    ({"keywords": []}, "when.keywords: must not be empty"),
    ({"keywords": ["ok", "  "]}, "when.keywords: a keyword cannot be blank"),
    (
        {"called": ["5550001111"]},
        "when.called.0: must be a phone number in E.164 form, such as +15550001111",
    ),
    (
        {"outcome": ["mised"]},
        "when.outcome.0: unknown call outcome 'mised':"
        " use ended, after_hours, missed, callback, self_service, abandoned or unrouted",
    ),
    ({"duration": {}}, "when.duration: give min, max or both (seconds)"),
    (
        {"duration": {"min": 60, "max": 10}},
        "when.duration: min (60) is greater than max (10)",
    ),
    (
        {"duration": {"min": -1}},
        "when.duration.min: Input should be greater than or equal to 0",
    ),
    ({"duration": {"min": "10"}}, "when.duration.min: Input should be a valid integer"),
    ({"time": {"from": "09:00"}}, "when.time.timezone: required"),
    (
        {"time": {"from": "09:00", "timezone": "UTC"}},
        "when.time: give both from and to, or neither",
    ),
    (
        {"time": {"from": "24:00", "to": "01:00", "timezone": "UTC"}},
        "when.time.from: bad time '24:00': use 00:00 to 23:59",
    ),
    (
        {"time": {"from": "9am", "to": "17:00", "timezone": "UTC"}},
        "when.time.from: must be a time such as '09:00', not '9am'",
    ),
    (
        {"time": {"from": "09:00", "to": "24:60", "timezone": "UTC"}},
        "when.time.to: bad time '24:60': use 00:00 to 23:59, or 24:00",
    ),
    (
        {"time": {"from": "00:00", "to": "24:00", "timezone": "UTC"}},
        "when.time: from and to are the same time (leave both out for whole days)",
    ),
    (
        {"time": {"days": ["monday"], "timezone": "UTC"}},
        "when.time.days.0: unknown weekday 'monday': use mon, tue, wed, thu, fri, sat or sun",
    ),
    ({"time": {"days": [], "timezone": "UTC"}}, "when.time.days: must not be empty"),
    (
        {"time": {"timezone": "Europe/Berln"}},
        "when.time.timezone: unknown time zone 'Europe/Berln'",
    ),
    ({"open": ""}, "when.open: String should have at least 1 character"),
    (
        {"all": [{"any": [{"not": {"duration": {"max": "x"}}}]}]},
        "when.all.0.any.0.not.duration.max: Input should be a valid integer",
    ),
]


@pytest.mark.parametrize(("data", "expected"), INVALID)
def test_validation_messages(data: Any, expected: str) -> None:
    assert problems(data) == [expected]


def test_every_problem_is_listed() -> None:
    assert problems({"all": [{"channel": "fax"}, {"open": 1}, {"bogus": 1}]}) == [
        "when.all.0.channel.0: unknown channel 'fax': use voice, sms or chat",
        "when.all.1.open: Input should be a valid string",
        f"when.all.2: {KIND_ERROR}",
    ]


# --- registry, schema and docs ------------------------------------------------------------


def test_registry_names_match_models() -> None:
    for name, kind in FILTER_KINDS.items():
        assert kind.name == name
        assert kind.model.kind_name == name
        assert name in kind.model.model_fields or f"{name}_" in kind.model.model_fields
        assert kind.summary


def test_schema_and_docs_cover_every_kind() -> None:
    schema = filter_json_schema()
    docs = DOCS.read_text(encoding="utf-8")
    described = {prop for d in schema["$defs"].values() for prop in d.get("properties", {})}
    for name in FILTER_KINDS:
        assert name in described, f"the JSON Schema has no {name}"
        assert f"`{name}`" in docs, f"docs/filters.md does not mention `{name}`"


def test_docs_examples_are_valid_filters() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in docs.split("```yaml\n")[1:]]
    filters = [
        data["when"]
        for block in blocks
        for data in yaml.safe_load_all(block)
        if isinstance(data, dict) and "when" in data
    ]
    assert len(filters) >= 8
    for data in filters:
        compile_filter(parse_filter(data), ["office"])
