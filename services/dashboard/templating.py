"""The pages' templates, with what every one of them may use: the password rule's hint, the formats people read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.templating import Jinja2Templates

from contracts.compat import STRICTER_NOTE
from contracts.findings import rule_for
from services.dashboard import formatting
from services.dashboard.rules import MIN_PASSWORD

__all__ = ["LOCALE", "fragment", "templates"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Loaded once: checking each template file's mtime on every render cost 6% of a busy dashboard's CPU (py-spy), and a
# deployed dashboard's templates change only with a restart.
templates.env.auto_reload = False
templates.env.globals.update(MIN_PASSWORD=MIN_PASSWORD)  # for the password input's hint
templates.env.globals["STRICTER_NOTE"] = STRICTER_NOTE  # marks, on the Contracts page, what we refuse and the registry accepts
templates.env.globals["rule_for"] = rule_for  # and the review's rule id for each such reason
LOCALE = formatting.locale_from_env()
templates.env.filters.update(formatting.filters(LOCALE))  # money, CPF/CNPJ and the like as people write them


def fragment(name: str, **context: Any) -> str:
    """A partial template (templates/_*.html) rendered alone, for a live update: the same HTML the page holds."""
    return templates.env.get_template(name).render(**context)
