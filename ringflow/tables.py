"""Imports every package's tables so that the shared metadata (and Alembic) sees them all."""

from __future__ import annotations

from typing import Any

import chat.db
import ivr.db
import prompts.db
import ringflow.admin.db
import ringflow.browser_sessions
import sms.db
import workflows.callbacks.db
import workflows.contacts_db
import workflows.conversations.db
import workflows.db
import workflows.external.db
import workflows.jobs.db
import workflows.knowledge.db
import workflows.people.db
import workflows.schedules.db
import workflows.webhooks.db

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
    workflows.knowledge.db,
    workflows.external.db,
    workflows.webhooks.db,
    workflows.callbacks.db,
    ringflow.browser_sessions,
)


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Whether the schema comparison (Alembic's ``include_name``) looks at a database object:
    not at those a migration makes outside the declared tables (the knowledge base's
    full-text index: an FTS5 table and its shadow tables, a GIN expression index)."""
    if type_ == "table":
        return name not in workflows.knowledge.db.UNDECLARED_TABLES
    if type_ == "index":
        return name not in workflows.knowledge.db.UNDECLARED_INDEXES
    return True
