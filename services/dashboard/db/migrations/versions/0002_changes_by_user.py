"""A user's submissions by when they last changed: what a page that reconnects missed (Last-Event-ID), and what a
dashboard asks for when it polls for changes (live.py)."""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS requests_by_change ON requests (user_id, updated_at)")
