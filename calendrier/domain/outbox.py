"""Delivery of the email outbox: claimed in batches, sent after the commit, retried.

The rules that make each message go out once, and never be lost:

- A message is claimed (status ``sending``, a claim token unique to this
  delivery round) in its own short transaction, so two workers never take the
  same row: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer
  (``BEGIN IMMEDIATE``) elsewhere.
- Just before talking to the mail server the worker renews its claim on that
  one row; if the claim was taken over meanwhile, it leaves the row alone.
- A claim left by a worker that died is taken over once it is older than
  ``STALE_CLAIM``, so nothing is lost. Each claim counts as an attempt, so a
  message that kills its worker every time ends up ``failed`` instead of
  looping forever.
- A temporary failure (server down, 4xx) is queued again with exponential
  backoff; a permanent refusal (5xx: no such mailbox) fails at once.

The one window left is a worker dying after the server accepted a message and
before the row is marked sent: that message goes out twice. It carries the
same ``Message-ID`` both times, which lets mail clients merge the copies.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask, current_app, has_request_context
from flask_mail import Message, email_dispatched
from sqlalchemy import event, func, or_, select, update

from ..extensions import db
from ..models import ANONYMOUS_DOMAIN, OutboxMessage, OutboxStatus
from ..timeutil import utcnow
from .check_in_codes import EMAIL_IMAGE_ID, qr_png
from .settings import current_settings

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=10)
MAX_ATTEMPTS = 12  # about 8 hours of retries with the backoff below
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=2)


class CalendarMessage(Message):
    """A Flask-Mail message whose calendar part says its iCalendar METHOD."""

    ics_method: str | None = None

    def _message(self):
        msg = super()._message()
        for part in msg.walk():
            if part.get_content_type() == "text/calendar" and self.ics_method:
                part.set_param("charset", "utf-8", requote=False)
                part.set_param("method", self.ics_method, requote=False)
        return msg


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    claimed: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.claimed += other.claimed


def backoff(attempts: int) -> timedelta:
    return min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def worker_name() -> str:
    """Unique per delivery round: a restarted worker may get the same pid (pid 1 in containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:200]


# --- claiming ----------------------------------------------------------------


def claim(limit: int, worker: str, now: datetime | None = None) -> list[int]:
    """Take up to ``limit`` due messages for ``worker``. Commits."""
    now = now or utcnow()
    stale = (OutboxMessage.status == OutboxStatus.SENDING) & (
        OutboxMessage.claimed_at < now - STALE_CLAIM
    )
    # A message whose worker died on it MAX_ATTEMPTS times is given up, not retried forever.
    db.session.execute(
        update(OutboxMessage)
        .where(stale, OutboxMessage.attempts >= MAX_ATTEMPTS)
        .values(
            status=OutboxStatus.FAILED,
            claimed_by=None,
            last_error="the worker stopped while sending it, too many times",
        )
    )
    due = or_(
        (OutboxMessage.status == OutboxStatus.QUEUED) & (OutboxMessage.next_attempt_at <= now),
        stale,
    )
    # Bulk mail (a newsletter to thousands) waits behind the emails about bookings.
    order = [OutboxMessage.id]
    if BULK_KINDS:
        order.insert(0, OutboxMessage.kind.in_(sorted(BULK_KINDS)))
    query = select(OutboxMessage.id).where(due).order_by(*order).limit(limit)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    if ids:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                status=OutboxStatus.SENDING,
                claimed_at=now,
                claimed_by=worker,
                attempts=OutboxMessage.attempts + 1,
            )
        )
    db.session.commit()
    return ids


def _still_mine(row_id: int, worker: str) -> bool:
    """Renew the claim on one row just before sending it; False if it was taken over."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .values(claimed_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1


def _finish(row_id: int, worker: str, **values) -> None:
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == worker)
        .values(**values)
    )
    db.session.commit()


def _fail(row: OutboxMessage, worker: str, error: Exception, now: datetime) -> None:
    gave_up = is_permanent(error) or row.attempts >= MAX_ATTEMPTS
    _finish(
        row.id,
        worker,
        status=OutboxStatus.FAILED if gave_up else OutboxStatus.QUEUED,
        next_attempt_at=now + backoff(row.attempts),
        last_error=f"{type(error).__name__}: {error}"[:2000],
        claimed_by=None,
    )


def is_permanent(error: Exception) -> bool:
    """A 5xx answer about this message: retrying will not help."""
    if isinstance(error, Undeliverable):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500 and not isinstance(
            error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError
        )
    return False


# --- building and sending ----------------------------------------------------


class Undeliverable(Exception):
    """A row that no longer has anyone to go to (e.g. its subscriber left meanwhile)."""


# kind -> a function building the message at send time, for rows that hold no body
# (the monthly letter: one row per subscriber, the letter itself stored once).
BUILDERS: dict[str, Callable[[OutboxMessage], Message]] = {}
BULK_KINDS: set[str] = set()


def register_builder(
    kind: str, builder: Callable[[OutboxMessage], Message], *, bulk: bool = False
) -> None:
    BUILDERS[kind] = builder
    if bulk:
        BULK_KINDS.add(kind)


def build_message(row: OutboxMessage) -> Message:
    builder = BUILDERS.get(row.kind)
    if builder is not None:
        msg = builder(row)
        msg.msgId = message_id(row)
        return msg
    msg = CalendarMessage(
        subject=row.subject,
        sender=current_settings().sender,
        recipients=[row.recipient],
        body=row.body_text,
        html=row.body_html or None,
    )
    msg.msgId = message_id(row)
    if row.ics:
        msg.ics_method = row.ics_method
        filename = "cancel.ics" if row.ics_method == "CANCEL" else "invitation.ics"
        msg.attach(filename, "text/calendar", row.ics.encode())
    if row.check_in_url and row.body_html:
        msg.attach(
            "check-in.png",
            "image/png",
            qr_png(row.check_in_url),
            "inline",
            headers={"Content-ID": f"<{EMAIL_IMAGE_ID}>"},
        )
    return msg


def message_id(row: OutboxMessage) -> str:
    """Stable per outbox row, so a retried message is recognisably the same one."""
    domain = current_app.config["PUBLIC_URL"].split("//", 1)[-1].split("/")[0].split(":")[0]
    return f"<outbox-{row.id}@{domain or 'calendrier'}>"


class SMTPTransport:
    """One SMTP connection per delivery round, with a timeout (Flask-Mail has none)."""

    def __init__(self, app: Flask):
        self.app = app
        self.state = app.extensions["mail"]
        self.timeout = float(app.config.get("MAIL_TIMEOUT") or 10)
        self.host: smtplib.SMTP

    def __enter__(self) -> SMTPTransport:
        state = self.state
        smtp_class = smtplib.SMTP_SSL if state.use_ssl else smtplib.SMTP
        self.host = smtp_class(state.server, state.port, timeout=self.timeout)
        try:
            if state.use_tls:
                self.host.starttls()
            if state.username and state.password:
                self.host.login(state.username, state.password)
        except BaseException:
            self.host.close()
            raise
        return self

    def send(self, msg: Message) -> None:
        self.host.sendmail(msg.sender, list(msg.send_to), msg.as_bytes())
        email_dispatched.send(self.app, message=msg)

    def __exit__(self, *exc) -> None:
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):  # the connection already died
            self.host.close()


class FileTransport:
    """For local development: each email becomes a file under ``instance/mail/``."""

    def __init__(self, app: Flask):
        self.app = app
        self.folder = Path(app.config.get("MAIL_FOLDER") or Path(app.instance_path) / "mail")

    def __enter__(self) -> FileTransport:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def send(self, msg: Message) -> None:
        number = msg.msgId.strip("<>").split("@")[0]
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{number}.eml"
        path.write_bytes(msg.as_bytes())
        self.app.logger.info("email to %s: %s (%s)", ", ".join(msg.send_to), msg.subject, path)
        email_dispatched.send(self.app, message=msg)

    def __exit__(self, *exc) -> None:
        pass


def transport(app: Flask) -> SMTPTransport | FileTransport:
    """``MAIL_BACKEND``: ``smtp`` (default), or ``files`` (the default under debug)."""
    if mail_backend(app) == "files":
        return FileTransport(app)
    return SMTPTransport(app)


def mail_backend(app: Flask) -> str:
    return app.config.get("MAIL_BACKEND") or ("files" if app.debug else "smtp")


# --- delivering --------------------------------------------------------------


def deliver(limit: int = 100, worker: str | None = None) -> DeliveryReport:
    """Send up to ``limit`` due messages; failures are queued again with backoff."""
    worker = worker or worker_name()
    report = DeliveryReport()
    ids = claim(limit, worker)
    report.claimed = len(ids)
    if not ids:
        return report
    rows = list(
        db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by("id"))
    )
    db.session.commit()  # read done: hold no transaction while talking SMTP
    app = current_app._get_current_object()
    connection = transport(app)
    try:
        connection.__enter__()
    except Exception as error:
        log.warning("mail server unreachable: %s", error)
        now = utcnow()
        for row in rows:
            _fail(row, worker, error, now)
            report.failed += 1
        return report
    try:
        for row in rows:
            if not _still_mine(row.id, worker):
                continue  # taken over by another worker: it is theirs now
            try:
                connection.send(build_message(row))
            except Exception as error:
                log.warning("sending outbox %s failed: %s", row.id, error)
                _fail(row, worker, error, utcnow())
                report.failed += 1
            else:
                _finish(
                    row.id,
                    worker,
                    status=OutboxStatus.SENT,
                    sent_at=utcnow(),
                    last_error="",
                )
                report.sent += 1
    finally:
        connection.__exit__(None, None, None)
    return report


def deliver_all(batch: int = 100) -> DeliveryReport:
    """Deliver until nothing is due (messages that failed wait for their backoff)."""
    total = DeliveryReport()
    while True:
        report = deliver(batch)
        total.add(report)
        if report.claimed < batch:
            return total


def counts() -> dict[str, int]:
    """How many messages are in each state (``flask mail status``)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    result = {str(status): 0 for status in OutboxStatus}
    result.update({status: count for status, count in rows})
    db.session.commit()
    return result


def retry_failed(since: datetime | None = None) -> int:
    """Queue the given-up messages again, from scratch (after a mail set-up was fixed). Commits."""
    query = update(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.FAILED,
        # Emails blanked when their booking was anonymised have no one to go to.
        OutboxMessage.recipient.not_like(f"%@{ANONYMOUS_DOMAIN}"),
    )
    if since is not None:
        query = query.where(OutboxMessage.created_at >= since)
    result = db.session.execute(
        query.values(
            status=OutboxStatus.QUEUED,
            attempts=0,
            next_attempt_at=utcnow(),
            claimed_by=None,
        )
    )
    db.session.commit()
    return result.rowcount


# --- delivery right after the commit (local development) ---------------------


def mail_delivery(app: Flask) -> str:
    """``MAIL_DELIVERY``: ``worker`` (``flask mail send``), or ``after_commit`` (debug default)."""
    return app.config.get("MAIL_DELIVERY") or ("after_commit" if app.debug else "worker")


def mark_written() -> None:
    """Called when a message is added to the session: deliver once it is committed."""
    db.session.info["outbox_written"] = True


class BackgroundSender:
    """One daemon thread per app that delivers the outbox when woken after a commit."""

    def __init__(self, app: Flask):
        self.app = app
        self.wake = threading.Event()
        self.wake.set()  # first round: whatever was queued before the server started
        self.thread = threading.Thread(target=self.run, name="outbox-sender", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            with self.app.app_context():
                try:
                    deliver_all()
                except Exception:  # the next commit, or `flask mail send`, tries again
                    log.exception("background delivery failed")
                finally:
                    db.session.remove()


_senders: dict[int, BackgroundSender] = {}
_senders_lock = threading.Lock()


def _after_commit(session) -> None:
    if not session.info.pop("outbox_written", False):
        return
    if not has_request_context():
        # A command ends before a background thread could finish (and would leave its
        # claims behind): its emails wait for the server's next commit or `mail send`.
        return
    app = current_app._get_current_object()
    if mail_delivery(app) != "after_commit":
        return
    with _senders_lock:
        sender = _senders.get(id(app))
        if sender is None:
            sender = _senders[id(app)] = BackgroundSender(app)
    sender.wake.set()


def _after_rollback(session) -> None:
    session.info.pop("outbox_written", None)


def init_app(app: Flask) -> None:
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)
