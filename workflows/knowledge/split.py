"""Documents into passages: the pieces a search finds and an answer quotes.

A Markdown document is cut at its headings (``#`` to ``######``, outside fenced code); each
section's paragraphs (separated by blank lines) are gathered into passages of at most
:data:`MAX_PASSAGE` characters, never splitting a paragraph that fits. A longer paragraph is
cut between sentences, and a sentence longer than that at the last space before the limit
(or at the limit). Every passage knows its section's heading path ("Billing / Refunds"). A
plain-text document has no headings: only paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

MAX_PASSAGE = 1000
"""The most characters a passage holds: long enough for an answer with its context, short
enough to be read out on a call or sent in a few texts."""
MAX_HEADING = 300

Format = Literal["markdown", "text"]

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=다\.)\s*|(?<=요\.)\s*")


@dataclass(frozen=True, slots=True)
class Passage:
    """One piece of a document: its section's ``heading`` path (None before any) and text."""

    heading: str | None
    text: str


def split(content: str, format: Format = "markdown") -> list[Passage]:
    """The passages of ``content`` (see the module docstring); none for blank content."""
    passages: list[Passage] = []
    for heading, paragraphs in _sections(content, format):
        passages.extend(Passage(heading, text) for text in _packed(paragraphs))
    return passages


def _sections(content: str, format: Format) -> Iterator[tuple[str | None, list[str]]]:
    """(heading path, paragraphs) of each section, in order."""
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    lines: list[str] = []
    fenced = False

    def heading() -> str | None:
        return " / ".join(title for _, title in path)[:MAX_HEADING] or None

    def end_paragraph() -> None:
        text = "\n".join(lines).strip()
        lines.clear()
        if text:
            paragraphs.append(text)

    for line in content.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if format == "markdown" and _FENCE.match(line.strip()):
            fenced = not fenced
        found = _HEADING.match(line) if format == "markdown" and not fenced else None
        if found:
            end_paragraph()
            if paragraphs:
                yield heading(), paragraphs
                paragraphs = []
            level = len(found.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, found.group(2).strip()))
        elif not line.strip() and not fenced:
            end_paragraph()
        else:
            lines.append(line.rstrip())
    end_paragraph()
    if paragraphs:
        yield heading(), paragraphs


def _packed(paragraphs: list[str]) -> Iterator[str]:
    """Paragraphs gathered into passages of at most :data:`MAX_PASSAGE` characters."""
    current = ""
    for paragraph in paragraphs:
        for piece in _fitting(paragraph):
            if current and len(current) + 2 + len(piece) > MAX_PASSAGE:
                yield current
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        yield current


def _fitting(paragraph: str) -> Iterator[str]:
    """``paragraph`` in pieces of at most :data:`MAX_PASSAGE` characters, cut between
    sentences where it can be."""
    if len(paragraph) <= MAX_PASSAGE:
        yield paragraph
        return
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(paragraph) if s.strip()):
        for piece in _cut(sentence.strip()):
            if current and len(current) + 1 + len(piece) > MAX_PASSAGE:
                yield current
                current = ""
            current = f"{current} {piece}" if current else piece
    if current:
        yield current


def _cut(sentence: str) -> Iterator[str]:
    """A sentence longer than :data:`MAX_PASSAGE` cut at spaces (or hard at the limit)."""
    while len(sentence) > MAX_PASSAGE:
        space = sentence.rfind(" ", 0, MAX_PASSAGE + 1)
        at = space if space > MAX_PASSAGE // 2 else MAX_PASSAGE
        yield sentence[:at].rstrip()
        sentence = sentence[at:].lstrip()
    if sentence:
        yield sentence
