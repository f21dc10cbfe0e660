"""The ``prompts`` table (one row per prompt an admin made) and ``speech_cache`` (which audio
a text was already spoken as).

A prompt's audio is a file named by ``digest`` (see :mod:`prompts.store`); several prompts
may share one. ``media_key`` is the unguessable part of the prompt's public URL
(``/media/prompts/<media_key>.wav``): Twilio fetches it without a token, so it is 128 random
bits, and it changes whenever the prompt's audio does, because the URL is served as immutable.

``speech_cache`` maps the sha256 of (text, language, voice, rate) to the digest of the audio
it was spoken as, so the same text is synthesised once. A row lives as long as some prompt
uses its digest.

``prompt_audio`` and ``prompt_audio_chunks`` hold the audio itself, once per digest (see
:mod:`prompts.blobs`): the database is where every server process finds it, the data dir's
``prompts`` folder only a cache.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ringflow.database import metadata

__all__ = ["PROMPT_KINDS", "prompt_audio", "prompt_audio_chunks", "prompts", "speech_cache"]

PROMPT_KINDS = ("audio", "speech")

prompts = Table(
    "prompts",
    metadata,
    Column("id", String(19), primary_key=True, comment="pr_ + 16 hex"),
    Column("name", String(200), nullable=False),
    Column("kind", String(8), nullable=False, comment="audio (uploaded) or speech (text)"),
    Column("text", Text, nullable=True, comment="speech: what is said"),
    Column("language", String(35), nullable=True, comment="speech: e.g. en or ko"),
    Column("voice", String(100), nullable=True, comment="speech: the engine's voice id"),
    Column("rate", Integer, nullable=True, comment="speech: words per minute"),
    Column("digest", String(64), nullable=False, comment="sha256 hex of the 8 kHz PCM WAV"),
    Column("duration_ms", Integer, nullable=False),
    Column("size_bytes", Integer, nullable=False, comment="of the 8 kHz PCM WAV"),
    Column("original_format", String(8), nullable=False, comment="wav, mp3, ogg or m4a"),
    Column("media_key", String(32), nullable=False, comment="32 hex, in the public URL"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("media_key"),
    CheckConstraint("kind IN ('audio', 'speech')", name="kind"),
    Index("ix_prompts_digest", "digest"),
)

speech_cache = Table(
    "speech_cache",
    metadata,
    Column(
        "text_digest",
        String(64),
        primary_key=True,
        comment="sha256 hex of (text, language, voice, rate)",
    ),
    Column("digest", String(64), nullable=False, comment="the audio it was spoken as"),
    Column("duration_ms", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_speech_cache_digest", "digest"),
)

prompt_audio = Table(
    "prompt_audio",
    metadata,
    Column("digest", String(64), primary_key=True, comment="sha256 hex of the 8 kHz PCM WAV"),
    Column("wav_bytes", Integer, nullable=False),
    Column("wav_sha256", String(64), nullable=False, comment="equals digest"),
    Column("ulaw_bytes", Integer, nullable=False),
    Column("ulaw_sha256", String(64), nullable=False, comment="of the mu-law WAV"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

prompt_audio_chunks = Table(
    "prompt_audio_chunks",
    metadata,
    Column("digest", String(64), nullable=False),
    Column("format", String(4), nullable=False, comment="wav or ulaw"),
    Column("seq", Integer, nullable=False, comment="0, 1, ... in file order"),
    Column("data", LargeBinary, nullable=False, comment="at most prompts.blobs.CHUNK_BYTES"),
    PrimaryKeyConstraint("digest", "format", "seq"),
    CheckConstraint("format IN ('wav', 'ulaw')", name="format"),
)
