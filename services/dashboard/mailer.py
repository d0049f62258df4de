"""Mail to people's addresses (verification and password-reset links), over SMTP: SMTP_HOST and SMTP_PORT (the local
stack's mail catcher, stack/mail.py, by default), SMTP_FROM, and SMTP_USERNAME / SMTP_PASSWORD with STARTTLS for a
real relay. A message is sent off the event loop and after the answer: the answer never tells, by its content or its
time, whether an address has an account, and a relay that is down costs a logged error, not a failed request (the
page offers the link again)."""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from messaging.settings import env_int

__all__ = ["Mailer", "MailSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    host: str = "127.0.0.1"
    port: int = 1025
    sender: str = "Accounting <no-reply@localhost>"
    username: str | None = None  # with a password: STARTTLS, then log in
    password: str | None = None

    @classmethod
    def from_env(cls) -> MailSettings:
        return cls(host=os.environ.get("SMTP_HOST", cls.host), port=env_int("SMTP_PORT", cls.port),
                   sender=os.environ.get("SMTP_FROM", cls.sender), username=os.environ.get("SMTP_USERNAME") or None,
                   password=os.environ.get("SMTP_PASSWORD") or None)


class Mailer:
    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._sending: set[asyncio.Task[None]] = set()

    def send(self, to: str, subject: str, text: str) -> None:
        """Send a plain-text message in the background (see the module's note)."""
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._send, to, subject, text))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def drain(self) -> None:
        """Wait for the messages under way (on shutdown)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.settings.sender, to, subject
        message.set_content(text)
        try:
            with smtplib.SMTP(self.settings.host, self.settings.port, timeout=10) as smtp:
                if self.settings.username and self.settings.password:
                    smtp.starttls()
                    smtp.login(self.settings.username, self.settings.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            log.error("mail not sent", extra={"to": to, "subject": subject, "smtp": f"{self.settings.host}:"
                                              f"{self.settings.port}", "error": str(error)})
