"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from email.message import Message
from email.policy import default

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, inbox: list, delay: float = 0.0):
        self.inbox = inbox
        self.delay = delay
        # Answers to give instead of accepting, in order ("451 ..." then "550 ..."),
        # or per recipient: {"gone@example.org": "550 No such user"}.
        self.refusals: list[str] = []
        self.refuse_recipients: dict[str, str] = {}
        # Accept this many messages, then keep the next one in hand, unanswered, until the
        # server stops (once): a server going down mid-batch, at a known point.
        self.hold_after: int | None = None
        self.holding = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.hold_after is not None and len(self.inbox) >= self.hold_after:
            self.hold_after = None
            self.holding.set()
            await asyncio.Event().wait()  # never answered: cancelled when the server stops
        if self.refusals:
            return self.refusals.pop(0)
        self.inbox.append(envelope)
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(
        self,
        port: int | None = None,
        delay: float = 0.0,
        hold_after: int | None = None,
        **options,
    ):
        """``options``: aiosmtpd's (``tls_context``, ``require_starttls``, ``authenticator``,
        ``ssl_context`` for TLS from the first byte...)."""
        self.port = port or free_port()
        self.envelopes: list = []
        self.handler = _Handler(self.envelopes, delay)
        self.handler.hold_after = hold_after
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Message]:
        return [email.message_from_bytes(e.content, policy=default) for e in self.envelopes]


def point_mail_at(app, port: int) -> None:
    """Point the app's Flask-Mail state at a port (the server of this test)."""
    state = app.extensions["mail"]
    state.server = "127.0.0.1"
    state.port = port
