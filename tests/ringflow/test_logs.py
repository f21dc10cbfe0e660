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
