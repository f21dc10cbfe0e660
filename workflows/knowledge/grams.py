"""Words into search grams: what the knowledge base indexes and a question is matched by.

The same function cuts stored text and a customer's question, so the search does not depend on
a database's own tokeniser or locale (PostgreSQL's parser and ``pg_trgm`` decide what a
"word character" is by the server's locale, and FTS5's ``trigram`` tokenizer cannot match a
two-syllable Korean word):

- text is normalised (NFKC, lower case) and cut into runs of letters and digits;
- a run of Hangul, kana or CJK ideographs (no spaces inside words to rely on) gives its
  character **bigrams** ("구독을" -> "구독", "독을"; a single character stands alone), so
  "구독 해지" is found inside "구독을 해지하고 싶어요" whatever the particles around it;
- any other word (Latin, Cyrillic, digits...) of four characters or more gives its character
  **trigrams** ("cancel" -> "can", "anc", "nce", "cel"), so "cancel" matches "cancellation"
  and "cancelled"; a shorter word stands whole; common English function words ("how", "do",
  "my"...) are left out.

:func:`token` turns a gram into the opaque ASCII word the databases index (SQLite FTS5 with its
default tokenizer, PostgreSQL ``to_tsvector('simple', ...)``): lower-case letters only, so
neither parser can split, stem or drop it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

__all__ = ["STOPWORDS", "gram_counts", "grams", "token", "tokens_text"]

_RUN = re.compile(r"[^\W_]+")
_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "do",
        "does",
        "did",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "this",
        "to",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "hi",
        "hello",
        "want",
        "like",
        "need",
    ]
)
"""English function words a question is full of and an answer is not found by."""


def _dense(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces between words (or whose
    words are one or two syllables): Hangul, kana, CJK ideographs."""
    code = ord(char)
    return (
        0xAC00 <= code <= 0xD7A3  # Hangul syllables
        or 0x1100 <= code <= 0x11FF  # Hangul jamo
        or 0x3130 <= code <= 0x318F  # Hangul compatibility jamo
        or 0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
    )


def _pieces(run: str) -> Iterable[tuple[bool, str]]:
    """``run`` split where it changes between dense and spaced scripts ("tv시청" -> tv, 시청)."""
    start = 0
    for index in range(1, len(run) + 1):
        if index == len(run) or _dense(run[index]) != _dense(run[start]):
            yield _dense(run[start]), run[start:index]
            start = index


def grams(text: str) -> list[str]:
    """The grams of ``text``, in order, repeats kept (see the module docstring)."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for match in _RUN.finditer(normal):
        for dense, piece in _pieces(match.group()):
            if dense:
                if len(piece) == 1:
                    out.append(piece)
                else:
                    out.extend(piece[i : i + 2] for i in range(len(piece) - 1))
            elif piece in STOPWORDS:
                continue
            elif len(piece) < 4:
                out.append(piece)
            else:
                out.extend(piece[i : i + 3] for i in range(len(piece) - 2))
    return out


def gram_counts(text: str) -> Counter[str]:
    """How often each gram of ``text`` occurs."""
    return Counter(grams(text))


def token(gram: str) -> str:
    """The ASCII word a gram is indexed as: ``k`` and 15 letters a-p from a BLAKE2 hash (60
    bits: a collision only adds a candidate, which the scoring then judges on the real
    grams)."""
    digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).hexdigest()[:15]
    return "k" + digest.translate(_AS_LETTERS)


def tokens_text(text: str) -> str:
    """The index text of ``text``: its distinct grams' tokens, space separated."""
    return " ".join(sorted({token(g) for g in grams(text)}))
