"""The HTTP server: uvicorn's HTTP/1.1 protocol with the two deadlines it lacks, so no client holds a connection."""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DeadlineProtocol", "with_deadlines"]

log = logging.getLogger(__name__)
_TOO_SLOW = b"the request headers did not arrive in time\n"
TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
             b"content-length: %d\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW))


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus: a request's headers must be in within `header_timeout` seconds of the
    connection opening or of their first byte, and a body still coming after its answer was sent (uvicorn
    reads and drops it) must end within `body_timeout`. uvicorn's own keep-alive timeout covers the idle
    time between requests; a body the app reads is timed by bodies.BodyLimits, which can answer 408."""

    header_timeout: float = 10.0
    body_timeout: float = 15.0
    _deadline: asyncio.TimerHandle | None = None
    _waiting_for: str = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set(None)
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Keep the deadline that fits what the connection waits for now: headers, a dropped body, or none."""
        if self.transport.is_closing():
            self._set(None)
        elif self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is None:
            self._set("headers")
        elif self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.DONE:
            self._set("the rest of an answered body")
        else:
            self._set(None)

    def _set(self, waiting_for: str | None) -> None:
        if waiting_for is not None and waiting_for == self._waiting_for:
            return  # the deadline runs from when the wait began, not from the latest byte
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = waiting_for or ""
        if waiting_for is not None:
            seconds = self.header_timeout if waiting_for == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(seconds, self._expire, seconds)

    def _expire(self, seconds: float) -> None:
        log.info("closed a connection from %s: %s did not arrive within %g s", self.client and self.client[0],
                 self._waiting_for, seconds)
        if self._waiting_for == "headers":
            self.transport.write(TIMED_OUT)
        self._deadline = None
        self.transport.close()


def with_deadlines(header_timeout: float, body_timeout: float) -> type[DeadlineProtocol]:
    """The protocol class to give uvicorn (`http=`), with these deadlines in seconds."""
    return type("DeadlineProtocol", (DeadlineProtocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})
