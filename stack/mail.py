"""The local stack's mail catcher: an SMTP server on loopback (aiosmtpd) that delivers nothing and keeps every message
it takes as a file in var/mail/, one `.eml` each (0600, in a 0700 folder: the messages hold sign-in links). The
dashboard sends its verification and password-reset mail there by default (SMTP_HOST, SMTP_PORT); a developer reads
them with `make mail`, or opens the files with any mail program.

`python -m stack.mail serve` runs the server (`make up` starts it, `make down` stops it); `python -m stack.mail` prints
the newest messages (`make mail`)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import smtplib
import sys
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from stack import procs
from stack.paths import STATE

__all__ = ["FOLDER", "NAME", "PORT", "Mail", "address", "healthy", "messages", "serve", "show", "start"]

NAME = "mail"
# STACK_SMTP_PORT moves it; the dashboard's SMTP_PORT must then say the same (the stack passes it on).
PORT = int(os.environ.get("STACK_SMTP_PORT") or 1025)
FOLDER = STATE / "mail"


def address(port: int = PORT) -> str:
    return f"smtp://127.0.0.1:{port}"


def healthy(port: int = PORT, timeout: float = 2.0) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as smtp:
            return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def start() -> float:
    """Start the catcher unless it runs; the seconds it took to take mail."""
    if procs.running_pid(NAME):
        return 0.0
    procs.require_free_ports("the mail catcher", PORT)
    pid = procs.start(NAME, [sys.executable, "-m", "stack.mail", "serve"])
    return procs.wait_until(healthy, NAME, "the mail catcher", 30, pid)


@dataclass(frozen=True)
class Mail:
    path: Path
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""


def messages(to: str | None = None, folder: Path = FOLDER) -> list[Mail]:
    """The caught messages, oldest first; only those to `to` when given."""
    found = []
    for path in sorted(folder.glob("*.eml")):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # deleted meanwhile
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if to is None or to.lower() in str(message["To"]).lower():
            found.append(Mail(path, message))
    return found


class _Keeper:
    """aiosmtpd's handler: each message into its own file, named so that `ls` lists them in the order they came."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        target = self.folder / name
        partial = self.folder / f"{name}.part"  # not *.eml until whole
        partial.touch(mode=0o600)
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(target)  # whole or not at all, for whoever reads the folder
        return "250 kept"


def show(newest: int = 5) -> None:
    """The `newest` messages, newest last: to whom, the subject, the text."""
    found = messages()
    if not found:
        print(f"no mail in {FOLDER}")
    for mail in found[-newest:]:
        print(f"---- {mail.path.name}\nTo: {mail.to}\nSubject: {mail.subject}\n\n{mail.text.strip()}\n")


def serve() -> None:
    from aiosmtpd.controller import Controller  # only the catcher's process needs it

    FOLDER.mkdir(mode=0o700, parents=True, exist_ok=True)
    FOLDER.chmod(0o700)
    controller = Controller(_Keeper(FOLDER), hostname="127.0.0.1", port=PORT)
    controller.start()
    print(f"taking mail on 127.0.0.1:{PORT}, keeping it in {FOLDER}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    serve() if sys.argv[1:] == ["serve"] else show()
