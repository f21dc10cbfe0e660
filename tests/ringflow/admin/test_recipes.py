"""The recipe endpoints against a real server: every recipe installed through the API and
driven end to end (calls by the signed softphone, texts signed into ``POST /twilio/sms``,
texts out through the server's own job worker to TwilioApiStub, a clock the test moves,
contact attributes set in the database); and the 401/404/409/422 answers.

The office schedule (copied from examples/post-call) is New York time, Monday to Friday
09:00-12:00 and 13:00-17:00, quiet hours 21:00-08:00.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from ivr.softphone import CallResult, ScriptedCaller, Softphone
from tests.api_client import ADMIN_TOKEN, ApiClient
from tests.clock import MONDAY, SATURDAY, MovableClock, next_weekday_at
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    ServerFactory,
    eventually,
    jobs_settled,
    signed_post,
)
from tests.fakes.twilio_api import ACCOUNT_SID, TwilioApiStub
from workflows.contacts import set_attributes
from workflows.recipes import bundled_recipes

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "post-call"
NEW_YORK = ZoneInfo("America/New_York")
CALLER = "+14155550123"
OTHER_CALLER = "+14155550199"
OUR_NUMBER = "+15005550001"
TEAM = "+15005550009"
VIP_TEAM = "+15005550010"
TEAM_PHONE = "+15005550020"
SOURCE = Path(__file__).read_text(encoding="utf-8")
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), NEW_YORK)
SATURDAY_10 = next_weekday_at(SATURDAY, time(10, 0), NEW_YORK, after=MONDAY_10)


@dataclass
class Site:
    """A server with no workflows yet, the office schedule, an admin token and a Twilio stub."""

    api: ApiClient
    stub: TwilioApiStub
    clock: MovableClock

    async def install(self, recipe: str, publish: bool = True, **parameters: Any) -> None:
        answer = await self.api.call(
            "POST",
            f"/recipes/{recipe}/install",
            json_body={"parameters": parameters, "publish": publish},
        )
        assert answer.status == 201, answer.text
        assert answer.json["published_version"] == (1 if publish else None)

    async def call(self, *answers: str | None, caller: str = CALLER) -> CallResult:
        phone = Softphone(self.api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
        return await phone.call(ScriptedCaller(answers), from_=caller, to=OUR_NUMBER)

    async def set_contact(self, number: str, **attributes: Any) -> None:
        now = self.clock()
        await self.api.server.db.write(
            lambda conn: set_attributes(conn, number, attributes, now=now)
        )

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)

    def texts(self) -> list[tuple[str, str]]:
        return [(message.to, message.body) for message in self.stub.accepted]

    async def expect_texts(self, count: int) -> list[tuple[str, str]]:
        await eventually(lambda: len(self.stub.accepted) >= count, what=f"{count} text(s)")
        return self.texts()


@pytest.fixture
async def site(
    servers: ServerFactory, server_stub: TwilioApiStub, tmp_path: Path
) -> AsyncIterator[Site]:
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    shutil.copy(EXAMPLES / "schedules" / "office.yaml", flows / "schedules" / "office.yaml")
    clock = MovableClock(MONDAY_10)
    server = await servers.start(
        [],
        clock=clock,
        flows_dir=flows,
        admin_token=ADMIN_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_base_url=server_stub.base_url,
    )
    async with aiohttp.ClientSession() as session:
        yield Site(ApiClient(server, session), server_stub, clock)


def said(result: CallResult) -> list[str]:
    return [line.removeprefix("Say: ") for line in result.transcript if line.startswith("Say: ")]


# --- each recipe, end to end -------------------------------------------------------------


async def test_faq_voice_answers_answer_without_an_agent(site: Site) -> None:
    await site.install(
        "faq-voice-answers",
        workflow_id="faq-line",
        numbers=[OUR_NUMBER],
        business_name="Acme",
        answer_1="We are open nine to five.",
        answer_2="We are at 1 Example Street.",
        answer_3="We deliver within two days.",
        agents=[TEAM],
    )
    result = await site.call("2", None)  # the address, then silence at "anything else"
    heard = said(result)
    assert heard[0].startswith("Thank you for calling Acme. For our opening hours, press 1.")
    assert "We are at 1 Example Street." in heard
    assert heard[-1] == "Thank you for calling Acme. Goodbye."
    assert not any(line.startswith("Dial:") for line in result.transcript)

    agent = await site.call("0", "no-answer")
    assert f"Dial: {TEAM}" in agent.transcript
    assert "Sorry, nobody can take your call right now. Please call again later." in said(agent)


async def test_menu_by_hours_rings_the_team_when_open_and_texts_the_next_opening_when_closed(
    site: Site,
) -> None:
    await site.install(
        "menu-by-hours",
        workflow_id="main-line",
        business_name="Acme",
        hours="office",
        agents=[TEAM],
    )
    await site.install(
        "after-hours-text", workflow_id="closed-text", business_name="Acme", hours="office"
    )
    await site.install("call-ended-text", workflow_id="thanks-text", business_name="Acme")

    open_call = await site.call("1", "completed:35")
    assert f"Dial: {TEAM}" in open_call.transcript
    assert await site.expect_texts(1) == [
        (CALLER, "Thanks for calling Acme. We hope we could help! Reply STOP to opt out.")
    ]

    site.at(SATURDAY_10)
    closed = await site.call("recorded:8", caller=OTHER_CALLER)
    assert "Thank you for calling Acme. We are closed right now." in " ".join(said(closed))
    assert any(line.startswith("Record: 8s") for line in closed.transcript)
    texts = await site.expect_texts(2)
    assert texts[1] == (
        OTHER_CALLER,
        "Thanks for calling Acme. We're closed right now; we open on Monday at 9:00."
        " Reply STOP to opt out.",
    )


async def test_menu_by_hours_without_voicemail_when_closed(site: Site) -> None:
    site.at(SATURDAY_10)
    await site.install(
        "menu-by-hours",
        workflow_id="main-line",
        business_name="Acme",
        hours="office",
        agents=[TEAM],
        closed_message="Back on Monday.",
        closed_voicemail=False,
    )
    result = await site.call()
    assert said(result) == ["Thank you for calling Acme. Back on Monday.", "Goodbye."]
    assert not any(line.startswith("Record") for line in result.transcript)


async def test_members_menu_and_members_login_split_callers_by_the_member_attribute(
    site: Site,
) -> None:
    await site.install(
        "members-menu",
        workflow_id="members",
        numbers=[OUR_NUMBER],
        business_name="Acme",
        members_answer="Your orders ship within a day.",
        member_agents=[VIP_TEAM],
    )
    await site.install(
        "members-login",
        workflow_id="a-login-first",  # sorts first: the filters decide, not the order
        numbers=[OUR_NUMBER],
        business_name="Acme",
        agents=[TEAM],
    )
    await site.set_contact(CALLER, member=True)
    member = await site.call("1", None)
    heard = said(member)
    assert heard[0] == (
        "Thank you for calling Acme, and welcome back. For your account and orders,"
        " press 1. To speak with member services, press 0."
    )
    assert "Your orders ship within a day." in heard

    await site.set_contact(OTHER_CALLER, member=False)
    for caller in (OTHER_CALLER, "+14155550177"):  # not a member; never seen before
        other = await site.call("0", "no-answer", caller=caller)
        heard = said(other)
        assert heard[0] == "Thank you for calling Acme."
        assert heard[1].startswith("To reach member services, please log in to your account")
        assert f"Dial: {TEAM}" in other.transcript
        assert not any("welcome back" in line for line in heard)


async def test_vip_menu_sends_vips_straight_to_their_team(site: Site) -> None:
    await site.install(
        "faq-voice-answers",  # the main line everyone else reaches (it names no number)
        workflow_id="faq-line",
        business_name="Acme",
        answer_1="a",
        answer_2="b",
        answer_3="c",
        agents=[TEAM],
    )
    await site.install(
        "vip-menu",
        workflow_id="vip-line",
        numbers=[OUR_NUMBER],
        business_name="Acme",
        vip_tiers=["VIP", "Gold"],
        vip_agents=[VIP_TEAM],
    )
    await site.set_contact(CALLER, tier="vip")
    vip = await site.call("no-answer", "recorded:5")
    assert said(vip)[0] == (
        "Thank you for calling Acme. Welcome back! Connecting you to your personal team."
    )
    assert f"Dial: {VIP_TEAM}" in vip.transcript
    assert any(line.startswith("Record: 5s") for line in vip.transcript)

    await site.set_contact(OTHER_CALLER, tier="Basic")
    other = await site.call("0", "completed:20", caller=OTHER_CALLER)
    assert said(other)[0].startswith("Thank you for calling Acme. For our opening hours")
    assert f"Dial: {TEAM}" in other.transcript
    assert f"Dial: {VIP_TEAM}" not in other.transcript


async def test_vip_menu_can_say_goodbye_instead_of_voicemail(site: Site) -> None:
    await site.install(
        "vip-menu",
        workflow_id="vip-line",
        numbers=[OUR_NUMBER],
        business_name="Acme",
        vip_agents=[VIP_TEAM],
        vip_no_answer="goodbye",
    )
    await site.set_contact(CALLER, tier="VIP")
    result = await site.call("busy")
    assert said(result)[-2:] == [
        "Your team cannot take your call right now. They will call you back.",
        "Goodbye.",
    ]
    assert not any(line.startswith("Record") for line in result.transcript)


class Texter:
    def __init__(self, site: Site) -> None:
        self.site = site
        self._sids = (f"SM{n:032d}" for n in itertools.count(1))

    async def send(self, body: str) -> None:
        form = {
            "MessageSid": next(self._sids),
            "AccountSid": ACCOUNT_SID,
            "From": CALLER,
            "To": OUR_NUMBER,
            "Body": body,
        }
        assert (await signed_post(self.site.api.server, "/twilio/sms", form)).status == 200


async def test_sms_menu_answers_numbered_options(site: Site) -> None:
    await site.install(
        "sms-menu",
        workflow_id="sms-answers",
        numbers=[OUR_NUMBER],
        keywords=["menu", "메뉴"],
        answer_1="We open at 9 on weekdays.",
        answer_2="Hi {{contact.name | there}}, we are at 1 Example Street.",
    )
    texter = Texter(site)
    await texter.send("hello")  # no keyword: nothing starts
    await texter.send("메뉴 보여주세요")
    menu = "Hi! Reply with a number:\n1. Opening hours\n2. Our address\n3. Talk to a person"
    assert await site.expect_texts(1) == [(CALLER, menu)]
    await texter.send("2")
    texts = await site.expect_texts(2)
    assert texts[1] == (CALLER, "Hi there, we are at 1 Example Street.")

    await texter.send("MENU")
    await site.expect_texts(3)
    await texter.send("talk to a person")
    texts = await site.expect_texts(4)
    assert texts[3] == (CALLER, "Thanks! A person will text you back shortly.")


async def install_line_and_missed_call_text(site: Site) -> None:
    """A voicemail line ringing the team, and the missed-call text in the office's hours."""
    await site.install("voicemail-line", workflow_id="line", business_name="Acme", agents=[TEAM])
    await site.install(
        "missed-call-text",
        workflow_id="missed-text",
        numbers=[OUR_NUMBER],
        business_name="Acme",
        hours="office",
    )


async def test_missed_call_text_after_a_call_nobody_answered(site: Site) -> None:
    await install_line_and_missed_call_text(site)
    result = await site.call("no-answer", None)  # nobody answers, no voicemail
    assert f"Dial: {TEAM}" in result.transcript
    assert await site.expect_texts(1) == [
        (
            CALLER,
            "Hi there, sorry we missed your call to Acme."
            " We will call you back soon. Reply STOP to opt out.",
        )
    ]


async def test_a_missed_call_text_in_quiet_hours_is_held_and_the_log_says_why(site: Site) -> None:
    late = next_weekday_at(MONDAY, time(22, 0), NEW_YORK)  # quiet hours: 21:00-08:00
    site.at(late)
    await install_line_and_missed_call_text(site)
    await site.call("no-answer", None)
    await jobs_settled(site.api.server)
    assert site.texts() == []
    listed = await site.api.call("GET", "/messages", params={"direction": "outbound"})
    [text] = listed.json
    assert text["status"] == "queued"
    assert text["held"].startswith("quiet hours of 'office'")
    morning = next_weekday_at(MONDAY + 1, time(8, 0), NEW_YORK, after=late)
    assert datetime.fromisoformat(text["due_at"]) == morning
    one = await site.api.call("GET", f"/messages/{text['id']}")
    assert one.json["held"] == text["held"]


async def test_voicemail_line_and_text_back_send_the_recording_to_the_team(site: Site) -> None:
    await site.install(
        "voicemail-line",
        workflow_id="line",
        numbers=[OUR_NUMBER],
        business_name="Acme",
        agents=[TEAM],
        ring_seconds=15,
    )
    await site.install(
        "voicemail-text-back",
        workflow_id="text-back",
        business_name="Acme",
        team_phone=TEAM_PHONE,
    )
    result = await site.call("no-answer", "recorded:12")
    assert said(result)[0] == "Thank you for calling Acme. Connecting you now."
    assert any(line.startswith("Record: 12s") for line in result.transcript)
    texts = await site.expect_texts(2)
    by_number = dict(texts)
    assert by_number[CALLER] == (
        "Hi there, sorry we missed your call to Acme."
        " We got your call and will call you back soon. Reply STOP to opt out."
    )
    team = by_number[TEAM_PHONE]
    assert team.startswith(f"Missed call from {CALLER} to {OUR_NUMBER}. Voicemail: https://")
    assert "/Recordings/RE" in team


def test_every_recipe_has_an_end_to_end_test() -> None:
    conversations = Path(__file__).with_name("test_conversation_recipes.py")
    survey = Path(__file__).parents[2] / "workflows" / "test_satisfaction_survey_recipe.py"
    source = SOURCE + conversations.read_text(encoding="utf-8")
    source += survey.read_text(encoding="utf-8")
    source += (Path(__file__).parents[2] / "pbx" / "test_recipe.py").read_text(encoding="utf-8")
    source += survey.with_name("test_faq_answers_recipe.py").read_text(encoding="utf-8")
    source += survey.with_name("test_support_line_recipe.py").read_text(encoding="utf-8")
    events = survey.with_name("external") / "test_events_in.py"
    source += events.read_text(encoding="utf-8")
    chat = Path(__file__).parents[2] / "chat" / "test_recipes_browser.py"
    source += chat.read_text(encoding="utf-8")
    for recipe_id in bundled_recipes():
        assert f'"{recipe_id}"' in source, f"no test installs {recipe_id}"


# --- the endpoints -----------------------------------------------------------------------


async def test_list_and_read_recipes(api: ApiClient) -> None:
    listed = await api.call("GET", "/recipes")
    assert listed.status == 200
    ids = [recipe["id"] for recipe in listed.json]
    assert ids == sorted(bundled_recipes())
    faq = next(recipe for recipe in listed.json if recipe["id"] == "faq-voice-answers")
    assert faq["event"] == "call.incoming"
    first, *rest = faq["parameters"]
    assert first["name"] == "workflow_id"
    assert first["required"] is True
    ring = next(p for p in rest if p["name"] == "ring_seconds")
    assert ring == {
        "name": "ring_seconds",
        "type": "number",
        "description": ring["description"],
        "required": False,
        "default": 20,
        "choices": None,
        "min": 5,
        "max": 120,
        "pattern": None,
    }
    one = await api.call("GET", "/recipes/vip-menu")
    assert one.status == 200
    assert one.json["workflow"]["steps"]["no_answer"]["set"] == {"after": "{{vip_no_answer}}"}
    choice = next(p for p in one.json["parameters"] if p["name"] == "vip_no_answer")
    assert choice["choices"] == ["voicemail", "goodbye"]
    assert choice["default"] == "voicemail"
    missing = await api.call("GET", "/recipes/nope")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"


async def test_a_token_is_needed(api: ApiClient) -> None:
    assert (await api.call("GET", "/recipes", token=False)).status == 401
    assert (await api.call("GET", "/recipes/sms-menu", token="rf_wrong")).status == 401
    install = await api.call(
        "POST", "/recipes/sms-menu/install", json_body={"parameters": {}}, token=False
    )
    assert install.status == 401


async def test_bad_parameters_are_422_naming_each(api: ApiClient) -> None:
    answer = await api.call(
        "POST",
        "/recipes/call-ended-text/install",
        json_body={
            "parameters": {"workflow_id": "Bad Id", "colour": "red", "once_per_minutes": -1}
        },
    )
    assert answer.status == 422
    fields = {error["field"]: error["message"] for error in answer.json["errors"]}
    assert fields["parameters.colour"].startswith("unknown parameter")
    assert "lower-case" in fields["parameters.workflow_id"]
    assert fields["parameters.business_name"] == "required"
    assert fields["parameters.once_per_minutes"] == "must be at least 0"

    no_id = await api.call("POST", "/recipes/call-ended-text/install", json_body={"parameters": {}})
    assert no_id.status == 422
    assert {"field": "parameters.workflow_id", "message": "required"} in no_id.json["errors"]

    body = await api.call("POST", "/recipes/call-ended-text/install", json_body={"params": {}})
    assert body.status == 422
    assert body.json["errors"][0]["field"] == "body.params"
    assert (await api.call("GET", "/workflows/bad-id")).status == 404  # nothing stored


async def test_a_schedule_that_does_not_exist_is_422(api: ApiClient) -> None:
    # The demo server has no schedules at all.
    answer = await api.call(
        "POST",
        "/recipes/after-hours-text/install",
        json_body={
            "parameters": {"workflow_id": "closed", "business_name": "Acme", "hours": "office"}
        },
    )
    assert answer.status == 422
    assert answer.json["errors"] == [
        {"field": "parameters.hours", "message": "unknown schedule 'office' (schedules: none)"}
    ]


async def test_unknown_recipe_is_404_and_a_file_workflows_id_is_409(api: ApiClient) -> None:
    parameters = {"workflow_id": "demo-line", "business_name": "Acme"}
    missing = await api.call(
        "POST", "/recipes/no-such-recipe/install", json_body={"parameters": parameters}
    )
    assert missing.status == 404
    clash = await api.call(
        "POST", "/recipes/call-ended-text/install", json_body={"parameters": parameters}
    )
    assert clash.status == 409
    assert clash.content_type == "application/problem+json"


async def test_install_as_a_draft_then_again_makes_a_new_draft(api: ApiClient) -> None:
    parameters = {"workflow_id": "thanks", "business_name": "Acme"}
    url = "/recipes/call-ended-text/install"
    first = await api.call("POST", url, json_body={"parameters": parameters})
    assert first.status == 201
    assert first.json["origin"] == "api"
    assert first.json["has_draft"] is True
    assert first.json["published_version"] is None
    again = await api.call(
        "POST",
        url,
        json_body={"parameters": {**parameters, "message": "See you!"}, "publish": True},
    )
    assert again.status == 201
    assert again.json["published_version"] == 1
    assert again.json["has_draft"] is False
    exported = await api.call(
        "GET", "/workflows/thanks/export", params={"format": "json"}, token=True
    )
    assert exported.json["steps"]["text"]["send_sms"]["body"] == "Thanks for calling Acme. See you!"
    not_json = await api.call("POST", url, data="x", content_type="text/plain")
    assert not_json.status == 415
