"""``answer``: answer the customer's question from the knowledge base, or hand over.

The question is the customer's words: on a text channel (SMS, chat) the message the turn
answers (``message.body``) unless ``question`` says otherwise (a template such as
``"{{vars.question}}"``); on a call the step first says ``prompt`` and listens for a spoken
question (speech recognition by the voice channel). The best FAQ entry or document passage
(:mod:`workflows.knowledge.search`, in the step's ``language``, else the workflow's, else any)
answers when its score is at least ``threshold``: on a text channel a reply in the
conversation (on its timeline as automation's, like the ``reply`` step) with the answer and its
source (``source`` with ``{source}`` replaced by the entry's question or the
document's title and section), on a call the answer spoken; then ``next``. Otherwise (nothing
clears the threshold, no question, silence on the call) the run goes to ``on_unsure``, such
as an ``assign`` to a team. Either way ``facts.answer`` records what was found (source, kind,
id, score) or how sure it was.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from workflows.events import DigitsReceived, InputTimedOut, Reply
from workflows.instructions import ChangeConversation, Gather
from workflows.knowledge import Hit
from workflows.names import Language, SpokenText, Voice
from workflows.steps.asking import Question, worded
from workflows.steps.base import (
    CHAT,
    SMS,
    VOICE,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
    UnexpectedReply,
    Wait,
)
from workflows.steps.say import spoken

UNSURE = "unsure"
DEFAULT_THRESHOLD = 0.5
DEFAULT_PROMPT = "Please ask your question after the tone."
DEFAULT_SOURCE = "Source: {source}"
LISTEN_SECONDS = 5
"""Seconds of silence after which a call's question counts as not asked."""

MAX_MESSAGE = 1600
"""The longest message a text channel sends (an SMS of 10 segments)."""

SourceLine = Annotated[str, StringConstraints(max_length=200)]


class AnswerParams(StepParams):
    """``answer: {threshold, language, question, prompt, source, voice}``; all optional."""

    threshold: float = Field(
        default=DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description="the least score (0 to 1, see docs/knowledge.md) an answer needs",
    )
    language: Language | None = Field(
        default=None,
        description="search entries in this language (and those for any); default: the"
        " workflow's language, else every language",
    )
    question: Question | None = Field(
        default=None,
        description="what to look up (a template); default: the customer's message, or on a"
        " call what the caller says",
    )
    prompt: SpokenText = Field(
        default=DEFAULT_PROMPT, description="on a call: what is said before listening"
    )
    voice: Voice | None = None
    source: SourceLine = Field(
        default=DEFAULT_SOURCE,
        description="on a text channel: the line after the answer, `{source}` being the"
        " entry's question or the document's title; empty: no source line",
    )

    @field_validator("source")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        try:
            value.format(source="")
        except (KeyError, IndexError, ValueError):
            raise ValueError("the only placeholder allowed is {source}") from None
        return value


class AnswerKind(StepKind[AnswerParams]):
    name = "answer"
    params = AnswerParams
    channels = frozenset({VOICE, SMS, CHAT})
    outcomes = (UNSURE,)
    waits = True
    reads_knowledge = True
    summary = (
        "Answer the customer's question from the FAQ and documents, or go to `on_unsure`"
        " (hand over to a person)."
    )

    def enter(self, params: AnswerParams, ctx: RunContext) -> StepResult:
        if ctx.channel == VOICE and params.question is None:
            ctx.emit(
                Gather(
                    prompts=(spoken(params.prompt, ctx, voice=params.voice),),
                    timeout=LISTEN_SECONDS,
                    speech=True,
                    language=ctx.language,
                )
            )
            return Wait()
        if params.question is not None:
            question = worded(ctx, params.question)
        else:
            question = str(ctx.lookup("message.body") or "")
        return self._answer(params, ctx, question)

    def resume(self, params: AnswerParams, ctx: RunContext, reply: Reply) -> StepResult:
        if isinstance(reply, InputTimedOut):
            return self._unsure(ctx, "", None)
        if isinstance(reply, DigitsReceived):
            return self._answer(params, ctx, reply.speech)
        raise UnexpectedReply(f"answer got {type(reply).__name__}")

    def _answer(self, params: AnswerParams, ctx: RunContext, question: str) -> StepResult:
        question = question.strip()
        if not question:
            return self._unsure(ctx, question, None)
        if ctx.knowledge is None:
            raise RuntimeError("this channel gives no knowledge base to its runs")
        hits = ctx.knowledge.search(question, language=params.language or ctx.language, limit=1)
        best = hits[0] if hits else None
        if best is None or best.score < params.threshold:
            return self._unsure(ctx, question, best)
        ctx.facts["answer"] = {"question": question[:500], **_found(best)}
        if ctx.channel == VOICE:
            ctx.emit(spoken(best.answer, ctx, voice=params.voice))
        else:
            line = params.source.format(source=best.source) if params.source else ""
            body = f"{best.answer}\n\n{line}" if line else best.answer
            # On the conversation's timeline as automation's reply, sent on its channel.
            ctx.emit(ChangeConversation("reply", {"body": body[:MAX_MESSAGE]}))
        return Next()

    @staticmethod
    def _unsure(ctx: RunContext, question: str, best: Hit | None) -> StepResult:
        ctx.facts["answer"] = {
            "question": question[:500],
            "unsure": True,
            "best": _found(best) if best is not None else None,
        }
        return Next(outcome=UNSURE)


def _found(hit: Hit) -> dict[str, Any]:
    return {"kind": hit.kind, "id": hit.id, "source": hit.source, "score": hit.score}


KIND = AnswerKind()
