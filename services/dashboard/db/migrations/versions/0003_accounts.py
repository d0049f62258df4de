"""Accounts people can trust: when an email was proven its owner's, the one-use links mailed to prove it or to reset a
password, and who is an operator, granted by a command and every grant and revocation kept.

Accounts made before this are unverified: an operator named in OPERATOR_EMAILS is one again once verified."""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE users ADD COLUMN verified_at BIGINT",  # when its owner opened the verification link; NULL: not yet
    """CREATE TABLE account_tokens (
        token_hash TEXT PRIMARY KEY,  -- SHA-256 of the link's random token: this table alone proves nothing
        user_id    TEXT NOT NULL REFERENCES users (id),
        purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
        expires_at BIGINT NOT NULL    -- epoch milliseconds; a link is also gone once used
    )""",
    "CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose)",
    """CREATE TABLE operators (
        user_id    TEXT PRIMARY KEY REFERENCES users (id),
        granted_at BIGINT NOT NULL,
        granted_by TEXT NOT NULL      -- who ran the grant, or OPERATOR_EMAILS
    )""",
    """CREATE TABLE operator_audit (
        at     BIGINT NOT NULL,
        email  TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('grant', 'revoke')),
        actor  TEXT NOT NULL      -- who ran the command, or OPERATOR_EMAILS
    )""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)
