"""Imports every package's tables so that the shared metadata (and Alembic) sees them all."""

from __future__ import annotations

import chat.db
import ivr.db
import prompts.db
import ringflow.admin.db
import ringflow.browser_sessions
import sms.db
import workflows.contacts_db
import workflows.conversations.db
import workflows.db
import workflows.jobs.db
import workflows.people.db
import workflows.schedules.db

TABLE_MODULES = (
    workflows.db,
    workflows.jobs.db,
    ivr.db,
    workflows.contacts_db,
    sms.db,
    workflows.schedules.db,
    ringflow.admin.db,
    prompts.db,
    workflows.people.db,
    workflows.conversations.db,
    chat.db,
    ringflow.browser_sessions,
)
