"""What the pages and the live updates read from the database. Each function gathers everything one of them shows,
in one call on a database thread (`await db.run(reads.overview, user.id)`, or straight from the reply thread), so
that rendering reads nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.dashboard.charts import Charts, invoicing_per_month, months_back, score_history
from services.dashboard.db import Database, State, Submission

__all__ = ["Overview", "ScorePage", "Update", "charts", "overview", "score_page", "update"]


@dataclass(frozen=True)
class Overview:
    invoices: list[Submission]  # the newest 20
    latest_score: Submission | None
    charts: Charts


@dataclass(frozen=True)
class ScorePage:
    scores: list[Submission]  # the newest 10 score requests, whatever their state
    latest_score: Submission | None


@dataclass(frozen=True)
class Update:
    """What the parts of the pages that show `submission` need to show its new state."""

    submission: Submission
    latest_score: Submission | None  # for a score: the newest calculated one, which the score card shows
    charts: Charts | None  # when asked for and the submission adds to them


def charts(db: Database, user_id: str, now: datetime | None = None) -> Charts:
    """The numbers of the overview's pictures: invoicing in the 12 months that end with `now`'s, the newest scores."""
    now = now or datetime.now(UTC)
    since_ms = int(months_back(now).timestamp() * 1000)
    return Charts(invoicing_per_month(db.submissions.generated_invoices(user_id, since_ms), now),
                  score_history(db.submissions.calculated_scores(user_id)))


def overview(db: Database, user_id: str) -> Overview:
    return Overview(db.submissions.newest(user_id, "invoice", limit=20), db.submissions.latest_score(user_id),
                    charts(db, user_id))


def score_page(db: Database, user_id: str) -> ScorePage:
    return ScorePage(db.submissions.newest(user_id, "score", limit=10), db.submissions.latest_score(user_id))


def update(db: Database, submission: Submission, with_charts: bool) -> Update:
    """What `fragments.render` needs for `submission`; the charts (which read the user's whole year) only when
    `with_charts` and the submission adds to them."""
    latest = db.submissions.latest_score(submission.user_id) if submission.kind != "invoice" else None
    adds = with_charts and submission.status in (State.GENERATED, State.CALCULATED)
    return Update(submission, latest, charts(db, submission.user_id) if adds else None)
