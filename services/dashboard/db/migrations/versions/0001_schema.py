"""Users, their requests, their idempotency keys and their sessions: the schema from before migrations.

IF NOT EXISTS everywhere: a SQLite database made before migrations has these tables already, and this step only
records them as version 0001. Times are epoch milliseconds (BIGINT: SQLite stores any integer the same).
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS users (
        id            TEXT PRIMARY KEY,
        email         TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS requests (
        request_id TEXT PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('invoice', 'score')),
        user_id    TEXT NOT NULL REFERENCES users (id),
        status     TEXT NOT NULL CHECK (status IN ('pending', 'generated', 'rejected', 'calculated', 'timed_out')),
        created_at BIGINT NOT NULL,  -- epoch milliseconds, UTC
        updated_at BIGINT NOT NULL,
        request    TEXT NOT NULL,    -- what was asked, as JSON
        reply      TEXT              -- the answer, as JSON, once it came
    )""",
    "CREATE INDEX IF NOT EXISTS requests_by_user ON requests (user_id, kind, created_at)",
    "CREATE INDEX IF NOT EXISTS requests_pending ON requests (status, created_at)",
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        user_id     TEXT NOT NULL REFERENCES users (id),
        key         TEXT NOT NULL,    -- as the client sent it: each user has their own keys
        fingerprint TEXT NOT NULL,    -- of what was asked, to tell a retry from another request
        request_id  TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('sending', 'accepted')),
        created_at  BIGINT NOT NULL,
        PRIMARY KEY (user_id, key)
    )""",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at)",
    """CREATE TABLE IF NOT EXISTS sessions (
        token_hash TEXT PRIMARY KEY,  -- SHA-256 of the cookie's random token: this table alone signs no one in
        user_id    TEXT NOT NULL REFERENCES users (id),
        csrf       TEXT NOT NULL,     -- the token the session's forms carry
        expires_at BIGINT NOT NULL    -- epoch milliseconds
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
