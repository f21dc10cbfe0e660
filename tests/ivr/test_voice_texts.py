"""Texts sent during a call: queued with the turn, once, and sent by the job worker."""

from __future__ import annotations

import re

from sqlalchemy import select

from ivr.softphone import ScriptedCaller, Softphone
from sms.db import messages
from tests.conftest import (
    AUTH_TOKEN,
    PUBLIC_URL,
    RunningServer,
    ServerFactory,
    eventually,
    workflow,
)
from tests.ivr.test_voice_calls import action_path, signed_post

TEXTING_FLOW = workflow(
    """
id: texting-line
trigger: {event: call.incoming}
start: main
steps:
  main:
    menu:
      say: "Press 1 to get our address by text."
      options: {"1": text_address}
      save_as: choice
  text_address:
    send_sms: "Acme is at 1 Example Street. You pressed {{vars.choice}} on {{call.to}}."
    next: bye
  bye: {hangup: "We have sent you a text. Goodbye."}
"""
)
CALLER = "+12025550143"
OUR_NUMBER = "+12025550100"


async def texts(server: RunningServer) -> list[dict[str, object]]:
    query = select(messages.c.to_number, messages.c.from_number, messages.c.body, messages.c.status)
    rows = await server.db.read(lambda conn: conn.execute(query.order_by(messages.c.id)).all())
    return [dict(row._mapping) for row in rows]


async def test_a_text_is_queued_with_the_turn_and_sent_once(servers: ServerFactory) -> None:
    server = await servers.start([TEXTING_FLOW], worker=False)
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(["1"]), from_=CALLER, to=OUR_NUMBER)

    assert list(result.transcript)[-2:] == ["Say: We have sent you a text. Goodbye.", "Hangup"]
    body = f"Acme is at 1 Example Street. You pressed 1 on {OUR_NUMBER}."
    assert await texts(server) == [
        {"to_number": CALLER, "from_number": OUR_NUMBER, "body": body, "status": "queued"}
    ]

    # Twilio repeats the keypress webhook: the stored answer, and no second text.
    keypress = result.webhooks[1]
    path = keypress.url.removeprefix(server.base_url)
    assert await signed_post(server, path, keypress.params) == (200, keypress.body)
    assert len(await texts(server)) == 1


async def test_the_worker_sends_the_text(servers: ServerFactory) -> None:
    server = await servers.start([TEXTING_FLOW])  # the outbox: no Twilio account configured
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    await phone.call(ScriptedCaller(["1"]), from_=CALLER, to=OUR_NUMBER)

    async def sent() -> bool:
        return [text["status"] for text in await texts(server)] == ["sent"]

    await eventually(sent, what="the text to be sent")  # the server's own worker sends it


async def test_a_caller_without_a_number_gets_no_text_and_the_call_goes_on(
    servers: ServerFactory,
) -> None:
    server = await servers.start([TEXTING_FLOW], worker=False)
    call = {"CallSid": "CA" + "c" * 32, "From": "anonymous", "To": OUR_NUMBER}
    _, first = await signed_post(server, "/twilio/voice", call)
    status, answer = await signed_post(server, action_path(first), call | {"Digits": "1"})

    assert status == 200
    assert re.search(r"<Say>We have sent you a text. Goodbye.</Say><Hangup />", answer)
    assert await texts(server) == []


async def test_a_text_goes_from_the_number_the_step_names(servers: ServerFactory) -> None:
    """`from`: a business texts from its SMS number even when the call came in on another."""
    flow = workflow(
        """
id: texting-from-our-sms-number
trigger: {event: call.incoming}
start: text
steps:
  text:
    send_sms: {body: "Our address: 1 Example Street.", from: "+12025550199"}
    next: bye
  bye: {hangup: "We have sent you a text. Goodbye."}
"""
    )
    server = await servers.start([flow], worker=False)
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    await phone.call(ScriptedCaller([]), from_=CALLER, to=OUR_NUMBER)
    assert [(t["to_number"], t["from_number"]) for t in await texts(server)] == [
        (CALLER, "+12025550199")
    ]
