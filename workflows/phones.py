"""Phone numbers as keys: everything is stored and compared in E.164 (``+821012345678``).

Parsing, validation and formatting are the ``phonenumbers`` library's (Google's libphonenumber
metadata); numbers written without a country code are read in ``default_region``.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """A text is not a valid phone number; the message says why."""


@lru_cache(maxsize=8192)
def normalize_number(raw: str, default_region: str | None = None) -> str:
    """``raw`` in E.164, e.g. ``"010-1234-5678"`` in region ``KR`` -> ``"+821012345678"``.

    Cached: every call and text normalises its caller's number, and libphonenumber's parse
    and validation cost tens of microseconds.
    """
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        reason = {
            phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
                "has no country code: write it as +<country code><number>"
            ),
            phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short",
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
            phonenumbers.NumberParseException.TOO_LONG: "is too long",
        }.get(error.error_type, "is not a phone number")
        raise InvalidPhoneNumber(f"{text[:40]!r} {reason}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{text[:40]!r} is not a valid number in its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
