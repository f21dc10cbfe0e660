"""Voice and SMS on a real server go through the same session service: a call, its missed
outcome and a text each reach the one ``SessionService`` the server built, as typed events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ServerFactory, eventually, signed_post, workflow
from workflows.sessions import SessionService

CALLER = "+14155550123"
LINE = "+15005550001"
FLOWS = [
    workflow(
        f"""
id: answer
trigger: {{event: call.incoming, to: "{LINE}"}}
start: hello
steps:
  hello: {{say: "Hello.", next: bye}}
  bye: {{hangup: {{}}}}
"""
    ),
    workflow(
        """
id: missed
trigger: {event: call.missed}
start: sorry
steps:
  sorry: {say: "Sorry we missed you."}
"""
    ),
    workflow(
        """
id: texts
trigger: {event: sms.received}
start: hi
steps:
  hi: {say: "Hi there."}
"""
    ),
    workflow(
        """
id: follows
trigger: {event: message.received}
start: note
steps:
  note: {note: "A text came."}
"""
    ),
]


async def test_calls_call_outcomes_and_texts_reach_one_session_service(
    servers: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, str]] = []

    def spy(name: str) -> Callable[..., Any]:
        original = getattr(SessionService, name)

        def recorded(self: SessionService, *args: Any, **kwargs: Any) -> Any:
            event = args[1] if name == "start_in" else args[0]
            seen.append((id(self), type(event).__name__))
            return original(self, *args, **kwargs)

        return recorded

    for name in ("call_started", "start_in"):
        monkeypatch.setattr(SessionService, name, spy(name))
    server = await servers.start(FLOWS)

    call = {"CallSid": "CA" + "e" * 32, "From": CALLER, "To": LINE, "CallStatus": "ringing"}
    answered = await signed_post(server, "/twilio/voice", call)
    assert "<Say>Hello.</Say>" in answered.text
    ended = call | {"CallStatus": "no-answer", "CallDuration": "0"}
    assert (await signed_post(server, "/twilio/voice/status", ended)).status == 204
    text = {"MessageSid": "SM" + "e" * 32, "From": CALLER, "To": LINE, "Body": "hello"}
    assert (await signed_post(server, "/twilio/sms", text)).status == 200

    def kinds() -> list[str]:
        return [kind for _, kind in seen]

    await eventually(lambda: "TextReceived" in kinds(), what="the text handed over")
    # The text's conversation event (message received) comes through the same door.
    await eventually(lambda: "ConversationEvent" in kinds(), what="the conversation's event")
    channel_events = [kind for kind in kinds() if kind != "ConversationEvent"]
    assert channel_events == ["CallStarted", "CallEnded", "TextReceived"]
    assert len({instance for instance, _ in seen}) == 1
