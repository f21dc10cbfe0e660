"""Logs never carry phone numbers or the auth token in full, in text or JSON; JSON records
carry the ids of the call, run, text or job they are about."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ringflow.logs import JsonFormatter, Masker, configure_logging, log_context
from sms.workflow_jobs import SMS_INBOUND


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("from +15550001111", "from +15***11"),
        ("to +1 (555) 000-2222.", "to +15***22."),
        ("From=%2B821012345678&To=x", "From=+82***78&To=x"),
        ("sip:+4930123456@pbx", "sip:+49***56@pbx"),
        ("at 2026-11-26 00:38:43 on port 8080", "at 2026-11-26 00:38:43 on port 8080"),
        ("call CA0123456789abcdef0123456789abcdef", "call CA0123456789abcdef0123456789abcdef"),
        # Numbers written without their +: masked all the same.
        ("from 14155550123 to 4155550123.", "from 14***23 to 41***23."),
        ("From=14155550123&To=4155550123", "From=14***23&To=41***23"),
        ('{"from": "447911123456"}', '{"from": "44***56"}'),
        ("call (415) 555-0123 or 415-555-0124", "call 41***23 or 41***24"),
        ("or 1 415 555 0125, 415.555.0126", "or 14***25, 41***26"),
        # Ids, run ids, decimals and short numbers are not phone numbers.
        ("run 0123456789abcdef0123456789abcdef", "run 0123456789abcdef0123456789abcdef"),
        ("took 0.0123456789 s, message 123456789", "took 0.0123456789 s, message 123456789"),
        (
            "at 2026-11-26T00:38:43+00:00 from 10.0.0.1",
            "at 2026-11-26T00:38:43+00:00 from 10.0.0.1",
        ),
    ],
)
def test_numbers_are_masked_and_ids_and_dates_kept(text: str, masked: str) -> None:
    assert Masker().mask(text) == masked


def test_records_and_tracebacks_are_masked() -> None:
    masker = Masker(["tok_0123456789"])
    try:
        raise ValueError("token tok_0123456789 for +15550001111")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "call %s from %s", ("CA1", "+15550001111"), None
        )
        import sys

        record.exc_info = sys.exc_info()
    masker.filter(record)
    assert record.getMessage() == "call CA1 from +15***11"
    assert record.exc_text is not None
    assert "tok_0123456789" not in record.exc_text
    assert "+15550001111" not in record.exc_text


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("x", logging.WARNING, __file__, 1, message, args, None)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("CA1\n2026-12-02 10:00:00 INFO ringflow: all good", "CA1\\n2026-12-02 10:00:00 INFO"),
        ("CA1\r\nforged", "CA1\\r\\nforged"),
        ("CA1\x1b[2J\x00\x7f", "CA1\\x1b[2J\\x00\\x7f"),
        ("CA1\x85\u2028\u2029\tx", "CA1\\x85\\u2028\\u2029\\tx"),
    ],
)
def test_control_characters_in_logged_values_are_escaped(value: str, shown: str) -> None:
    record = _record("call %s: bad webhook", value)
    Masker().filter(record)
    message = record.getMessage()
    assert shown in message
    assert not any(char in message for char in "\n\r\x00\x1b\x7f\x85\u2028\u2029\t")


def test_a_value_cannot_start_a_line_of_its_own_in_the_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")  # undone after the test (tests/conftest.py: _logging_restored)
    logging.getLogger("ringflow").warning(
        "message %s from %s", "SM1\nERROR ringflow: forged", "14155550123"
    )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("message SM1\\nERROR ringflow: forged from 14***23")


def test_tracebacks_keep_their_lines_but_escape_other_controls() -> None:
    try:
        raise ValueError("bad\rvalue\x1b from 4155550123")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    Masker().filter(record)
    assert record.exc_text is not None
    assert record.exc_text.startswith("Traceback (most recent call last):\n")
    assert "bad\\rvalue\\x1b from 41***23" in record.exc_text


def test_the_twilio_librarys_request_dumps_are_left_out_at_info() -> None:
    configure_logging("INFO")  # undone after the test (tests/conftest.py: _logging_restored)
    assert not logging.getLogger("twilio.http_client").isEnabledFor(logging.INFO)
    assert logging.getLogger("twilio.http_client").isEnabledFor(logging.WARNING)
    assert logging.getLogger("sms.send_job").isEnabledFor(logging.INFO)


def json_handler(secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    """A logger writing through a masking JSON handler into the returned buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    masker = Masker(secrets)
    handler.setFormatter(JsonFormatter(masker))
    handler.addFilter(masker)
    logger = logging.getLogger("tests.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_records_carry_the_ids_bound_around_them_masked() -> None:
    logger, out = json_handler(["tok_0123456789"])
    with log_context(call="CA1", run="r1"):
        logger.warning("call %s from %s with tok_0123456789", "CA1", "+15550001111")
        with log_context(job=7, conversation=None, message_sid="15550001111"):
            logger.info("line one\nline two")
    logger.info("no ids")
    first, second, third = parsed(out)

    assert first["message"] == "call CA1 from +15***11 with ***"
    assert (first["call"], first["run"], first["level"], first["logger"]) == (
        "CA1",
        "r1",
        "WARNING",
        "tests.json",
    )
    assert str(first["time"]).endswith("Z")
    assert second["message"] == "line one\\nline two"
    assert (second["call"], second["job"], second["message_sid"]) == ("CA1", "7", "15***11")
    assert "conversation" not in second
    assert "call" not in third, "ids do not outlive their block"


def test_json_tracebacks_stay_on_the_records_line() -> None:
    logger, out = json_handler([])
    try:
        raise ValueError("from +15550001111")
    except ValueError:
        logger.exception("failed")
    (line,) = parsed(out)
    assert str(line["exception"]).startswith("Traceback (most recent call last):\n")
    assert "+15550001111" not in str(line["exception"])


RINGFLOW = str(Path(sys.executable).parent / "ringflow")
AUTH = "0123456789abcdef0123456789abcdef"
CALLER, OURS = "+15005550006", "+15005550001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(base: str, path: str, form: dict[str, str], token: str = AUTH) -> int:
    signature = RequestValidator(token).compute_signature(base + path, form)
    request = urllib.request.Request(  # noqa: S310
        base + path,
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_served_call_and_text_log_one_masked_json_object_per_line(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RINGFLOW_DATA_DIR": str(tmp_path / "data"),
        "RINGFLOW_LOG_FORMAT": "json",
        "RINGFLOW_ACCESS_LOG": "true",
        "TWILIO_AUTH_TOKEN": AUTH,
    }
    for name in ("RINGFLOW_DATABASE_URL", "RINGFLOW_PUBLIC_URL", "TWILIO_ACCOUNT_SID"):
        env.pop(name, None)
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [RINGFLOW, "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310
                    break
            except OSError:
                assert process.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        call = {"CallSid": "CA" + "5" * 32, "From": CALLER, "To": OURS, "CallStatus": "ringing"}
        assert post(base, "/twilio/voice", call) == 200
        ended = {**call, "CallStatus": "completed", "CallDuration": "3"}
        assert post(base, "/twilio/voice/status", ended) == 204
        text = {"MessageSid": "SM" + "6" * 32, "From": CALLER, "To": OURS, "Body": "hello"}
        assert post(base, "/twilio/sms", text) == 200
        keyword = {**text, "MessageSid": "SM" + "7" * 32, "Body": "HELP"}
        assert post(base, "/twilio/sms", keyword) == 200
        # A forged webhook with the number in its query string, for the access log.
        assert post(base, f"/twilio/voice?From=%2B{CALLER[1:]}&To={OURS[1:]}", call, "x") == 403
        time.sleep(1.0)  # the worker hands the text to the workflows
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err

    lines = [json.loads(line) for line in err.splitlines()]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    for digits in (CALLER[2:], OURS[2:]):
        assert digits not in err, f"a number in full: {digits}"
    assert AUTH not in err
    ended_log = next(line for line in lines if "ended, outcome" in str(line["message"]))
    assert ended_log["call"] == call["CallSid"], "logged in the database writer, with its ids"
    handed_on = [line for line in lines if line.get("message_sid") == text["MessageSid"]]
    assert any(line.get("job_kind") == SMS_INBOUND and "job" in line for line in handed_on)
    answered = [line for line in lines if line.get("message_sid") == keyword["MessageSid"]]
    assert any(line["logger"] == "sms.routes" for line in answered), "the webhook's own line"
    access = [line for line in lines if line["logger"] == "ringflow.access"]
    assert {line["status"] for line in access} >= {200, 204, 403}
    forged = next(line for line in access if line["status"] == 403)
    assert forged["path"] == "/twilio/voice?From=+15***06&To=15***01"
    assert forged["method"] == "POST"
