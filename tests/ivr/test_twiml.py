"""TwiML rendering, compared as golden strings."""

from __future__ import annotations

from ivr.twiml import apology, render
from workflows.instructions import (
    Dial,
    DialTarget,
    Enqueue,
    Gather,
    Hangup,
    NoAgents,
    Pause,
    Play,
    Record,
    Say,
)

HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response>'
RESUME = "https://ivr.example.com/twilio/voice/runs/abc/3"


def test_prompts_and_the_end_of_a_finished_run() -> None:
    twiml = render(
        (
            Say("Hi & welcome", language="ko-KR", voice="Polly.Seoyeon", loop=2),
            Pause(2),
            Play("https://example.com/a.wav?x=1&y=2"),
        ),
        RESUME,
        finished=True,
    )
    assert twiml == (
        HEAD + '<Say language="ko-KR" loop="2" voice="Polly.Seoyeon">Hi &amp; welcome</Say>'
        '<Pause length="2" /><Play>https://example.com/a.wav?x=1&amp;y=2</Play><Hangup />'
        "</Response>"
    )


def test_an_explicit_hangup_is_not_doubled() -> None:
    assert render((Say("Bye."), Hangup()), RESUME, finished=True) == (
        HEAD + "<Say>Bye.</Say><Hangup /></Response>"
    )


def test_a_gather_with_speech_is_followed_by_a_redirect() -> None:
    gather = Gather(
        prompts=(Say("Say billing or press 1."),),
        timeout=7,
        num_digits=None,
        speech=True,
        speech_hints=("billing", "sales"),
        language="en-GB",
    )
    assert render((gather,), RESUME, finished=False) == (
        HEAD + f'<Gather action="{RESUME}/gather" actionOnEmptyResult="true" finishOnKey="#" '
        'hints="billing, sales" input="dtmf speech" language="en-GB" method="POST" '
        'speechTimeout="auto" timeout="7"><Say>Say billing or press 1.</Say></Gather>'
        f'<Redirect method="POST">{RESUME}/gather</Redirect></Response>'
    )


def test_a_speech_gather_without_hints_has_no_hints_attribute() -> None:
    gather = Gather(prompts=(Say("How can I help?"),), timeout=5, speech=True, language="ko-KR")
    rendered = render((gather,), RESUME, finished=False)
    assert "hints=" not in rendered
    assert 'input="dtmf speech" language="ko-KR"' in rendered


def test_dial_numbers_sip_and_clients_with_caller_id() -> None:
    dial = Dial(
        targets=(
            DialTarget("number", "+15550001111"),
            DialTarget("sip", "sip:desk@pbx.example.com"),
            DialTarget("client", "alice"),
        ),
        timeout=25,
        caller_id="+15550009999",
    )
    assert render((dial,), RESUME, finished=False) == (
        HEAD + f'<Dial action="{RESUME}/dial" callerId="+15550009999" method="POST" timeout="25">'
        "<Number>+15550001111</Number><Sip>sip:desk@pbx.example.com</Sip>"
        "<Client>alice</Client></Dial></Response>"
    )


def test_record_without_beep_or_finish_key() -> None:
    record = Record(max_seconds=30, silence_timeout=3, finish_on_key="", play_beep=False)
    assert render((record,), RESUME, finished=False) == (
        HEAD + f'<Record action="{RESUME}/record" maxLength="30" method="POST" playBeep="false" '
        f'timeout="3" /><Redirect method="POST">{RESUME}/record</Redirect></Response>'
    )


def test_resume_urls_are_escaped_and_cached_documents_differ_only_by_them() -> None:
    gather = Gather(prompts=(Say("Pick."),), timeout=5, num_digits=1)
    first = render((gather,), "/twilio/voice/runs/a/1", finished=False)
    second = render((gather,), "https://x.example/p?a=1&b=2", finished=False)
    assert first.replace("/twilio/voice/runs/a/1", "U") == second.replace(
        "https://x.example/p?a=1&amp;b=2", "U"
    )


def test_apology() -> None:
    assert apology("Sorry.") == HEAD + "<Say>Sorry.</Say><Hangup /></Response>"


def test_a_menu_that_uses_hash_turns_the_finish_key_off() -> None:
    gather = Gather(prompts=(Say("Press # to repeat."),), timeout=5, num_digits=1, finish_on_key="")
    assert render((gather,), RESUME, finished=False) == (
        HEAD + f'<Gather action="{RESUME}/gather" actionOnEmptyResult="true" finishOnKey="" '
        'method="POST" numDigits="1" timeout="5"><Say>Press # to repeat.</Say></Gather>'
        f'<Redirect method="POST">{RESUME}/gather</Redirect></Response>'
    )


def test_a_team_ring_names_its_agents_and_asks_for_their_legs_status() -> None:
    dial = Dial(
        (
            DialTarget("number", "+12025550181", agent="alice"),
            DialTarget("sip", "sip:bob@pbx.example.com", agent="bob"),
        ),
        timeout=20,
        team="support",
    )
    twiml = render((dial,), RESUME, finished=False, base_url="https://ivr.example.com")
    callback = (
        'statusCallback="https://ivr.example.com/twilio/voice/agents/{}/status?team=support" '
        'statusCallbackEvent="answered completed" statusCallbackMethod="POST"'
    )
    assert twiml == (
        HEAD + f'<Dial action="{RESUME}/dial?rung=alice&amp;rung=bob" method="POST" timeout="20">'
        f"<Number {callback.format('alice')}>+12025550181</Number>"
        f"<Sip {callback.format('bob')}>sip:bob@pbx.example.com</Sip></Dial></Response>"
    )


def test_a_caller_nobody_can_take_waits_in_the_teams_queue_or_resumes_at_once() -> None:
    assert render((Enqueue("support"),), RESUME, finished=False, base_url="https://x.test") == (
        HEAD + f'<Enqueue action="{RESUME}/queue" method="POST" '
        'waitUrl="https://x.test/twilio/voice/queue/wait" waitUrlMethod="POST">support</Enqueue>'
        "</Response>"
    )
    assert render((NoAgents(),), RESUME, finished=False) == (
        HEAD + f'<Redirect method="POST">{RESUME}/connect</Redirect></Response>'
    )
