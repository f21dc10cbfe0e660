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

import functools
import hashlib
import re
import unicodedata
from collections import Counter

__all__ = ["STOPWORDS", "gram_counts", "grams", "token", "tokens_text"]

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


_DENSE = (
    "\uac00-\ud7a3"  # Hangul syllables
    "\u1100-\u11ff"  # Hangul jamo
    "\u3130-\u318f"  # Hangul compatibility jamo
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
)
"""Scripts written without spaces between words, or whose words are one or two syllables."""
_PIECE = re.compile(f"([{_DENSE}]+)|([^\\W_{_DENSE}]+)")
"""A run of a dense script (group 1), or of other letters and digits (group 2): "tv시청"
gives "tv" then "시청"."""


def grams(text: str) -> list[str]:
    """The grams of ``text``, in order, repeats kept (see the module docstring)."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for match in _PIECE.finditer(normal):
        dense, word = match.groups()
        if dense is not None:
            if len(dense) == 1:
                out.append(dense)
            else:
                out.extend([dense[i : i + 2] for i in range(len(dense) - 1)])
        elif word in STOPWORDS:
            continue
        elif len(word) < 4:
            out.append(word)
        else:
            out.extend([word[i : i + 3] for i in range(len(word) - 2)])
    return out


def gram_counts(text: str) -> Counter[str]:
    """How often each gram of ``text`` occurs."""
    return Counter(grams(text))


@functools.lru_cache(maxsize=65536)
def token(gram: str) -> str:
    """The ASCII word a gram is indexed as: ``k`` and 15 letters a-p from a BLAKE2 hash (60
    bits: a collision only adds a candidate, which the scoring then judges on the real
    grams)."""
    digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).hexdigest()[:15]
    return "k" + digest.translate(_AS_LETTERS)


def tokens_text(text: str) -> str:
    """The index text of ``text``: its distinct grams' tokens, space separated."""
    return " ".join(sorted({token(g) for g in set(grams(text))}))
