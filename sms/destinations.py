"""Which numbers Ringflow may text at all: allowed countries, never costly number types.

Automated texts are what SMS pumping fraud abuses: someone makes a server text premium-rate
or far-away numbers (calling from spoofed numbers, texting it, filling forms) and shares the
carrier's fees. So, checked when each text leaves (:mod:`sms.send_job`):

* the recipient's country (libphonenumber's region of the number) must be one of the allowed
  countries: ``RINGFLOW_SMS_ALLOWED_COUNTRIES`` (ISO 3166 codes, e.g. ``US,CA``), or by
  default the country of the business number the text is sent from;
* the recipient's number type must not be premium-rate, shared-cost or unknown
  (``phonenumbers.number_type``): the types whose cost the sender cannot know or that pay
  their owner.

:func:`destination_refusal` says why a text must not go, or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

__all__ = ["REFUSED_TYPES", "destination_refusal", "known_country"]

REFUSED_TYPES: Final[Mapping[int, str]] = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.UNKNOWN: "unknown-type",
}
"""The number types no text goes to, with the words an error uses for them."""

COUNTRIES_SETTING: Final = "RINGFLOW_SMS_ALLOWED_COUNTRIES"


def known_country(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 alpha-2 region libphonenumber has numbers for."""
    return code in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=8192)
def _region_and_type(number: str) -> tuple[str | None, int]:
    """The number's region (None for a short code, a sender id or junk) and its type."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None, PhoneNumberType.UNKNOWN
    region = phonenumbers.region_code_for_number(parsed)
    return region, phonenumbers.number_type(parsed)


def destination_refusal(to: str, from_: str, allowed: frozenset[str] | None) -> str | None:
    """Why a text from ``from_`` to ``to`` (E.164) must not be sent, or None.

    ``allowed`` is the set of country codes texts may go to; None means the country of
    ``from_`` (a sender without a country, e.g. a short code, then allows none: set
    ``RINGFLOW_SMS_ALLOWED_COUNTRIES``).
    """
    region, kind = _region_and_type(to)
    refused_kind = REFUSED_TYPES.get(kind)
    if refused_kind is not None:
        return f"refused: {refused_kind} numbers are never texted"
    if allowed is None:
        home, _ = _region_and_type(from_)
        if home is None:
            return (
                "refused: the sending number has no country, so the countries texts may go "
                f"to are unknown: set {COUNTRIES_SETTING}"
            )
        if region != home:
            return (
                f"refused: {region or 'no country'} is not the sending number's country "
                f"({home}); set {COUNTRIES_SETTING} to text other countries"
            )
        return None
    if region not in allowed:
        listed = ",".join(sorted(allowed))
        return f"refused: {region or 'no country'} is not in {COUNTRIES_SETTING} ({listed})"
    return None
