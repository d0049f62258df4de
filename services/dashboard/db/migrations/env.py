"""Alembic's entry point: run the pending migrations on the connection `upgrade` hands over, in its transaction."""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
