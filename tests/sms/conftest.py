"""Fixtures of the SMS tests: a local Twilio Messages API and a provider pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sms.twilio_provider import TwilioSmsProvider
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, TwilioApiStub


@pytest.fixture
async def stub() -> AsyncIterator[TwilioApiStub]:
    """Twilio's Messages API on a loopback port."""
    async with TwilioApiStub() as running:
        yield running


@pytest.fixture
async def provider(stub: TwilioApiStub) -> AsyncIterator[TwilioSmsProvider]:
    """A Twilio provider sending to the stub."""
    sender = TwilioSmsProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=stub.base_url, timeout=5)
    yield sender
    await sender.close()
