"""Live updates carry what the pages show: for a submission's new state, the rendered parts of every page that shows
it, each named by the `data-fragment` attribute of the element it replaces. Rendered once per update, by the
thread that learned of it, from what reads.update gathered, so that no open page fetches itself again.
"""

from __future__ import annotations

from services.dashboard.charts import Charts, drawn
from services.dashboard.reads import Update
from services.dashboard.rules import ScoreScale
from services.dashboard.templating import LOCALE, fragment
from services.dashboard.views import invoice_view, score_view

__all__ = ["render"]


def render_charts(charts: Charts, scale: ScoreScale) -> dict[str, str]:
    """The overview's pictures alone: what a user's charts owe after changes drawn without them."""
    return {"charts": fragment("_charts.html", **drawn(charts, scale, LOCALE))}


def render(update: Update, scale: ScoreScale) -> dict[str, str]:
    """The parts of the pages that show `update.submission`, as it now is; the charts when the update has them."""
    submission = update.submission
    if submission.kind == "invoice":
        view = invoice_view(submission)
        found = {
            f"invoice-row-{submission.request_id}": fragment("_invoice_row.html", i=view),
            f"invoice-{submission.request_id}": fragment("_invoice_article.html", invoice=view),
        }
    else:
        latest = score_view(update.latest_score) if update.latest_score else None
        found = {
            f"score-row-{submission.request_id}": fragment("_score_row.html", s=score_view(submission)),
            "score-card": fragment("_score_card.html", score=latest),
            "score-latest": fragment("_score_latest.html", latest=latest),
        }
    if update.charts is not None:
        found |= render_charts(update.charts, scale)
    return found
