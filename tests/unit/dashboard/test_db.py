"""The dashboard's database behaves the same on SQLite and PostgreSQL: its schema comes from the migrations, once,
however many dashboards start together; users, sessions, requests and idempotency claims keep their rules; of many
claims of one key at once, one wins."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import inspect, text

from services.dashboard.db import Change, Claim, Database, Submission, engine
from services.dashboard.db.changes import CHANNEL, parse
from services.dashboard.db.sessions import FOUND_SECONDS
from services.dashboard.db.submissions import Answer

T = TypeVar("T")
TABLES = {"users", "requests", "idempotency_keys", "sessions", "account_tokens", "operators", "operator_audit"}
HEAD = "0003"  # the newest migration (services/dashboard/db/migrations/versions/)
USER = "7d1e0c5e-0000-4000-8000-000000000001"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    opened = Database(database_url, connections=4)
    yield opened
    opened.close()


def answer(db: Database, request_id: str, kind: str, status: str, reply: dict[str, Any], user: str = USER,
           ) -> Submission | None:
    """One reply stored as the reply consumer stores a batch; the submission it answered, if any."""
    answered = db.submissions.answer([Answer(request_id, kind, user, status, reply)])
    return answered[0] if answered else None


def ms(seconds_from_now: float = 0) -> int:
    return int((time.time() + seconds_from_now) * 1000)


def versions(database_url: str) -> list[str]:
    made = engine(database_url)
    with made.connect() as connection:
        found = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    made.dispose()
    return found


def at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """`work(0)` ... `work(count - 1)`, each on a thread of its own, all let go at the same moment."""
    start = threading.Barrier(count)

    def run(n: int) -> T:
        start.wait()
        return work(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_the_migrations_make_the_schema_of_an_empty_database_and_change_nothing_the_second_time(database_url: str) -> None:
    first = Database(database_url)
    assert first.users.create(USER, "ana@example.com", "hash") is not None
    first.close()
    again = Database(database_url)
    assert again.users.by_email("ana@example.com") is not None
    again.close()
    made = engine(database_url)
    assert TABLES <= set(inspect(made).get_table_names())
    made.dispose()
    assert versions(database_url) == [HEAD]


# A dashboard's start: wait for the moment given, then open the database (which migrates it).
START = "import sys, time; from services.dashboard.db import Database; time.sleep(float(sys.argv[1]) - time.time());" \
        " Database(sys.argv[2]).close()"


def test_dashboards_starting_together_migrate_the_database_once(database_url: str) -> None:
    at = time.time() + 5  # every process has imported what it needs by then
    dashboards = [subprocess.Popen([sys.executable, "-c", START, str(at), database_url], stderr=subprocess.PIPE, text=True)
                  for _ in range(3)]
    failures = [process.communicate(timeout=60)[1] for process in dashboards if process.wait(timeout=60) != 0]
    assert not failures, failures[0]
    assert versions(database_url) == [HEAD]


def test_a_sqlite_database_from_before_the_migrations_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "dashboard.sqlite3"
    with sqlite3.connect(path) as old:  # as the dashboard made it before the migrations
        old.execute("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,"
                    " created_at INTEGER NOT NULL)")
        old.execute("INSERT INTO users VALUES (?, 'ana@example.com', 'hash', 0)", (USER,))
    old.close()
    db = Database(f"sqlite:///{path}")
    assert db.users.by_id(USER) is not None and db.submissions.find(USER, "r", "invoice") is None
    db.close()
    assert versions(f"sqlite:///{path}") == [HEAD]


def test_an_email_has_one_account(db: Database) -> None:
    ana = db.users.create(USER, "ana@example.com", "hash")
    assert ana is not None and db.users.by_id(USER) == ana == db.users.by_email("ana@example.com")
    assert db.users.create("7d1e0c5e-0000-4000-8000-000000000002", "ana@example.com", "other") is None
    assert db.users.by_email("bea@example.com") is None and db.users.by_id("nobody") is None


def test_a_session_signs_in_until_it_ends_or_expires(db: Database) -> None:
    ana = db.users.create(USER, "ana@example.com", "hash")
    assert ana is not None
    db.sessions.add("live", USER, "csrf-1", ms(60))
    db.sessions.add("expired", USER, "csrf-2", ms(-1))
    found = db.sessions.find("live")
    assert found is not None and found.user == ana and found.csrf == "csrf-1"
    assert db.sessions.find("expired") is None and db.sessions.find("unknown") is None
    db.sessions.forget_expired()
    db.sessions.end("live")
    assert db.sessions.find("live") is None


def test_a_request_is_pending_until_answered_or_timed_out_and_a_late_answer_still_lands(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    db.submissions.add("r1", "invoice", USER, {"customer": {"name": "Ana"}})
    db.submissions.add("r2", "score", USER, {})
    pending = db.submissions.find(USER, "r1", "invoice")
    assert pending is not None and pending.status == "pending" and pending.reply is None
    assert pending.request == {"customer": {"name": "Ana"}}
    assert ms(-60) < pending.created_at <= ms() and pending.created_at > 2**31  # epoch milliseconds, beyond 32 bits
    assert db.submissions.find(USER, "r1", "score") is None and db.submissions.find("someone else", "r1", "invoice") is None

    assert db.submissions.expire(ms(-60)) == []
    expired = db.submissions.expire(ms(60))
    assert sorted(r.request_id for r in expired) == ["r1", "r2"] and {r.status for r in expired} == {"timed_out"}
    answered = answer(db, "r1", "invoice", "generated", {"total": "10.00"})
    assert answered is not None and answered.status == "generated" and answered.reply == {"total": "10.00"}
    assert answer(db, "unknown", "invoice", "generated", {}) is None
    assert db.submissions.expire(ms(60)) == []  # only pending requests time out


def test_requests_are_listed_newest_first_a_page_at_a_time(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    for n in range(5):
        db.submissions.add(f"r{n}", "invoice", USER, {"n": n})
        time.sleep(0.002)  # created a millisecond apart at least
    assert [r.request_id for r in db.submissions.newest(USER, "invoice")] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.request_id for r in db.submissions.newest(USER, "invoice", limit=2, offset=1)] == ["r3", "r2"]
    assert db.submissions.newest(USER, "score") == []
    answer(db, "r1", "invoice", "generated", {"invoice": {"number": 1}})
    answer(db, "r3", "invoice", "rejected", {"invoice": None})
    assert db.submissions.generated_invoices(USER, ms(-60)) == [{"number": 1}]  # only generated ones


def test_the_latest_score_is_the_newest_calculated_one(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    assert db.submissions.latest_score(USER) is None
    for n in range(3):
        db.submissions.add(f"s{n}", "score", USER, {})
        time.sleep(0.002)
    answer(db, "s0", "score", "calculated", {"score": 500})
    answer(db, "s1", "score", "calculated", {"score": 600})
    latest = db.submissions.latest_score(USER)
    assert latest is not None and latest.request_id == "s1"
    assert [r.request_id for r in db.submissions.calculated_scores(USER)] == ["s1", "s0"]


def test_a_request_that_never_reached_kafka_is_forgotten_with_its_key(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    assert db.keys.claim(USER, "k", "fp", "r1", ms(-60)) is None
    db.submissions.add("r1", "invoice", USER, {})
    db.submissions.forget("r1")
    assert db.submissions.find(USER, "r1", "invoice") is None
    assert db.keys.claim(USER, "k", "fp", "r2", ms(-60)) is None  # the key is free again


def test_a_key_is_claimed_once_per_user_until_it_expires(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    bea = "7d1e0c5e-0000-4000-8000-000000000002"
    db.users.create(bea, "bea@example.com", "hash")
    assert db.keys.claim(USER, "k", "fp", "r1", ms(-60)) is None
    earlier = db.keys.claim(USER, "k", "other", "r2", ms(-60))
    assert isinstance(earlier, Claim) and (earlier.fingerprint, earlier.request_id, earlier.state) == ("fp", "r1", "sending")
    db.keys.accepted("r1")
    accepted = db.keys.claim(USER, "k", "fp", "r3", ms(-60))
    assert accepted is not None and accepted.state == "accepted"
    assert db.keys.claim(bea, "k", "fp", "r4", ms(-60)) is None  # each user has their own keys
    assert db.keys.claim(USER, "k", "fp", "r5", ms(60)) is None  # a claim older than the key's lifetime no longer counts
    db.keys.forget_older_than(ms(60))
    assert db.keys.claim(USER, "k", "fp", "r6", ms(-60)) is None


def test_of_many_claims_of_one_key_at_once_one_wins_and_the_others_see_its_request(database_url: str) -> None:
    # Two dashboards, four threads each, all claiming one key for a request of their own.
    dashboards = [Database(database_url, connections=4) for _ in range(2)]
    dashboards[0].users.create(USER, "ana@example.com", "hash")
    claims = at_once(8, lambda n: dashboards[n % 2].keys.claim(USER, "key", "fp", f"r{n}", ms(-60)))
    winners = [f"r{n}" for n, claim in enumerate(claims) if claim is None]
    assert len(winners) == 1
    assert {claim.request_id for claim in claims if claim is not None} == set(winners)
    for db in dashboards:
        db.close()


def test_a_reply_answers_only_an_unanswered_submission_of_its_own_kind_and_user(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    db.users.create("someone else", "bia@example.com", "hash")
    db.submissions.add("r1", "invoice", USER, {})
    assert answer(db, "r1", "score", "calculated", {"score": 1}) is None  # another kind
    assert answer(db, "r1", "invoice", "generated", {}, user="someone else") is None  # another user
    assert answer(db, "r1", "invoice", "generated", {"total": "1.00"}) is not None
    assert answer(db, "r1", "invoice", "rejected", {}) is None  # answered already: the first answer stands
    found = db.submissions.find(USER, "r1", "invoice")
    assert found is not None and (found.status, found.reply) == ("generated", {"total": "1.00"})
    db.submissions.add("r2", "invoice", USER, {})
    db.submissions.expire(ms(60))
    late = answer(db, "r2", "invoice", "generated", {})  # a late answer is still the answer
    assert late is not None and late.status == "generated"


@pytest.mark.parametrize("count", [1, 3, 5, 17])
def test_a_batch_of_answers_of_any_size_answers_each_of_its_submissions_once(db: Database, count: int) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    ids = [f"r{i}" for i in range(count)]
    db.submissions.add_all([(request_id, "invoice", USER, {}) for request_id in ids])
    batch = [Answer(request_id, "invoice", USER, "generated", {"n": n}) for n, request_id in enumerate(ids)]
    repeated = Answer(ids[0], "invoice", USER, "generated", {"n": 0})  # a reply read twice in one batch
    answered = db.submissions.answer([*batch, repeated, Answer("unknown", "invoice", USER, "generated", {})])
    assert sorted(s.request_id for s in answered) == sorted(ids)  # each once, whatever the statement's padding
    assert [db.submissions.find(USER, r, "invoice").reply for r in ids] == [{"n": n} for n in range(count)]  # type: ignore[union-attr]


def test_what_changed_for_some_users_after_a_moment(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    db.users.create("someone else", "bia@example.com", "hash")
    db.submissions.add("r1", "invoice", USER, {})
    db.submissions.add("r2", "invoice", "someone else", {})
    before = ms()
    time.sleep(0.002)
    answer(db, "r1", "invoice", "generated", {})
    answer(db, "r2", "invoice", "generated", {}, user="someone else")
    assert [s.request_id for s in db.submissions.changed_since([USER], before)] == ["r1"]
    assert {s.request_id for s in db.submissions.changed_since([USER, "someone else"], before)} == {"r1", "r2"}
    assert db.submissions.changed_since([USER], ms(60)) == [] and db.submissions.changed_since([], before) == []
    # The same, told without the submissions' content; then those read by id, in one go.
    told = db.submissions.changes_since([USER, "someone else"], before)
    assert {(c.user_id, c.request_id) for c in told} == {(USER, "r1"), ("someone else", "r2")}
    assert all(c.updated_at is not None and c.updated_at > before for c in told)
    assert db.submissions.changes_since([USER], ms(60)) == [] and db.submissions.changes_since([], before) == []
    read = db.submissions.many(["r2", "r1", "missing"])
    assert {s.request_id for s in read} == {"r1", "r2"} and read == sorted(read, key=lambda s: s.updated_at)
    assert [s.status for s in read] == ["generated", "generated"] and db.submissions.many([]) == []


def test_on_postgresql_a_change_is_announced_with_the_transaction_that_made_it(postgresql_url: str) -> None:
    db = Database(postgresql_url)
    db.users.create(USER, "ana@example.com", "hash")
    db.submissions.add("r1", "invoice", USER, {})
    db.submissions.add("r2", "invoice", USER, {})
    with psycopg.connect(postgresql_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        answered = answer(db, "r1", "invoice", "generated", {})
        answer(db, "unknown", "invoice", "generated", {})  # answers nothing, announces nothing
        expired = db.submissions.expire(ms(60))
        heard = [parse(notice.payload) for notice in listener.notifies(timeout=2, stop_after=2)]
    db.close()
    assert answered is not None
    assert heard == [Change(USER, "r1", answered.updated_at), Change(USER, "r2", expired[0].updated_at)]
    assert parse(f"{USER} r1") == Change(USER, "r1", None)  # an older dashboard's: no time, read to be sure


def test_a_mailed_link_works_once_until_it_expires_and_a_newer_one_replaces_it(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    db.tokens.issue("first", USER, "verify", ms(60))
    db.tokens.issue("second", USER, "verify", ms(60))  # the first stops working
    db.tokens.issue("reset", USER, "reset", ms(60))  # another purpose: both live
    assert db.tokens.use("first", "verify") is None
    assert db.tokens.use("second", "reset") is None  # for its own purpose only
    assert db.tokens.holder("second", "verify") == USER  # looking does not use it
    assert db.tokens.use("second", "verify") == USER
    assert db.tokens.use("second", "verify") is None  # once
    db.tokens.issue("old", USER, "reset", ms(-1))
    assert db.tokens.use("old", "reset") is None  # expired


def test_only_a_verified_account_is_granted_the_operator_view_and_each_change_is_audited(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    assert not db.operators.grant(USER, "ana@example.com", "tests")
    db.users.verify(USER)
    assert db.operators.grant(USER, "ana@example.com", "tests")
    assert not db.operators.grant(USER, "ana@example.com", "tests")  # once
    user = db.users.by_id(USER)
    assert user is not None and user.verified and user.operator
    assert db.operators.revoke(USER, "ana@example.com", "tests")
    assert [(e.email, e.action, e.actor) for e in db.operators.audit()] == [
        ("ana@example.com", "grant", "tests"), ("ana@example.com", "revoke", "tests")]


def test_ending_every_session_of_a_user_can_keep_one(db: Database) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    for token in ("a", "b", "c"):
        db.sessions.add(token, USER, "csrf", ms(60))
    db.sessions.end_all(USER, keep="b")
    assert [t for t in "abc" if db.sessions.find(t)] == ["b"]
    db.sessions.end_all(USER)
    assert db.sessions.find("b") is None


def test_a_session_found_is_kept_a_moment_and_whatever_this_process_changes_ends_that_at_once(
        db: Database, database_url: str) -> None:
    db.users.create(USER, "ana@example.com", "hash")
    db.sessions.add("a", USER, "csrf", ms(60))
    other = Database(database_url)  # another dashboard, or `make operator`, on the same database
    try:
        found = db.sessions.find("a")
        assert found is not None and not found.user.operator and not found.user.verified
        other.sessions.end("a")
        assert db.sessions.find("a") == found  # kept: another process's change is seen within FOUND_SECONDS
        time.sleep(FOUND_SECONDS)
        assert db.sessions.find("a") is None
        db.sessions.add("b", USER, "csrf", ms(60))
        assert db.sessions.find("b") is not None
        # Each change this process makes is seen by the very next lookup.
        db.users.verify(USER)
        found = db.sessions.find("b")
        assert found is not None and found.user.verified
        db.operators.grant(USER, "ana@example.com", "tests")
        found = db.sessions.find("b")
        assert found is not None and found.user.operator
        db.operators.revoke(USER, "ana@example.com", "tests")
        found = db.sessions.find("b")
        assert found is not None and not found.user.operator
        db.users.set_password(USER, "another hash")
        found = db.sessions.find("b")
        assert found is not None and found.user.password_hash == "another hash"
        db.sessions.end_all(USER)
        assert db.sessions.find("b") is None
    finally:
        other.close()
