"""What the admin API's areas work with (each area's state under its key) and the
gatekeeper that checks its tokens, once the database and the catalog are open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import timedelta
from functools import partial

from aiohttp import web

from chat.routes import CHAT
from chat.test_chats import TestChats
from ivr.recordings import recording_fetcher
from ivr.test_calls import TestCallPhone
from prompts.routes import PROMPT_SERVICE
from prompts.service import PromptService, media_path, prompts_among
from ringflow.admin import (
    calls,
    contacts,
    events,
    jobs,
    messages,
    prompts,
    schedules,
    test_calls,
    test_chats,
    test_texts,
    webhooks,
    workflows,
)
from ringflow.admin.app import API_APP, GATEKEEPER
from ringflow.admin.auth import Gatekeeper
from ringflow.admin.context import PEOPLE_ADMIN, PeopleAdmin
from ringflow.browser_sessions import BROWSER_SESSIONS
from ringflow.client_address import ClientAddress
from ringflow.database import Database
from ringflow.outbound import OutboundPolicy
from ringflow.resources.catalog import CATALOG
from ringflow.resources.conversation_channels import conversation_channels, run_channels
from ringflow.resources.database import DATABASE
from ringflow.resources.inputs import CLOCK, SETTINGS
from ringflow.resources.sessions import SESSIONS
from ringflow.resources.voice import TEST_CALL_VERSIONS
from sms.reply_limits import ReplyLimit
from sms.test_texts import TestTexts
from sms.workflow_jobs import InboundTextHandler
from workflows.automations.handlers import ConversationEventHandler
from workflows.versions import published_using


async def _published_using(db: Database, prompt_id: str) -> list[str]:
    return await db.read(lambda conn: published_using(conn, prompt_id))


async def _existing_prompts(db: Database, ids: Collection[str]) -> set[str]:
    return await db.read(lambda conn: prompts_among(conn, ids))


async def _spoken_path(service: PromptService, text: str, language: str) -> str | None:
    """Where ``text`` spoken by the server's voice is (synthesised now if it was not)."""
    return media_path((await service.spoken(text, language)).media_key, "wav")


async def admin(app: web.Application) -> AsyncIterator[None]:
    """Each admin area's state, and ``app[API_APP][GATEKEEPER]``; at close, the test calls
    still in progress are hung up and the recordings' HTTP session is closed."""
    settings, db, catalog, clock = app[SETTINGS], app[DATABASE], app[CATALOG], app[CLOCK]
    app[prompts.PROMPT_ADMIN] = prompts.PromptAdmin(
        app[PROMPT_SERVICE], partial(_published_using, db), settings.data_dir / "uploads"
    )
    app[workflows.WORKFLOW_ADMIN] = workflows.WorkflowAdmin(
        db, catalog, clock, partial(_existing_prompts, db)
    )
    app[contacts.CONTACT_ADMIN] = contacts.ContactAdmin(db, clock)
    fetcher = recording_fetcher(settings)
    app[calls.CALL_ADMIN] = calls.CallAdmin(db, fetcher)
    app[messages.SMS_ADMIN] = messages.SmsAdmin(db, clock)
    app[schedules.SCHEDULE_ADMIN] = schedules.ScheduleAdmin(db, catalog, clock)
    app[jobs.JOB_ADMIN] = jobs.JobAdmin(db, clock)
    app[PEOPLE_ADMIN] = PeopleAdmin(
        db,
        clock,
        conversation_channels(),
        lambda: catalog.schedules.names,
        timedelta(hours=settings.conversation_reopen_hours),
        chat.typing.agent_typing if (chat := app.get(CHAT)) is not None else None,
    )
    app[events.EVENT_ADMIN] = events.EventAdmin(db, clock, catalog, tuple(run_channels()))
    app[webhooks.WEBHOOK_ADMIN] = webhooks.WebhookAdmin(
        db, clock, OutboundPolicy(None, settings.outbound_allowed_networks)
    )
    phone = TestCallPhone(
        app[TEST_CALL_VERSIONS],
        auth_token=settings.auth_token,
        public_url=settings.public_url,
        speaker=partial(_spoken_path, app[PROMPT_SERVICE]),
    )
    app[test_calls.TEST_CALL_ADMIN] = test_calls.TestCallAdmin(db, catalog, phone)
    handler = InboundTextHandler(
        db, app[SESSIONS], clock, reply_limit=ReplyLimit.from_settings(settings)
    )
    automations = ConversationEventHandler(db, app[SESSIONS], catalog, run_channels(), clock)
    texts = TestTexts(db, handler, automations, conversation_channels(), settings, clock)
    app[test_texts.TEST_TEXT_ADMIN] = test_texts.TestTextAdmin(db, catalog, texts)
    chats = (
        TestChats(db, chat.service, conversation_channels(), clock)
        if (chat := app.get(CHAT)) is not None
        else None
    )
    app[test_chats.TEST_CHAT_ADMIN] = test_chats.TestChatAdmin(db, catalog, chats)
    app[API_APP][GATEKEEPER] = Gatekeeper(
        db,
        settings.admin_api_token,
        clients=ClientAddress(settings.trusted_proxies),
        sessions=app.get(BROWSER_SESSIONS),
    )
    try:
        yield
    finally:
        try:
            await phone.close()
        finally:
            if fetcher is not None:
                await fetcher.close()
