"""Alembic environment: migrations run on the connection the service hands in (Database.migrate).
Every service's tables are imported so that autogenerate compares the whole schema."""
from alembic import context

import omp_services.miner.tables  # noqa: F401 - registers the tables on Base.metadata
import omp_services.promoter.tables  # noqa: F401
import omp_services.scheduler.tables  # noqa: F401
import omp_services.watchdog.tables  # noqa: F401
import omp_services.common.storage.audit  # noqa: F401 - the audit log, written by every service
from omp_services.common.storage.base import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
