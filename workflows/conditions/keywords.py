"""``keywords``: the message text contains one of the words or phrases."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field, StrictStr, StringConstraints, field_validator

from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    _Compiler,
    _leaf,
    _many,
)
from workflows.problems import Path

Keyword = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]

if TYPE_CHECKING:
    Keywords = tuple[str, ...]
else:
    Keywords = _many(Keyword)


class KeywordsFilter(FilterModel):
    kind_name: ClassVar[str] = "keywords"
    keywords: Keywords = Field(description="the message contains one of these words or phrases")

    @field_validator("keywords")
    @classmethod
    def _not_blank(cls, keywords: tuple[str, ...]) -> tuple[str, ...]:
        if any(not normalize_text(keyword) for keyword in keywords):
            raise ValueError("a keyword cannot be blank")
        return keywords


_UNSPACED_SCRIPTS = (
    "CJK",
    "HANGUL",
    "HIRAGANA",
    "KATAKANA",
    "HALFWIDTH",
    "BOPOMOFO",
    "THAI",
    "LAO",
    "KHMER",
    "MYANMAR",
    "TIBETAN",
    "YI ",
)


def normalize_text(text: str) -> str:
    """``text`` in NFKC, case-folded, with every run of whitespace made one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS)


def keyword_matcher(keywords: Collection[str]) -> Callable[[str], bool]:
    """A test of whether a text contains one of ``keywords`` (see ``docs/filters.md``).

    Keywords written only in scripts that separate words with spaces (Latin, Cyrillic...)
    match whole words or phrases; keywords with a character of a script without reliable
    word boundaries (Korean, Japanese, Chinese, Thai...) match anywhere in the text.
    """
    words = [normalize_text(keyword) for keyword in keywords]
    spaced = [word for word in words if not any(map(_unspaced, word))]
    parts = tuple(word for word in words if any(map(_unspaced, word)))
    pattern = (
        re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, spaced)) + r")(?!\w)")
        if spaced
        else None
    )

    def matches(text: str) -> bool:
        normal = normalize_text(text)
        if pattern is not None and pattern.search(normal):
            return True
        return any(part in normal for part in parts)

    return matches


def _compile_keywords(spec: KeywordsFilter, path: Path, compiler: _Compiler) -> Check:
    matches = keyword_matcher(spec.keywords)

    def check_keywords(ctx: FilterContext) -> bool:
        return ctx.text is not None and matches(ctx.text)

    return check_keywords


def _why_not_keywords(spec: KeywordsFilter, ctx: FilterContext) -> str:
    if ctx.text is None:
        return "there is no message text"
    return f"the text has none of {', '.join(spec.keywords)}"


KIND = FilterKind(
    "keywords",
    KeywordsFilter,
    _compile_keywords,
    _leaf(_compile_keywords, _why_not_keywords),
    "the message text contains one of the words or phrases",
)
