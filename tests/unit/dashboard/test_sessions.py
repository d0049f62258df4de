"""Sessions live on the server: a token names one, and ending it or its expiry signs the token out at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.dashboard.db import Database, User
from services.dashboard.sessions import Sessions


def database(tmp_path: Path) -> tuple[Database, User]:
    db = Database(tmp_path / "dashboard.sqlite3")
    user = db.create_user("7d1e0c5e-0000-4000-8000-000000000001", "ana@example.com", "hash")
    assert user is not None
    return db, user


def test_a_session_is_found_by_its_token_until_it_is_ended(tmp_path: Path) -> None:
    db, user = database(tmp_path)
    sessions = Sessions(db, 3600)
    token, other = sessions.start(user), sessions.start(user)
    found = sessions.find(token)
    assert found is not None and found.user == user and len(found.csrf) >= 32
    sessions.end(token)
    assert sessions.find(token) is None
    assert sessions.find(other) is not None  # signing out in one browser leaves the other signed in
    assert sessions.find("made-up") is None


def test_an_expired_session_signs_no_one_in_and_is_forgotten(tmp_path: Path) -> None:
    db, user = database(tmp_path)
    expired, live = Sessions(db, 0).start(user), Sessions(db, 3600).start(user)
    assert Sessions(db, 3600).find(expired) is None
    Sessions(db, 3600).forget_expired()
    rows = sqlite3.connect(tmp_path / "dashboard.sqlite3").execute("SELECT token_hash FROM sessions").fetchall()
    assert len(rows) == 1 and Sessions(db, 3600).find(live) is not None


def test_the_database_keeps_no_token(tmp_path: Path) -> None:
    db, user = database(tmp_path)
    token = Sessions(db, 3600).start(user)
    db.close()
    stored = sqlite3.connect(tmp_path / "dashboard.sqlite3").execute("SELECT * FROM sessions").fetchall()
    assert stored and all(token not in str(value) for row in stored for value in row)
