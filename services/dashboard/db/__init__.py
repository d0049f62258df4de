"""The dashboard's data: the records (model.py), a repository per kind of data over one engine (database.py), the
schema's migrations (migrations/), and the way the event loop reaches them, off its thread (offloop.py)."""

from __future__ import annotations

from services.dashboard.db.database import Database
from services.dashboard.db.engine import engine
from services.dashboard.db.model import Change, Claim, Session, State, Submission, User
from services.dashboard.db.offloop import OffLoop

__all__ = ["Change", "Claim", "Database", "OffLoop", "Session", "State", "Submission", "User", "engine"]
