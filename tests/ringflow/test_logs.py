"""Logs never carry phone numbers or the auth token in full."""

from __future__ import annotations

import logging

import pytest

from ringflow.logs import Masker, configure_logging


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
    configure_logging("INFO")
    try:
        logging.getLogger("ringflow").warning(
            "message %s from %s", "SM1\nERROR ringflow: forged", "14155550123"
        )
    finally:
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("twilio.http_client").setLevel(logging.NOTSET)
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
    configure_logging("INFO")
    try:
        assert not logging.getLogger("twilio.http_client").isEnabledFor(logging.INFO)
        assert logging.getLogger("twilio.http_client").isEnabledFor(logging.WARNING)
        assert logging.getLogger("sms.send_job").isEnabledFor(logging.INFO)
    finally:
        logging.getLogger("twilio.http_client").setLevel(logging.NOTSET)
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)
