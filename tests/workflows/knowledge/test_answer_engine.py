"""The ``answer`` step in the engine with a knowledge base of our own: what it searches for,
in which language, the threshold's edge, the source line, and what the run's facts keep."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import workflow
from workflows.engine import Engine, StepFailed
from workflows.instructions import ChangeConversation
from workflows.knowledge import Hit

HIT = Hit("entry", 7, 70, "How can I cancel?", "Press Cancel.", 0.5, "en")


@dataclass
class Asked:
    """A knowledge base that answers ``HIT`` (with ``score``) and notes what it was asked."""

    score: float = 0.5
    questions: list[tuple[str, str | None]] = field(default_factory=list)

    def search(self, question: str, *, language: str | None = None, limit: int = 5) -> list[Hit]:
        self.questions.append((question, language))
        return [replace(HIT, score=self.score)] if self.score else []


def flow(params: str, language: str = "") -> str:
    defaults = f"defaults: {{language: {language}}}\n" if language else ""
    return f"""
id: faq
trigger: {{event: sms.received}}
{defaults}start: faq
steps:
  faq:
    answer: {params}
    on_unsure: person
  person: {{reply: "A person will answer."}}
"""


def run(
    definition: str, kb: Asked, body: str = "how do I cancel?"
) -> tuple[list[str], dict[str, Any]]:
    turn = Engine().start(
        workflow(definition),
        {"from": "+14155550123", "to": "+15005550001"},
        now=datetime.now(UTC),
        roots={"message": {"body": body}},
        knowledge=kb,
    )
    replies = [
        str(i.values["body"]) for i in turn.instructions if isinstance(i, ChangeConversation)
    ]
    return replies, turn.state.facts


def test_the_message_is_searched_in_the_workflows_language_and_answered_at_the_threshold() -> None:
    kb = Asked(score=0.5)
    replies, facts = run(flow("{threshold: 0.5}", "ko-KR"), kb)
    assert kb.questions == [("how do I cancel?", "ko-KR")]
    assert replies == ["Press Cancel.\n\nSource: How can I cancel?"]
    assert facts["answer"] == {
        "question": "how do I cancel?",
        "kind": "entry",
        "id": 7,
        "source": "How can I cancel?",
        "score": 0.5,
    }


def test_just_under_the_threshold_hands_over_and_keeps_the_best_guess() -> None:
    replies, facts = run(flow("{threshold: 0.51}"), Asked(score=0.5))
    assert replies == ["A person will answer."]
    assert facts["answer"]["unsure"] is True
    assert facts["answer"]["best"]["score"] == 0.5
    assert run(flow("{}"), Asked(score=0))[0] == ["A person will answer."]


def test_the_steps_own_question_language_and_source_line() -> None:
    kb = Asked(score=0.9)
    definition = flow('{question: "cancel {{message.body}}", language: en, source: "({source})"}')
    replies, _ = run(definition, kb, body="plan")
    assert kb.questions == [("cancel plan", "en")]
    assert replies == ["Press Cancel.\n\n(How can I cancel?)"]
    assert run(flow('{source: ""}'), Asked(score=0.9))[0] == ["Press Cancel."]


def test_an_empty_message_is_not_searched() -> None:
    kb = Asked()
    assert run(flow("{}"), kb, body="   ")[0] == ["A person will answer."]
    assert kb.questions == []


def test_a_run_without_a_knowledge_base_fails_loudly() -> None:
    with pytest.raises(StepFailed, match="no knowledge base"):
        Engine().start(
            workflow(flow("{}")),
            {"from": "+14155550123"},
            now=datetime.now(UTC),
            roots={"message": {"body": "hi"}},
        )
