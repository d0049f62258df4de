"""What an account's owner can do with it besides signing in: prove the email theirs (a link mailed at sign-up), reset a
forgotten password (a link mailed on request), change the password and sign out everywhere.

Each link carries a random token (the database keeps only its hash) that works once, for `LINK_HOURS`. Opening a
reset link proves the mailbox too, so it verifies the account; a new password (reset or changed) ends the account's
other sessions, so whoever knew the old one is out at once. A verified account named in OPERATOR_EMAILS becomes an
operator when it is verified (operators.py grants the rest by command): signing up first with an operator's address
gives nothing, and the real owner takes the account back with a reset link.
"""

from __future__ import annotations

import logging
import secrets
import time

from services.dashboard.credentials import Credentials
from services.dashboard.db import Database, OffLoop, User
from services.dashboard.mailer import Mailer
from services.dashboard.sessions import token_hash
from services.dashboard.throttle import Throttle

__all__ = ["LINK_HOURS", "Accounts", "OPERATOR_BOOTSTRAP"]

log = logging.getLogger(__name__)

LINK_HOURS = 24
MAILS_PER_HOUR = 5  # per address: a stranger cannot fill someone's mailbox with our links
OPERATOR_BOOTSTRAP = "OPERATOR_EMAILS"  # the operator_audit's actor for a grant that variable made


class Accounts:
    def __init__(self, db: OffLoop[Database], credentials: Credentials, mailer: Mailer, public_url: str,
                 operator_emails: frozenset[str]) -> None:
        self._db = db
        self._credentials = credentials
        self._mailer = mailer
        self._public_url = public_url.rstrip("/")
        self._operator_emails = operator_emails
        self._mails = Throttle(MAILS_PER_HOUR, 3600)

    async def _link(self, user: User, purpose: str, path: str) -> str:
        token = secrets.token_urlsafe(32)
        expires = int((time.time() + LINK_HOURS * 3600) * 1000)
        await self._db.run(lambda database: database.tokens.issue(token_hash(token), user.id, purpose, expires))
        return f"{self._public_url}{path}?token={token}"

    def _may_mail(self, email: str) -> bool:
        if self._mails.wait(email):
            log.warning("mail to an account held back: too many asked for", extra={"to": email})
            return False
        self._mails.take(email)
        return True

    async def sign_up(self, email: str, password: str, address: str) -> None:
        """A new account, unverified, and the link to verify it mailed to `email`; when the email has an account
        already, a note to its owner instead, with the way back in. The caller says the same either way.
        Throttled as Credentials.sign_up is."""
        await self._welcome(email, await self._credentials.sign_up(email, password, address))

    async def _welcome(self, email: str, user: User | None) -> None:
        if not self._may_mail(email):
            return
        if user is not None:
            await self._mail_verification(user)
        else:
            self._mailer.send(email, "Someone tried to sign up with your address",
                              f"Someone tried to make an account for {email}, which has one already. If it was you,"
                              f" sign in at {self._public_url}/login or reset your password at"
                              f" {self._public_url}/password/forgot.\n\nIf it was not you, nothing changed.")

    async def resend_verification(self, user: User) -> None:
        if not user.verified and self._may_mail(user.email):
            await self._mail_verification(user)

    async def _mail_verification(self, user: User) -> None:
        link = await self._link(user, "verify", "/verify")
        self._mailer.send(user.email, "Confirm your email address",
                          f"Open this link to confirm that {user.email} is yours (it works once, for {LINK_HOURS}"
                          f" hours):\n\n{link}\n\nIf you did not sign up, ignore this message.")

    async def verify(self, token: str) -> User | None:
        """Use a verification link: the account it verified, None for an unknown, used or expired link."""
        def run(database: Database) -> User | None:
            user_id = database.tokens.use(token_hash(token), "verify")
            if user_id is None:
                return None
            database.users.verify(user_id)
            return database.users.by_id(user_id)

        user = await self._db.run(run)
        if user is not None:
            await self._bootstrap_operator(user)
        return user

    async def _bootstrap_operator(self, user: User) -> None:
        if user.verified and not user.operator and user.email in self._operator_emails:
            if await self._db.run(lambda database: database.operators.grant(user.id, user.email, OPERATOR_BOOTSTRAP)):
                log.warning("operator granted", extra={"email": user.email, "by": OPERATOR_BOOTSTRAP})

    async def bootstrap_operators(self) -> None:
        """At start: each verified account named in OPERATOR_EMAILS that is not an operator yet becomes one; the
        others are named in the log (an unverified account is granted once it is verified)."""
        for email in sorted(self._operator_emails):
            user = await self._user_of(email)
            if user is None or not user.verified:
                log.warning("OPERATOR_EMAILS names an account that is not verified (or does not exist): not an operator"
                            " until it is", extra={"email": email})
            else:
                await self._bootstrap_operator(user)

    async def _user_of(self, email: str) -> User | None:
        return await self._db.run(lambda database: database.users.by_email(email))

    async def forgot(self, email: str) -> None:
        """Mail a reset link to `email` when it has an account (nothing otherwise: the page says the same)."""
        user = await self._user_of(email)
        if user is not None and self._may_mail(email):
            link = await self._link(user, "reset", "/password/reset")
            self._mailer.send(email, "Reset your password",
                              f"Someone (we hope you) asked to reset the password of {email}. Open this link to choose"
                              f" a new one (it works once, for {LINK_HOURS} hours):\n\n{link}\n\nIf it was not you,"
                              " ignore this message: your password stays as it is.")

    async def reset_holder(self, token: str) -> User | None:
        """The account a live reset link is for, leaving it unused (to show its form); None otherwise."""
        def run(database: Database) -> User | None:
            user_id = database.tokens.holder(token_hash(token), "reset")
            return database.users.by_id(user_id) if user_id else None
        return await self._db.run(run)

    async def reset(self, user: User, token: str, password: str, address: str) -> User | None:
        """Set `user`'s new password with a reset link (`reset_holder` found `user` for it): the account, verified,
        with every session ended; None when the link is no longer `user`'s to use. Throttled as a log-in is."""
        password_hash = await self._credentials.new_hash(user.email, password, address)

        def run(database: Database) -> User | None:
            if database.tokens.use(token_hash(token), "reset") != user.id:
                return None  # used meanwhile, by another click, or expired
            database.users.set_password(user.id, password_hash)
            database.users.verify(user.id)
            database.sessions.end_all(user.id)
            return database.users.by_id(user.id)

        done = await self._db.run(run)
        if done is not None:
            log.info("password reset", extra={"user_id": user.id})
            await self._bootstrap_operator(done)
        return done

    async def change_password(self, user: User, current: str, new: str, address: str, keep_token: str) -> bool:
        """Replace `user`'s password when `current` is it, ending every other session; False when it is not.
        Throttled as a log-in is."""
        if await self._credentials.verify(user.email, current, address) is None:
            return False
        password_hash = await self._credentials.new_hash(user.email, new, address)
        keep = token_hash(keep_token)

        def run(database: Database) -> None:
            database.users.set_password(user.id, password_hash)
            database.sessions.end_all(user.id, keep=keep)

        await self._db.run(run)
        log.info("password changed", extra={"user_id": user.id})
        return True

    async def sign_out_everywhere(self, user: User) -> None:
        await self._db.run(lambda database: database.sessions.end_all(user.id))

