"""Admin API for test chats: chat with a version or draft of a ``chat.started`` workflow as a
visitor of the web chat would (its greeting, its answer buttons, a hand-over to a person),
and read what it answers, as the console's "Try it" does.

Each message replays the chat through the chat channel's own code in a transaction that is
rolled back (:mod:`chat.test_chats`): no widget, inbox or table ever holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from chat.service import VisitorError
from chat.test_chats import TestChat, TestChats
from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, FieldError, not_found
from ringflow.admin.test_calls import In, VersionIn
from ringflow.admin.test_texts import ReplayedOut, conversation_version, replayed_fields
from ringflow.database import Database
from workflows.catalog import WorkflowCatalog
from workflows.problems import WorkflowInvalid
from workflows.test_conversations import MAX_MESSAGES, TooManyTestMessages
from workflows.triggers import CHAT_STARTED


@dataclass(frozen=True)
class TestChatAdmin:
    """What the test chat endpoints need (``chats`` None: the server has no web chat)."""

    __test__ = False  # not a pytest test class, whatever its name

    db: Database
    catalog: WorkflowCatalog
    chats: TestChats | None


TEST_CHAT_ADMIN = web.AppKey("test_chat_admin", TestChatAdmin)


class MessageIn(In):
    text: str = Field(
        min_length=1, max_length=4000, description="what the visitor writes (a button's label)"
    )
    choice: str | None = Field(
        default=None, max_length=8, description="the key of the answer button tapped, if one was"
    )


class WrittenOut(BaseModel):
    text: str
    choice: str | None
    at: datetime
    outcome: str = Field(description="what became of the message, in words")


class TestChatOut(ReplayedOut):
    id: str = Field(description="the test chat's id (tc...)")
    workflow_id: str
    version: str
    visitor: str = Field(description="the test visitor's contact key (chat:test...)")
    greeting: str = Field(description="what became of the chat.started event, in words")
    messages: list[WrittenOut] = Field(description="what the visitor wrote, in order")


def _admin(request: web.Request) -> TestChatAdmin:
    return request.config_dict[TEST_CHAT_ADMIN]


def _chats(admin: TestChatAdmin) -> TestChats:
    if admin.chats is None:
        raise ApiProblem(503, "this server has no web chat")
    return admin.chats


def _out(chat: TestChat) -> TestChatOut:
    replayed = chat.replayed
    written = [
        WrittenOut(text=message.text, choice=message.choice, at=message.at, outcome=outcome)
        for message, outcome in zip(chat.messages, replayed.outcomes, strict=False)
    ]
    return TestChatOut(
        id=chat.id,
        workflow_id=chat.workflow_id,
        version=chat.version,
        visitor=f"chat:{chat.visitor}",
        greeting=chat.greeting,
        messages=written,
        **replayed_fields(replayed),
    )


def _chat(request: web.Request) -> TestChat:
    chat_id = request.match_info["chat_id"]
    found = _chats(_admin(request)).get(chat_id)
    if found is None:
        raise not_found(f"test chat {chat_id[:64]!r}")
    return found


# --- handlers --------------------------------------------------------------------------


async def start_test_chat(request: web.Request) -> web.Response:
    admin = _admin(request)
    chats = _chats(admin)
    body = await json_body(request, VersionIn)
    version_id, _workflow = await conversation_version(
        admin.db, admin.catalog, body, (CHAT_STARTED,)
    )
    chat = await chats.start(
        workflow_id=body.workflow_id, version=body.version, version_id=version_id
    )
    return json_answer(_out(chat), status=201)


async def get_test_chat(request: web.Request) -> web.Response:
    return json_answer(_out(_chat(request)))


async def send_test_chat_message(request: web.Request) -> web.Response:
    chat = _chat(request)
    body = await json_body(request, MessageIn)
    try:
        await _chats(_admin(request)).send(chat, body.text, body.choice)
    except TooManyTestMessages as error:
        raise ApiProblem(409, str(error), [FieldError("body.text", str(error))]) from None
    except VisitorError as error:
        field = "body.choice" if error.code == "bad_choice" else "body.text"
        raise ApiProblem(422, str(error), [FieldError(field, str(error))]) from None
    except WorkflowInvalid as error:
        # A schedule the version names was removed since the chat started.
        raise ApiProblem(409, f"this version cannot run now: {error}") from None
    return json_answer(_out(chat))


# --- the endpoints ---------------------------------------------------------------------


def endpoints() -> list[Endpoint]:
    """The test chat endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "test calls"
    return [
        Endpoint(
            "POST",
            "/test-chats",
            start_test_chat,
            "Start a test chat with a version or draft of a chat.started workflow",
            tag,
            body=Body(model=VersionIn, description="The workflow and its version."),
            answer=TestChatOut,
            status=201,
            errors=(404, 422, 503),
            description="The test visitor arrives and the version greets them.",
        ),
        Endpoint(
            "GET",
            "/test-chats/{chat_id}",
            get_test_chat,
            "A test chat: what the visitor wrote and what the workflow answered",
            tag,
            answer=TestChatOut,
            errors=(404, 503),
        ),
        Endpoint(
            "POST",
            "/test-chats/{chat_id}/messages",
            send_test_chat_message,
            "The visitor writes or taps an answer: the workflow answers (nothing is kept)",
            tag,
            body=Body(model=MessageIn, description="What the visitor writes or taps."),
            answer=TestChatOut,
            errors=(404, 409, 422, 503),
            description=(
                "The whole chat is replayed through the chat channel in a transaction that is"
                f" rolled back; a chat holds {MAX_MESSAGES} messages at most (409)."
            ),
        ),
    ]


def register(api: Api) -> None:
    """Add the test chat endpoints to ``api``."""
    api.add(*endpoints())
