"""Alembic environment: migrations run on the connection the service hands in (Database.migrate).
Every service's tables are imported so that autogenerate compares the whole schema."""
from alembic import context

import services.miner.tables  # noqa: F401 - registers the tables on Base.metadata
import services.promoter.tables  # noqa: F401
import services.scheduler.tables  # noqa: F401
import services.watchdog.tables  # noqa: F401
import services.common.storage.audit  # noqa: F401 - the audit log, written by every service
from services.common.storage.base import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
