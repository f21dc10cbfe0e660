"""Alembic environment: runs on the connection handed over by ``ringflow.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from ringflow.database import metadata
from ringflow.tables import include_name  # (registers every table on the metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `ringflow db upgrade`, not the alembic command")

if connection.dialect.name == "postgresql":
    # Several server processes may start together: one migrates, the others wait.
    connection.execute(text("SELECT pg_advisory_xact_lock(7461626)"))

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
