"""The mail the dashboards sent, as the stack's mail catcher kept it (stack/mail.py): the links in it."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from stack import mail

__all__ = ["link", "path_of"]


def link(to: str, subject: str, timeout: float = 15.0, after: int = 0) -> str:
    """The link in the newest message to `to` whose subject is `subject`, waiting for it (mail leaves after the
    answer); only among the first `after` + 1 and later such messages, so that a test asking twice gets the second."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mail.messages(to=to) if m.subject == subject]
        if len(found) > after:
            match = re.search(r"https?://\S+", found[-1].text)
            assert match, f"no link in {found[-1].path}"
            return match.group(0)
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} with the subject {subject!r} in {mail.FOLDER} after {timeout} s")
        time.sleep(0.2)


def path_of(url: str) -> str:
    """A link's path and query: what a client with a base URL asks for."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"
