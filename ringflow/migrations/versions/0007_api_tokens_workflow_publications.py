"""api tokens, workflow publications and drafts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, comment="sha256 hex"),
        sa.Column(
            "prefix",
            sa.String(length=12),
            nullable=False,
            comment="first characters, to tell tokens apart",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "workflow_publications",
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False, comment="1, 2, 3... per workflow"),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True, comment="e.g. rolled back to 2"),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_workflow_publications_version_id_workflow_versions"),
        ),
        sa.PrimaryKeyConstraint("workflow_id", "number", name=op.f("pk_workflow_publications")),
    )
    with op.batch_alter_table("workflows") as batch:
        batch.alter_column(
            "version_id",
            existing_type=sa.Integer(),
            nullable=True,
            comment="the published version runs start on; none while only a draft exists",
        )
        batch.add_column(
            sa.Column(
                "draft_version_id",
                sa.Integer(),
                nullable=True,
                comment="the draft an admin is editing, if any",
            )
        )
        batch.create_foreign_key(
            op.f("fk_workflows_draft_version_id_workflow_versions"),
            "workflow_versions",
            ["draft_version_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("workflows") as batch:
        batch.drop_constraint(
            op.f("fk_workflows_draft_version_id_workflow_versions"), type_="foreignkey"
        )
        batch.drop_column("draft_version_id")
        batch.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("workflow_publications")
    op.drop_table("api_tokens")
