"""prompt audio stored in the database (any instance serves any prompt)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Prompts made before this revision have their audio only in the data dir of the instance that
made them: that instance copies it into these tables when it starts
(``PromptService.adopt_cached_files``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_audio",
        sa.Column(
            "digest",
            sa.String(length=64),
            nullable=False,
            comment="sha256 hex of the 8 kHz PCM WAV",
        ),
        sa.Column("wav_bytes", sa.Integer(), nullable=False),
        sa.Column("wav_sha256", sa.String(length=64), nullable=False, comment="equals digest"),
        sa.Column("ulaw_bytes", sa.Integer(), nullable=False),
        sa.Column("ulaw_sha256", sa.String(length=64), nullable=False, comment="of the mu-law WAV"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_prompt_audio")),
    )
    op.create_table(
        "prompt_audio_chunks",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=4), nullable=False, comment="wav or ulaw"),
        sa.Column("seq", sa.Integer(), nullable=False, comment="0, 1, ... in file order"),
        sa.Column(
            "data",
            sa.LargeBinary(),
            nullable=False,
            comment="at most prompts.blobs.CHUNK_BYTES",
        ),
        sa.CheckConstraint("format IN ('wav', 'ulaw')", name=op.f("ck_prompt_audio_chunks_format")),
        sa.PrimaryKeyConstraint("digest", "format", "seq", name=op.f("pk_prompt_audio_chunks")),
    )


def downgrade() -> None:
    op.drop_table("prompt_audio_chunks")
    op.drop_table("prompt_audio")
