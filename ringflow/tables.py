"""Imports every package's tables so that the shared metadata (and Alembic) sees them all."""

from __future__ import annotations

import ivr.db
import workflows.db

TABLE_MODULES = (workflows.db, ivr.db)
