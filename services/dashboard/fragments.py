"""Live updates carry what the pages show: for a request's new state, the rendered parts of every page that shows
it, each named by the `data-fragment` attribute of the element it replaces. Rendered once per update, by the
thread that learned of it, so that no open page fetches itself again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.dashboard.charts import invoicing_chart, invoicing_per_month, months_back, score_chart, score_history
from services.dashboard.db import Database, Request, State
from services.dashboard.rules import ScoreScale
from services.dashboard.templating import LOCALE, fragment
from services.dashboard.views import invoice_view, score_view

__all__ = ["charts", "fragments"]


def charts(db: Database, scale: ScoreScale, user_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The overview's pictures and the numbers behind them, the score's on `scale`."""
    now = now or datetime.now(UTC)
    months = invoicing_per_month(db.generated_invoices(user_id, int(months_back(now).timestamp() * 1000)), now)
    history = score_history(db.calculated_scores(user_id))
    return {"months": months, "invoicing_chart": invoicing_chart(months, LOCALE),
            "history": history, "score_chart": score_chart(history, scale)}


def fragments(db: Database, request: Request, scale: ScoreScale, with_charts: bool = True) -> dict[str, str]:
    """The parts of the pages that show `request`, rendered as it now is; the charts (which read the user's whole
    year) only when `with_charts` and the request adds to them."""
    if request.kind == "invoice":
        view = invoice_view(request)
        found = {
            f"invoice-row-{request.request_id}": fragment("_invoice_row.html", i=view),
            f"invoice-{request.request_id}": fragment("_invoice_article.html", invoice=view),
        }
    else:
        view = score_view(request)
        latest = db.latest_score(request.user_id)
        found = {
            f"score-row-{request.request_id}": fragment("_score_row.html", s=view),
            "score-card": fragment("_score_card.html", score=score_view(latest) if latest else None),
            "score-latest": fragment("_score_latest.html", latest=score_view(latest) if latest else None),
        }
    if with_charts and request.status in (State.GENERATED, State.CALCULATED):
        found["charts"] = fragment("_charts.html", **charts(db, scale, request.user_id))
    return found
