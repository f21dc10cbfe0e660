"""Unsigned webhooks: allowed on loopback only, unless RINGFLOW_INSECURE_WEBHOOKS says so."""

from __future__ import annotations

import pytest

from ringflow.webhook_signing import (
    UnsignedWebhooksRefused,
    listens_on_loopback_only,
    unsigned_webhooks_warning,
)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("", False),
        ("192.0.2.10", False),
        ("ivr.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert listens_on_loopback_only(host) is loopback


def test_signed_webhooks_need_no_warning_anywhere() -> None:
    assert unsigned_webhooks_warning(signed=True, host="0.0.0.0", insecure_allowed=False) is None  # noqa: S104


def test_unsigned_on_loopback_is_a_warning() -> None:
    warning = unsigned_webhooks_warning(signed=False, host="127.0.0.1", insecure_allowed=False)
    assert warning == (
        "TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked (listening on 127.0.0.1)"
    )


def test_unsigned_elsewhere_is_refused_unless_allowed() -> None:
    with pytest.raises(UnsignedWebhooksRefused, match="RINGFLOW_INSECURE_WEBHOOKS=true"):
        unsigned_webhooks_warning(signed=False, host="0.0.0.0", insecure_allowed=False)  # noqa: S104
    warning = unsigned_webhooks_warning(signed=False, host="0.0.0.0", insecure_allowed=True)  # noqa: S104
    assert warning is not None
    assert warning.endswith("(listening on 0.0.0.0, RINGFLOW_INSECURE_WEBHOOKS=true)")
