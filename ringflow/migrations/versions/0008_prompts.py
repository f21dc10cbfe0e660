"""prompts and the speech cache

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(length=19), nullable=False, comment="pr_ + 16 hex"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind", sa.String(length=8), nullable=False, comment="audio (uploaded) or speech (text)"
        ),
        sa.Column("text", sa.Text(), nullable=True, comment="speech: what is said"),
        sa.Column("language", sa.String(length=35), nullable=True, comment="speech: e.g. en or ko"),
        sa.Column(
            "voice", sa.String(length=100), nullable=True, comment="speech: the engine's voice id"
        ),
        sa.Column("rate", sa.Integer(), nullable=True, comment="speech: words per minute"),
        sa.Column(
            "digest",
            sa.String(length=64),
            nullable=False,
            comment="sha256 hex of the 8 kHz PCM WAV",
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False, comment="of the 8 kHz PCM WAV"),
        sa.Column(
            "original_format", sa.String(length=8), nullable=False, comment="wav, mp3, ogg or m4a"
        ),
        sa.Column(
            "media_key", sa.String(length=32), nullable=False, comment="32 hex, in the public URL"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('audio', 'speech')", name=op.f("ck_prompts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("media_key", name=op.f("uq_prompts_media_key")),
    )
    op.create_index("ix_prompts_digest", "prompts", ["digest"])
    op.create_table(
        "speech_cache",
        sa.Column(
            "text_digest",
            sa.String(length=64),
            nullable=False,
            comment="sha256 hex of (text, language, voice, rate)",
        ),
        sa.Column(
            "digest", sa.String(length=64), nullable=False, comment="the audio it was spoken as"
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("text_digest", name=op.f("pk_speech_cache")),
    )
    op.create_index("ix_speech_cache_digest", "speech_cache", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_speech_cache_digest", table_name="speech_cache")
    op.drop_table("speech_cache")
    op.drop_index("ix_prompts_digest", table_name="prompts")
    op.drop_table("prompts")
