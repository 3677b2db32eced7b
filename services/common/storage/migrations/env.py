"""Alembic environment: migrations run on the connection the service hands in (db.migrate)."""
from alembic import context

from services.common.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
