"""the call log takes PBX calls too: its column comments say so (no data changes)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_SID = "the channel's call id: the voice provider's CallSid, or ami-<Linkedid>"
_STATUS = "latest status, in the voice provider's words (ringing, in-progress...)"


def _comment(sid: str, status: str) -> None:
    # SQLite keeps no column comments (and would copy the whole table for a batch alter).
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column("calls", "sid", existing_type=sa.String(64), comment=sid)
    op.alter_column("calls", "status", existing_type=sa.String(16), comment=status)


def upgrade() -> None:
    _comment(_SID, _STATUS)


def downgrade() -> None:
    _comment("Twilio CallSid", "latest Twilio CallStatus")
