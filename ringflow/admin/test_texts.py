"""Admin API for test text conversations: text a version or draft of an ``sms.received``
workflow as a contact would, and read what it answers (the texts it would send and when, its
notes and conversation changes, the step its run is at), as the console's "Try it" does.

Each text replays the conversation through the SMS channel's own code in a transaction that
is rolled back (:mod:`sms.test_texts`): nothing is sent, no agent sees it, nothing stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ringflow.admin.conversations import EntryOut, entry_out
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, FieldError, not_found
from ringflow.admin.test_calls import In, VersionIn, chosen_version_id
from ringflow.database import Database
from sms.test_texts import TestConversation, TestTexts
from workflows.catalog import WorkflowCatalog, compile_trigger
from workflows.loader import Workflow
from workflows.names import E164
from workflows.phones import InvalidPhoneNumber, normalize_number
from workflows.problems import WorkflowInvalid
from workflows.test_conversations import MAX_MESSAGES, Replayed, TooManyTestMessages
from workflows.triggers import CONVERSATION_OPENED, MESSAGE_RECEIVED, SMS_RECEIVED

TEXT_EVENTS = (SMS_RECEIVED, MESSAGE_RECEIVED, CONVERSATION_OPENED)
"""The triggers a test conversation can start: a text from the contact, and the conversation
events it raises."""
DEFAULT_CONTACT = "+15005550006"
"""Who texts unless the admin says (Twilio's test number)."""
DEFAULT_BUSINESS = "+15005550001"
"""Our number when the workflow names none."""


@dataclass(frozen=True)
class TestTextAdmin:
    """What the test text endpoints need."""

    __test__ = False  # not a pytest test class, whatever its name

    db: Database
    catalog: WorkflowCatalog
    texts: TestTexts


TEST_TEXT_ADMIN = web.AppKey("test_text_admin", TestTextAdmin)


class TestTextIn(VersionIn):
    contact: E164 = Field(default=DEFAULT_CONTACT, alias="from", description="who texts")
    business: E164 | None = Field(
        default=None,
        alias="to",
        description="our number texted (default: the workflow's first, else a test number)",
    )


class TextIn(In):
    body: str = Field(min_length=1, max_length=1600, description="what the contact texts")


class SentOut(BaseModel):
    body: str
    at: datetime
    outcome: str = Field(description="what became of the text, in words")


class ReplayedOut(BaseModel):
    """What a test conversation's workflow did (every channel's test conversations)."""

    timeline: list[EntryOut] = Field(
        description="the conversation as the workflow left it: the contact's messages, those"
        " it would send (a text's status queued; held ones with their due time), notes and"
        " changes; nothing of it was kept or sent"
    )
    path: list[str] = Field(description="the steps the latest run went through, in order")
    step: str | None = Field(description="the step the run is at (the last of its path)")
    run_status: str | None = Field(
        description="waiting (for a reply or later work), completed, failed...; null when no"
        " run started"
    )


class TestTextOut(ReplayedOut):
    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(description="the test conversation's id (tt...)")
    workflow_id: str
    version: str
    contact: str = Field(alias="from")
    business: str = Field(alias="to")
    texts: list[SentOut] = Field(description="what the contact texted, in order")


def _admin(request: web.Request) -> TestTextAdmin:
    return request.config_dict[TEST_TEXT_ADMIN]


def _out(conversation: TestConversation) -> TestTextOut:
    replayed = conversation.replayed
    sent = [
        SentOut(body=text.body, at=text.at, outcome=outcome)
        for text, outcome in zip(conversation.texts, replayed.outcomes, strict=False)
    ]
    return TestTextOut(
        id=conversation.id,
        workflow_id=conversation.workflow_id,
        version=conversation.version,
        contact=conversation.contact,
        business=conversation.business,
        texts=sent,
        **replayed_fields(replayed),
    )


def _conversation(request: web.Request) -> TestConversation:
    conversation_id = request.match_info["conversation_id"]
    found = _admin(request).texts.get(conversation_id)
    if found is None:
        raise not_found(f"test conversation {conversation_id[:64]!r}")
    return found


def _number(raw: str, field: str) -> str:
    """``raw`` as the SMS channel keeps a contact's number; 422 naming ``field`` if it is none."""
    try:
        return normalize_number(raw)
    except InvalidPhoneNumber as error:
        raise ApiProblem(422, str(error), [FieldError(field, str(error))]) from None


# --- shared with the test chats ----------------------------------------------------------


async def conversation_version(
    db: Database, catalog: WorkflowCatalog, body: VersionIn, events: tuple[str, ...]
) -> tuple[int, Workflow]:
    """The version ``body`` names, if it starts on one of ``events`` and can run: 404 when
    it is missing, 422 naming ``body.workflow_id`` (another trigger) or ``body.version`` (it
    names a schedule that is gone)."""
    version_id = await chosen_version_id(db, body)
    workflow = await catalog.version(version_id)
    trigger = workflow.spec.trigger
    if trigger.event not in events:
        expected = " or ".join(events)
        message = f"workflow {body.workflow_id!r} starts on {trigger.event}, not on {expected}"
        raise ApiProblem(422, message, [FieldError("body.workflow_id", message)])
    try:
        compile_trigger(workflow, catalog.schedules.names)
    except WorkflowInvalid as error:
        raise ApiProblem(
            422, f"this version cannot run: {error}", [FieldError("body.version", str(error))]
        ) from None
    return version_id, workflow


def replayed_fields(replayed: Replayed) -> dict[str, Any]:
    """The fields of :class:`ReplayedOut` for ``replayed``."""
    return {
        "timeline": [entry_out(entry) for entry in replayed.timeline],
        "path": list(replayed.path),
        "step": replayed.path[-1] if replayed.path else None,
        "run_status": replayed.run_status,
    }


# --- handlers --------------------------------------------------------------------------


async def start_test_texts(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = await json_body(request, TestTextIn)
    contact = _number(body.contact, "body.from")
    version_id, workflow = await conversation_version(admin.db, admin.catalog, body, TEXT_EVENTS)
    trigger = workflow.spec.trigger
    conversation = admin.texts.start(
        workflow_id=body.workflow_id,
        version=body.version,
        version_id=version_id,
        contact=contact,
        business=body.business or (trigger.to[0] if trigger.to else DEFAULT_BUSINESS),
        trigger=trigger.event,
    )
    return json_answer(_out(conversation), status=201)


async def get_test_texts(request: web.Request) -> web.Response:
    return json_answer(_out(_conversation(request)))


async def send_test_text(request: web.Request) -> web.Response:
    conversation = _conversation(request)
    body = await json_body(request, TextIn)
    try:
        await _admin(request).texts.send(conversation, body.body)
    except TooManyTestMessages as error:
        raise ApiProblem(409, str(error), [FieldError("body.body", str(error))]) from None
    except WorkflowInvalid as error:
        # A schedule the version names was removed since the conversation started.
        raise ApiProblem(409, f"this version cannot run now: {error}") from None
    return json_answer(_out(conversation))


# --- the endpoints ---------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    """The test text endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "test calls"
    return [
        Endpoint(
            "POST",
            "/test-texts",
            start_test_texts,
            "Start a test text conversation with a version or draft of a workflow texts start",
            tag,
            body=Body(model=TestTextIn, description="The workflow, its version, the numbers."),
            answer=TestTextOut,
            status=201,
            errors=(404, 422),
        ),
        Endpoint(
            "GET",
            "/test-texts/{conversation_id}",
            get_test_texts,
            "A test text conversation: what the contact texted and what the workflow answered",
            tag,
            answer=TestTextOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            "/test-texts/{conversation_id}/texts",
            send_test_text,
            "The contact texts: the workflow answers (nothing is sent, nothing is kept)",
            tag,
            body=Body(model=TextIn, description="What the contact texts."),
            answer=TestTextOut,
            errors=(404, 409, 422),
            description=(
                "The whole conversation is replayed through the SMS channel in a transaction"
                f" that is rolled back; a conversation holds {MAX_MESSAGES} texts at most (409)."
            ),
        ),
    ]


def register(api: Api) -> None:
    """Add the test text endpoints to ``api``."""
    api.add(*endpoints())
