"""Recipes without a server: every bundled recipe loads and renders into a valid workflow,
substitution keeps types and leaves runtime templates alone, bad recipes and bad parameters
are refused with the place and the reason."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from workflows.problems import WorkflowInvalid
from workflows.recipes import (
    RECIPES_FOLDER,
    InstallRefused,
    bundled_recipes,
    load_recipe,
    load_recipes,
)
from workflows.recipes.render import render

EXPECTED = {
    "after-hours-text",
    "call-ended-text",
    "faq-voice-answers",
    "members-login",
    "members-menu",
    "menu-by-hours",
    "missed-call-text",
    "sms-menu",
    "vip-menu",
    "voicemail-line",
    "voicemail-text-back",
    "first-response-delay",
    "off-hours-notice",
    "quiet-follow-up",
    "auto-close",
    "priority-keywords",
    "unanswered-alert",
    "satisfaction-survey",
    "proactive-nudge",
    "support-line",
    "chat-greeting-by-hours",
    "chat-members-menu",
    "chat-vip-greeting",
}

SMALL = """\
recipe:
  id: small
  title: Small
  description: A small recipe for tests.
  parameters:
    agents: {type: phones, min: 1, description: Who rings.}
    seconds: {type: number, min: 5, max: 60, default: 20, description: Ring time.}
    name: {type: text, max: 40, description: The name.}
    voicemail: {type: boolean, default: true, description: Offer voicemail.}
workflow:
  name: "{{name}} line"
  trigger: {event: call.incoming}
  start: init
  steps:
    init:
      set: {voicemail: "{{voicemail}}", seconds: "{{seconds}}"}
      next: team
    team:
      dial: {numbers: "{{agents}}", timeout: "{{seconds}}", say: "Ringing for {{seconds}} s."}
      on_no_answer: bye
    bye:
      hangup: "Bye {{ name }}, from {{call.to}}."
"""


def test_every_recipe_file_loads() -> None:
    files = sorted(path.stem for path in Path(RECIPES_FOLDER).glob("*.yaml"))
    recipes = load_recipes()
    assert sorted(recipes) == files
    assert set(recipes) >= EXPECTED
    assert bundled_recipes().keys() == recipes.keys()
    for recipe in recipes.values():
        assert recipe.title
        assert recipe.description
        assert recipe.all_parameters[0].name == "workflow_id"
        assert all(p.description for p in recipe.parameters)


def test_recipes_cover_the_events_they_promise() -> None:
    events = {recipe.id: recipe.event for recipe in bundled_recipes().values()}
    assert events["sms-menu"] == "sms.received"
    assert events["missed-call-text"] == "call.missed"
    assert events["voicemail-text-back"] == "call.missed"
    assert events["after-hours-text"] == "call.after_hours"
    assert events["call-ended-text"] == "call.ended"
    voice_recipes = ("faq-voice-answers", "menu-by-hours", "members-menu", "members-login")
    for voice in (*voice_recipes, "vip-menu", "voicemail-line", "support-line"):
        assert events[voice] == "call.incoming"
    assert events["first-response-delay"] == "no_agent_reply"
    assert events["off-hours-notice"] == "message.received"
    assert events["quiet-follow-up"] == "no_customer_reply"
    assert events["auto-close"] == "no_customer_reply"
    assert events["priority-keywords"] == "message.received"
    assert events["unanswered-alert"] == "unanswered"
    assert events["proactive-nudge"] == "checkout.idle"
    for chat in ("chat-greeting-by-hours", "chat-members-menu", "chat-vip-greeting"):
        assert events[chat] == "chat.started"


def test_rendering_keeps_types_and_leaves_runtime_templates_alone() -> None:
    recipe = load_recipe(SMALL, "small.yaml")
    workflow = recipe.install(
        {"workflow_id": "small-line", "agents": ["+15550002000", "+15550002001"], "name": "Acme"},
        schedules=[],
    )
    data = workflow.definition()
    assert data["id"] == "small-line"
    assert data["name"] == "Acme line"
    steps = data["steps"]
    assert steps["init"]["set"] == {"voicemail": True, "seconds": 20}
    assert steps["team"]["dial"]["numbers"] == ["+15550002000", "+15550002001"]
    assert steps["team"]["dial"]["timeout"] == 20
    assert steps["team"]["dial"]["say"] == "Ringing for 20 s."
    assert steps["bye"]["hangup"]["say"] == "Bye Acme, from {{call.to}}."


def test_runtime_templates_with_fallbacks_survive_in_bundled_recipes() -> None:
    recipe = bundled_recipes()["missed-call-text"]
    workflow = recipe.install(
        {"workflow_id": "missed", "business_name": "Acme", "hours": "office"}, ["office"]
    )
    body = workflow.definition()["steps"]["text"]["send_sms"]["body"]
    assert body.startswith("Hi {{contact.name | there}}, sorry we missed your call to Acme.")
    assert workflow.definition()["trigger"]["once_per"] == 600
    assert workflow.definition()["hours"] == "office"
    unset = recipe.install({"workflow_id": "missed", "business_name": "Acme"}, [])
    assert "hours" not in unset.definition()


def test_a_parameter_value_is_not_searched_again() -> None:
    rendered = render({"a": "{{x}} and {{y}}", "b": "{{x}}"}, {"x": "{{y}}", "y": 3})
    assert rendered.data == {"a": "{{y}} and 3", "b": "{{y}}"}
    assert rendered.origin_of(("a",)) == "x"


def test_placeholders_in_keys_become_text() -> None:
    keyed = (
        SMALL.replace(
            "    voicemail: {type: boolean",
            "    tier: {type: text, max: 20, default: VIP, description: The VIP tier.}\n"
            "    voicemail: {type: boolean",
        )
        .replace(
            "  start: init",
            "  start: by_tier\n"
            "  steps:\n"
            "    by_tier:\n"
            "      branch: {on: vars.tier, cases: {'{{tier}}': init, '{{tier}}-2': team}}\n"
            "      next: init",
        )
        .replace("  steps:\n    init:", "    init:")
    )
    recipe = load_recipe(keyed, "keyed.yaml")
    given = {"workflow_id": "k", "agents": ["+15550002000"], "name": "A", "tier": "Gold"}
    steps = recipe.install(given, []).definition()["steps"]
    assert steps["by_tier"]["branch"]["cases"] == {"Gold": "init", "Gold-2": "team"}


def test_a_choice_is_a_typed_value() -> None:
    recipe = bundled_recipes()["vip-menu"]
    given = {
        "workflow_id": "vip",
        "numbers": ["+15550001000"],
        "business_name": "Acme",
        "vip_agents": ["+15550002000"],
        "vip_tiers": ["VIP", "Gold"],
        "vip_no_answer": "goodbye",
    }
    data = recipe.install(given, []).definition()
    assert data["steps"]["no_answer"]["set"] == {"after": "goodbye"}
    assert data["trigger"]["when"] == {"contact": {"attribute": "tier", "in": ["VIP", "Gold"]}}


def refused(
    recipe_id: str, given: dict[str, Any], schedules: list[str] | None = None
) -> dict[str, str]:
    with pytest.raises(InstallRefused) as caught:
        bundled_recipes()[recipe_id].install(given, schedules or [])
    return {problem.field: problem.message for problem in caught.value.problems}


def test_bad_unknown_and_missing_parameters_are_named() -> None:
    problems = refused(
        "faq-voice-answers",
        {
            "workflow_id": "Not An Id",
            "business_name": 7,
            "agents": ["555-1234"],
            "ring_seconds": 3,
            "colour": "blue",
        },
    )
    assert problems["parameters.colour"].startswith("unknown parameter")
    assert "lower-case" in problems["parameters.workflow_id"]
    assert problems["parameters.business_name"] == "must be a text"
    assert "E.164" in problems["parameters.agents"]
    assert problems["parameters.ring_seconds"] == "must be at least 5"
    assert problems["parameters.answer_1"] == "required"


def test_types_are_checked() -> None:
    base = {"workflow_id": "v", "business_name": "Acme"}
    problems = refused(
        "vip-menu",
        {**base, "vip_agents": [], "vip_no_answer": "queue", "numbers": "+15550001000"},
    )
    assert problems["parameters.vip_agents"] == "must hold 1 to 10 phone numbers"
    assert problems["parameters.vip_no_answer"] == "must be one of voicemail, goodbye"
    assert problems["parameters.numbers"] == "must be a list of phone numbers"
    problems = refused("menu-by-hours", {**base, "closed_voicemail": "yes"})
    assert problems["parameters.closed_voicemail"] == "must be true or false"
    problems = refused("sms-menu", {"workflow_id": "s", "keywords": [], "answer_1": "a"})
    assert problems["parameters.keywords"] == "must hold 1 to 50 texts"
    assert problems["parameters.answer_2"] == "required"


def test_unknown_schedules_and_workflow_problems_name_the_parameter() -> None:
    given = {
        "workflow_id": "hours",
        "business_name": "Acme",
        "agents": ["+15550002000"],
        "hours": "ofice",
    }
    problems = refused("menu-by-hours", given, ["office"])
    assert problems == {"parameters.hours": "unknown schedule 'ofice' (schedules: office)"}
    faq = {
        "workflow_id": "faq",
        "business_name": "Acme",
        "agents": ["+15550002000"],
        "answer_1": "a",
        "answer_2": "b",
        "answer_3": "c",
        "ring_seconds": 7.5,
    }
    problems = refused("faq-voice-answers", faq)
    assert list(problems) == ["parameters.ring_seconds"]
    assert problems["parameters.ring_seconds"].startswith("steps.agent.dial.timeout:")


def messages_of(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalid) as caught:
        load_recipe(text, "bad.yaml")
    return caught.value.messages()


def test_unknown_placeholders_are_rejected_when_loading() -> None:
    bad = SMALL.replace('"{{name}} line"', '"{{nmae}} line"')
    messages = messages_of(bad)
    assert any("workflow.name: unknown placeholder {{nmae}}" in m for m in messages), messages


def test_unused_parameters_wrong_keys_and_bad_defaults_are_rejected() -> None:
    bad = SMALL.replace(
        "    voicemail: {type: boolean",
        "    unused: {type: text, description: Never used.}\n"
        "    colour: {type: color, description: No such type.}\n"
        "    voicemail: {type: boolean",
    ).replace("default: 20,", "default: 2,")
    messages = "\n".join(messages_of(bad))
    assert "recipe.parameters.unused: never used in the workflow" in messages
    assert "recipe.parameters.colour.type: must be one of" in messages
    assert "recipe.parameters.seconds.default: must be at least 5" in messages
    with_id = SMALL.replace("  start: init", "  id: fixed\n  start: init")
    assert any("workflow.id" in m for m in messages_of(with_id))


def test_a_recipe_whose_workflow_is_invalid_is_rejected() -> None:
    bad = SMALL.replace("on_no_answer: bye", "on_no_answer: nowhere")
    messages = messages_of(bad)
    assert any("workflow.steps.team.on_no_answer: unknown step 'nowhere'" in m for m in messages)


def test_every_choice_of_a_choice_parameter_is_checked() -> None:
    choice = SMALL.replace(
        "    voicemail: {type: boolean",
        "    after: {type: choice, choices: [bye, nowhere], default: bye, description: Then.}\n"
        "    voicemail: {type: boolean",
    ).replace("on_no_answer: bye", 'on_no_answer: "{{after}}"')
    messages = messages_of(choice)
    assert any("unknown step 'nowhere'" in m for m in messages), messages


def test_the_support_line_renders_and_loads_with_every_combination_of_its_parameters() -> None:
    recipe = bundled_recipes()["support-line"]
    base = {"workflow_id": "support", "business_name": "Acme", "hours": "office"}
    ranges = {
        name: (parameter.min, parameter.max)
        for parameter in recipe.parameters
        if (name := parameter.name) in ("ring_seconds", "max_wait_seconds", "announce_seconds")
    }
    combinations = itertools.product(
        ("voicemail", "callback"),
        ("voicemail", "callback", "message"),
        ([], ["+15550001000", "+15550001001"]),
        ("support", "front-desk.2"),
        *ranges.values(),
    )
    count = 0
    for fallback, after_hours, numbers, team, ring, wait, announce in combinations:
        given = {
            **base,
            "queue_fallback": fallback,
            "after_hours": after_hours,
            "numbers": numbers,
            "team": team,
            "ring_seconds": ring,
            "max_wait_seconds": wait,
            "announce_seconds": announce,
        }
        data = recipe.install(given, ["office"]).definition()
        count += 1
        assert data["hours"] == "office"
        assert data["trigger"].get("to", []) == numbers
        connect = data["steps"]["team"]["connect"]
        assert (connect["team"], connect["ring_timeout"]) == (team, ring)
        assert connect["queue"]["max_wait"] == wait
        assert connect["queue"]["announce_every"] == announce
        assert connect["queue"]["fallback"] == fallback
        assert data["steps"]["closed_choice"]["set"] == {"after_hours": after_hours}
        assert data["steps"]["closed_callback"]["callback"]["team"] == team
    assert count == 2 * 3 * 2 * 2 * 2**3
    # The defaults alone (and the team's own ring strategy: the recipe never overrides it).
    data = recipe.install(base, ["office"]).definition()
    assert data["steps"]["team"]["connect"]["queue"]["fallback"] == "voicemail"
    assert data["steps"]["closed_choice"]["set"] == {"after_hours": "voicemail"}
    assert "ring_strategy" not in data["steps"]["team"]["connect"]


def test_the_support_line_refuses_a_bad_team_or_a_fractional_wait_naming_the_parameter() -> None:
    base = {"workflow_id": "support", "business_name": "Acme", "hours": "office"}
    problems = refused("support-line", {**base, "team": "no such team!"}, ["office"])
    assert list(problems) == ["parameters.team"]
    problems = refused("support-line", {**base, "max_wait_seconds": 90.5}, ["office"])
    assert list(problems) == ["parameters.max_wait_seconds"]
    assert problems["parameters.max_wait_seconds"].startswith("steps.team.connect.queue.max_wait")
    problems = refused("support-line", {**base, "after_hours": "queue"}, ["office"])
    assert problems == {"parameters.after_hours": "must be one of voicemail, callback, message"}
    problems = refused("support-line", {"workflow_id": "support", "business_name": "Acme"})
    assert problems == {"parameters.hours": "required"}
