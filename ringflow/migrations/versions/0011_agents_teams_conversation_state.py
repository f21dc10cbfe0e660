"""agents, teams, conversation state and timeline, agent tokens

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False, comment="handle, used in paths"),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column(
            "endpoints",
            sa.JSON(),
            nullable=False,
            comment='where voice reaches the agent: [{"kind": "phone|sip|client", "address"}]',
        ),
        sa.Column(
            "languages", sa.JSON(), nullable=False, comment="language tags, e.g. ['en', 'ko']"
        ),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="available, away or offline"
        ),
        sa.Column(
            "max_open", sa.Integer(), nullable=False, comment="most open conversations at once"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('available', 'away', 'offline')", name=op.f("ck_agents_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "strategy", sa.String(length=16), nullable=False, comment="round_robin or least_busy"
        ),
        sa.Column(
            "schedule",
            sa.String(length=64),
            nullable=True,
            comment="the named business-hours schedule",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "strategy IN ('round_robin', 'least_busy')", name=op.f("ck_teams_strategy")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_team_members_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "agent_id", name=op.f("pk_team_members")),
    )
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("uq_conversations_business_number_contact_number", type_="unique")
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="sms")
        )
        batch.add_column(
            sa.Column(
                "latest",
                sa.Boolean(),
                nullable=False,
                server_default=sa.true(),
                comment="of its thread",
            )
        )
        batch.add_column(
            sa.Column("status", sa.String(length=8), nullable=False, server_default="open")
        )
        batch.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("priority", sa.String(length=8), nullable=False, server_default="normal")
        )
        batch.add_column(sa.Column("assignee_agent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assignee_team_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("last_customer_message_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_agent_message_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "state_version",
                sa.Integer(),
                nullable=False,
                server_default=sa.text("0"),
                comment="changes of status or assignee so far",
            )
        )
        batch.create_check_constraint("status", "status IN ('open', 'snoozed', 'closed')")
        batch.create_check_constraint("priority", "priority IN ('urgent', 'high', 'normal', 'low')")
        batch.create_foreign_key(
            "fk_conversations_assignee_agent_id_agents",
            "agents",
            ["assignee_agent_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_foreign_key(
            "fk_conversations_assignee_team_id_teams",
            "teams",
            ["assignee_team_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(
        "uq_conversations_latest_thread",
        "conversations",
        ["channel", "business_number", "contact_number"],
        unique=True,
        sqlite_where=sa.text("latest"),
        postgresql_where=sa.text("latest"),
    )
    op.create_index(
        "ix_conversations_status_last_message_at", "conversations", ["status", "last_message_at"]
    )
    op.create_index("ix_conversations_assignee_agent_id", "conversations", ["assignee_agent_id"])
    op.create_index("ix_conversations_assignee_team_id", "conversations", ["assignee_team_id"])
    op.create_table(
        "conversation_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=32),
            nullable=False,
            comment="what happened, e.g. assigned, closed",
        ),
        sa.Column(
            "actor_type",
            sa.String(length=16),
            nullable=False,
            comment="contact, agent, admin, automation",
        ),
        sa.Column(
            "actor_agent_id", sa.Integer(), nullable=True, comment="the agent, when one acted"
        ),
        sa.Column(
            "actor_name",
            sa.String(length=64),
            nullable=True,
            comment="the agent's or token's name",
        ),
        sa.Column(
            "data", sa.JSON(), nullable=False, comment="the change: new values, a note's text..."
        ),
        sa.Column(
            "message_id",
            sa.BigInteger(),
            nullable=True,
            comment="the channel's message, if any",
        ),
        sa.Column("body", sa.Text(), nullable=True, comment="a note's or a message's text"),
        sa.CheckConstraint(
            "actor_type IN ('contact', 'agent', 'admin', 'automation')",
            name=op.f("ck_conversation_events_actor_type"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_events_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_events")),
    )
    op.create_index(
        "ix_conversation_events_conversation_id_id",
        "conversation_events",
        ["conversation_id", "id"],
    )
    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_tags_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name=op.f("pk_conversation_tags")),
    )
    op.create_index("ix_conversation_tags_tag", "conversation_tags", ["tag"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=8), nullable=False, server_default="admin")
        )
        batch.add_column(
            sa.Column(
                "agent_id",
                sa.Integer(),
                nullable=True,
                comment="the agent an agent token acts as",
            )
        )
        batch.create_check_constraint("role", "role IN ('admin', 'agent')")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(op.f("ck_api_tokens_role"), type_="check")
        batch.drop_column("agent_id")
        batch.drop_column("role")
    op.drop_index("ix_conversation_tags_tag", table_name="conversation_tags")
    op.drop_table("conversation_tags")
    op.drop_index("ix_conversation_events_conversation_id_id", table_name="conversation_events")
    op.drop_table("conversation_events")
    op.drop_index("ix_conversations_assignee_team_id", table_name="conversations")
    op.drop_index("ix_conversations_assignee_agent_id", table_name="conversations")
    op.drop_index("ix_conversations_status_last_message_at", table_name="conversations")
    op.drop_index("uq_conversations_latest_thread", table_name="conversations")
    # Older threads than the latest cannot fit the old one-per-thread constraint.
    op.execute("DELETE FROM conversations WHERE NOT latest")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_assignee_team_id_teams", type_="foreignkey")
        batch.drop_constraint("fk_conversations_assignee_agent_id_agents", type_="foreignkey")
        batch.drop_constraint(op.f("ck_conversations_priority"), type_="check")
        batch.drop_constraint(op.f("ck_conversations_status"), type_="check")
        for column in (
            "state_version",
            "last_agent_message_at",
            "last_customer_message_at",
            "first_response_at",
            "assignee_team_id",
            "assignee_agent_id",
            "priority",
            "closed_at",
            "snoozed_until",
            "status",
            "latest",
            "channel",
        ):
            batch.drop_column(column)
        batch.create_unique_constraint(
            "uq_conversations_business_number_contact_number",
            ["business_number", "contact_number"],
        )
    op.drop_table("team_members")
    op.drop_table("teams")
    op.drop_table("agents")
