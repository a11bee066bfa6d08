"""The email outbox: what to tell whom, written with the change; rendered and sent later.

**What a row holds.** The intent, not the finished email: its ``kind``, the booking it
is about (``booking_id``, when there is one), the language (``locale``) and a small
``snapshot`` (JSON) of what the email must state as of the change: the status it
announces, the seats, the date and the place, the organiser's words. Writing it costs
the change's transaction one small insert (``queue``); the templates, the ``.ics`` and
the QR code are made by the worker, when it sends.

**Kinds: the extension point.** Each kind has a renderer, registered with
``@renders("kind", ...)``: a function ``(row) -> Email`` called at send time, inside the
row's language (``force_locale``), that reads what it needs (the booking as it is now,
the snapshot as it was) and returns the subject, text, HTML and optional ``.ics`` and
check-in code. When what the email would state has become untrue (a confirmation for a
booking cancelled meanwhile), the renderer raises ``Skip("why")``: the row ends
``skipped``, with the reason, and is never sent. A new kind of email (an organiser's
message, a feedback request, a certificate, a newsletter letter) is a module that calls
``queue(kind, recipient, snapshot=...)`` in its transaction and registers its renderer;
the module must be imported by the app factory (its blueprint or domain import does) so
the worker knows it. A row whose kind has no renderer fails at once (``mail status``
shows it; ``mail retry`` sends it once the code is there). Rows written before this
design (rendered at write time, ``body_text`` set) are sent as written.

**Delivery**: claimed in batches, sent after the commit, retried.

The rules that make each message go out once, and never be lost:

- A message is claimed (status ``sending``, a claim token unique to this
  delivery round) in its own short transaction, so two workers never take the
  same row: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's single writer
  (``BEGIN IMMEDIATE``) elsewhere.
- Just before talking to the mail server the worker renews its claim, for that
  row and the next ones of its batch at once (``RENEW_GROUP``), and trusts the
  renewal for ``CLAIM_FRESH`` (half of ``STALE_CLAIM``, so no other worker can take
  a row over meanwhile); a row whose claim was taken over, or that was deleted (an
  unsubscription), is left alone. The renderer still reads, for each row just
  before it goes, whether what it states is true.
- A message sent is recorded in the transaction of the next one's reads, which
  commits before the next one goes: at most one message is ever sent and not yet
  recorded (a failed renderer's rollback writes the record again).
- A claim left by a worker that died is taken over once it is older than
  ``STALE_CLAIM``, so nothing is lost. Each claim counts as an attempt, so a
  message that kills its worker every time ends up ``failed`` instead of
  looping forever.
- A temporary failure (server down, 4xx) is queued again with exponential
  backoff; a permanent refusal (5xx: no such mailbox) fails at once.

The one window left is a worker dying after the server accepted a message and
before its record is committed (with the next one's reads, milliseconds later):
that one message goes out twice. It carries the
same ``Message-ID`` both times, which lets mail clients merge the copies.

**A round of bulk mail** (a letter to thousands) costs each email two statements
(its renderer's read, its record) and one commit: the claim, the renewals and what
every email of the round reads (``once_per_round``: the letter's frozen content) are
shared, and the MIME message of a bulk email (``Email.fill``: the same text for all
but each recipient's values, e.g. an unsubscribe link) is written once per round by
the email package and filled in for each recipient (``Mould``), byte for byte what
the email package would write for it.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context
from flask_babel import force_locale
from flask_mail import Message, email_dispatched, sanitize_address
from sqlalchemy import event, func, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError

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
# Claims are renewed for a group of messages at once, just before the first of them goes.
# A renewal is trusted for CLAIM_FRESH, half of STALE_CLAIM: no other worker can take a
# message over before this one has sent it (a send gives up after MAIL_TIMEOUT).
RENEW_GROUP = 25
CLAIM_FRESH = STALE_CLAIM / 2


class CalendarMessage(Message):
    """A Flask-Mail message whose calendar part says its iCalendar METHOD."""

    ics_method: str | None = None

    def _message(self):
        msg = super()._message()
        for part in msg.walk():
            if part.get_content_type() == "text/calendar" and self.ics_method:
                part.set_param("charset", "utf-8", requote=False)
                part.set_param("method", self.ics_method, requote=False)
        # Header lines up to RFC 5322's limit, not 78: an unsubscribe URL cannot be folded,
        # and folding it made the email package encode it (RFC 2047), which mail services
        # do not read as a link. Under that policy the email package encodes the sender's
        # name itself: given Flask-Mail's encoded form, it would encode it twice.
        msg.policy = msg.policy.clone(max_line_length=998)
        del msg["From"]
        msg["From"] = self.sender
        return msg


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    claimed: int = 0
    skipped: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.claimed += other.claimed
        self.skipped += other.skipped


# --- the intent, and the renderers that turn it into an email ----------------


@dataclass
class Email:
    """One rendered email, as the worker sends it."""

    subject: str
    text: str
    html: str = ""
    ics: str | None = None
    ics_method: str | None = None  # the attachment's METHOD (PUBLISH, CANCEL)
    check_in_url: str | None = None  # attached as an inline QR code when set
    headers: dict[str, str] | None = None  # e.g. a letter's List-Unsubscribe
    # A bulk email's own values ({placeholder: value}, e.g. its unsubscribe URL): ``text``,
    # ``html`` and ``headers`` then hold the placeholders, the same for every recipient,
    # and the MIME message is written once per delivery round, each email filling it in.
    fill: dict[str, str] | None = None

    def filled(self, text: str) -> str:
        for placeholder, value in (self.fill or {}).items():
            text = text.replace(placeholder, value)
        return text


class Skip(Exception):
    """What this email would state is no longer true: it is not sent (the reason is kept)."""


class UnknownKind(LookupError):
    """No renderer is registered for a row's kind: it fails at once, nothing is guessed."""


Renderer = Callable[[OutboxMessage], Email]
RENDERERS: dict[str, Renderer] = {}
# Bulk mail (a newsletter to thousands) waits behind the emails about bookings.
BULK_KINDS: set[str] = set()


def renders(*kinds: str, bulk: bool = False) -> Callable[[Renderer], Renderer]:
    """Register the renderer of one or more kinds of email (see the module's docstring).

    ``bulk``: the kind is sent after every other due email (``claim`` orders so).
    """

    def register(renderer: Renderer) -> Renderer:
        for kind in kinds:
            RENDERERS[kind] = renderer
            if bulk:
                BULK_KINDS.add(kind)
        return renderer

    return register


def queue(kind: str, recipient: str, **fields: Any) -> OutboxMessage:
    """Write the intent of an email in the caller's transaction (the caller commits).

    Takes what ``intent`` takes.
    """
    row = OutboxMessage(**intent(kind, recipient, **fields))
    db.session.add(row)
    mark_written()
    return row


def intent(
    kind: str,
    recipient: str,
    *,
    booking_id: int | None = None,
    locale: str = "fr",
    snapshot: dict[str, Any] | None = None,
    ics_method: str | None = None,
    dedup_key: str | None = None,
) -> dict[str, Any]:
    """The columns of ``queue``'s row (a statement that writes it itself takes these and
    calls ``mark_written``).

    ``ics_method``: the calendar file it will carry (``PUBLISH``, ``CANCEL``), decided by
    the change itself. ``dedup_key`` (unique) makes "once" a database guarantee, e.g.
    ``reminder:<id>``.
    """
    return {
        "kind": kind,
        "booking_id": booking_id,
        "recipient": recipient,
        "locale": locale,
        "snapshot": snapshot or {},
        "ics_method": ics_method,
        "dedup_key": dedup_key,
    }


def queued_keys(keys: list[str]) -> set[str]:
    """Which of these ``dedup_key``s are already in the outbox, in one query."""
    if not keys:
        return set()
    return set(
        db.session.scalars(select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(keys)))
    )


BATCH_RETRIES = 3


def queue_each_once(
    find: Callable[[], list[Any]],
    key: Callable[[Any], str],
    write: Callable[[Any, str], bool],
) -> int:
    """A batch job's emails (reminders, feedback requests, certificates), each once. Commits.

    ``find`` reads the candidates, ``key`` names each one's email (its unique ``dedup_key``),
    ``write`` queues it with that key, or returns False when it is not due. Two runs at
    once: the one whose commit meets the other's keys rolls back and starts again.
    """

    def once() -> int:
        candidates = find()
        already = queued_keys([key(c) for c in candidates])
        count = sum(1 for c in candidates if key(c) not in already and write(c, key(c)))
        db.session.commit()
        return count

    for _attempt in range(BATCH_RETRIES):
        try:
            return once()
        except IntegrityError:
            db.session.rollback()  # another run queued some of these first
    return once()


_round: ContextVar[dict | None] = ContextVar("outbox_round", default=None)


def once_per_round(key: Hashable, make: Callable[[], Any]) -> Any:
    """``make()``, computed once per delivery round for ``key`` (what it depends on).

    For what every email of a round would otherwise read again, like a letter's frozen
    content; never for what must be true at send time (a booking, a subscription), which
    each renderer reads just before its email goes. Outside a round: ``make()``.
    """
    memo = _round.get()
    if memo is None:
        return make()
    if key not in memo:
        memo[key] = make()
    return memo[key]


def render(row: OutboxMessage) -> Email:
    """The email ``row`` stands for, as true now. Raises ``Skip`` or ``UnknownKind``."""
    if row.body_text is not None:  # written before renderers existed: sent as written
        return Email(
            subject=row.subject,
            text=row.body_text,
            html=row.body_html or "",
            ics=row.ics,
            ics_method=row.ics_method if row.ics else None,
            check_in_url=row.check_in_url,
        )
    renderer = RENDERERS.get(row.kind)
    if renderer is None:
        raise UnknownKind(f"no renderer for emails of kind {row.kind!r}")
    with force_locale(row.locale or "fr"):
        return renderer(row)


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


def _renew(ids: list[int], worker: str, now: datetime) -> set[int]:
    """Renew the claim on these rows just before sending them. Commits. The ones still
    this worker's: a row taken over (or deleted, e.g. by an unsubscription) is not."""
    mine = db.session.scalars(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .values(claimed_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    result = set(mine)
    db.session.commit()
    return result


def _write(row_id: int, worker: str, **values) -> None:
    """What became of a claimed row, in the current transaction (if it is still ours)."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == worker)
        .values(**values)
    )


def _finish(row_id: int, worker: str, **values) -> None:
    _write(row_id, worker, **values)
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


def connection_lost(error: Exception) -> bool:
    """The line to the mail server is gone (down, reset, timed out), not a refusal."""
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


def _release(ids: list[int], worker: str, until: datetime) -> int:
    """Put back claimed messages that were not tried: that claim was no attempt. Commits."""
    if not ids:
        return 0
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.claimed_by == worker,
            OutboxMessage.status == OutboxStatus.SENDING,
        )
        .values(
            status=OutboxStatus.QUEUED,
            claimed_by=None,
            attempts=OutboxMessage.attempts - 1,
            next_attempt_at=until,
            last_error="not tried: the connection to the mail server was lost",
        )
    )
    db.session.commit()
    return result.rowcount or 0


def is_permanent(error: Exception) -> bool:
    """A 5xx answer about this message, or a kind nobody renders: retrying will not help."""
    if isinstance(error, UnknownKind):
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


def build_message(row: OutboxMessage, email: Email | None = None) -> CalendarMessage:
    """The MIME message for ``row`` (rendered now unless ``email`` is given)."""
    email = email or render(row)
    headers = {name: email.filled(value) for name, value in (email.headers or {}).items()}
    msg = CalendarMessage(
        subject=email.subject,
        sender=current_settings().sender,
        recipients=[row.recipient],
        body=email.filled(email.text),
        html=email.filled(email.html) or None,
        extra_headers=headers or None,
    )
    msg.msgId = message_id(row)
    if email.ics:
        msg.ics_method = email.ics_method
        filename = "cancel.ics" if email.ics_method == "CANCEL" else "invitation.ics"
        msg.attach(filename, "text/calendar", email.ics.encode())
    if email.check_in_url and email.html:
        msg.attach(
            "check-in.png",
            "image/png",
            qr_png(email.check_in_url),
            "inline",
            headers={"Content-ID": f"<{EMAIL_IMAGE_ID}>"},
        )
    return msg


def wire_bytes(email: Email, msg: CalendarMessage) -> bytes:
    """The bytes that go to the mail server for ``msg`` (``build_message(row, email)``).

    For a bulk email (``fill``, no attachment) they are the round's mould with this email's
    values put in: what the email package would write, written once per round (it costs
    more than the rest of a letter's sending), then checked; otherwise ``msg.as_bytes()``.
    """
    if email.fill and not email.ics and not email.check_in_url:
        key = ("mould", email.subject, email.text, email.html, msg.sender)
        key += tuple(sorted((email.headers or {}).items()))
        mould = once_per_round(key, lambda: Mould.of(email, msg.sender))
        raw = mould.fill(email, msg) if mould is not None else None
        if raw is not None:
            return raw
    return msg.as_bytes()


# The values a mould may take in: printable ASCII, no "=" (nothing that could make a MIME
# boundary or need encoding), as an URL with a token is.
MOULD_VALUE = re.compile(r"[!-<>-~]*")


@dataclass
class Mould:
    """A bulk email's MIME message written with its placeholders, once per round."""

    head: bytes  # the top header block, where each email's To, Date and Message-ID go
    body: bytes
    boundaries: dict[bytes, int]  # how many times each MIME boundary is in the message

    TO = "recipient@mould.invalid"
    MESSAGE_ID = "<message@mould.invalid>"
    DATE = 0.0

    @classmethod
    def of(cls, email: Email, sender: str) -> Mould | None:
        """None when a placeholder is not written as itself (say, encoded in a header)."""
        msg = CalendarMessage(
            subject=email.subject,
            sender=sender,
            recipients=[cls.TO],
            body=email.text,
            html=email.html or None,
            extra_headers=email.headers or None,
            date=cls.DATE,
        )
        msg.msgId = cls.MESSAGE_ID
        mime = msg._message()
        raw = mime.as_bytes()
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator or any(head.count(line) != 1 for line in cls._lines(cls.own()).values()):
            return None
        written = [email.text, email.html, *(email.headers or {}).values()]
        for placeholder in email.fill or {}:
            if raw.count(placeholder.encode()) != sum(t.count(placeholder) for t in written):
                return None
        boundaries = [p.get_boundary() for p in mime.walk() if p.is_multipart()]
        return cls(head, body, {b.encode(): raw.count(b.encode()) for b in boundaries if b})

    @classmethod
    def own(cls, msg: CalendarMessage | None = None) -> dict[str, str]:
        """The headers of one email (``msg``), or of the mould, as Flask-Mail writes them."""
        if msg is None:
            return {
                "To": cls.TO,
                "Date": formatdate(cls.DATE, localtime=True),
                "Message-ID": cls.MESSAGE_ID,
            }
        return {
            "To": sanitize_address(msg.recipients[0]),
            "Date": formatdate(msg.date, localtime=True),
            "Message-ID": msg.msgId,
        }

    @staticmethod
    def _lines(headers: dict[str, str]) -> dict[str, bytes]:
        return {name: f"\r\n{name}: {value}\r\n".encode() for name, value in headers.items()}

    def fill(self, email: Email, msg: CalendarMessage) -> bytes | None:
        """The bytes of ``msg``; None if a value is not one a mould may take."""
        if len(msg.recipients) != 1 or msg.cc or msg.bcc:
            return None
        values, own = email.fill or {}, self.own(msg)
        if not all(MOULD_VALUE.fullmatch(v) for v in [*values.values(), own["To"]]):
            return None
        head, lines = self.head, self._lines(own)
        for name, line in self._lines(self.own()).items():
            head = head.replace(line, lines[name])
        raw = head + b"\r\n\r\n" + self.body
        for placeholder, value in values.items():
            raw = raw.replace(placeholder.encode(), value.encode())
        if any(raw.count(b) != n for b, n in self.boundaries.items()):
            return None
        return raw


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
        # The server's certificate is checked (smtplib's default checks nothing, and the
        # login that follows would go to whoever answered): the system's authorities, or
        # MAIL_CA_FILE's (a private one).
        tls = ssl.create_default_context(cafile=self.app.config.get("MAIL_CA_FILE") or None)
        if state.use_ssl:
            self.host = smtplib.SMTP_SSL(
                state.server, state.port, timeout=self.timeout, context=tls
            )
        else:
            self.host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        try:
            if state.use_tls:
                self.host.starttls(context=tls)
            if state.username and state.password:
                self.host.login(state.username, state.password)
        except BaseException:
            self.host.close()
            raise
        return self

    def send(self, msg: Message, raw: bytes | None = None) -> None:
        """``raw``: the message's bytes when already written (``wire_bytes``)."""
        self.host.sendmail(msg.sender, list(msg.send_to), raw or msg.as_bytes())
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

    def send(self, msg: Message, raw: bytes | None = None) -> None:
        number = msg.msgId.strip("<>").split("@")[0]
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{number}.eml"
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(raw or msg.as_bytes())
        partial.replace(path)  # whoever watches the folder never sees half an email
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


def _read(ids: list[int]) -> list[OutboxMessage]:
    """The claimed rows, as copies outside the session: the commits of the round neither
    expire nor reload them (for a batch held in the session, each commit would cost the
    whole batch), and an outbox row the caller holds is left as it is."""
    keys = [attribute.key for attribute in inspect(OutboxMessage).column_attrs]
    found = db.session.execute(
        select(*[getattr(OutboxMessage, key) for key in keys])
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    )
    return [OutboxMessage(**values) for values in found.mappings()]


def deliver(limit: int = 100, worker: str | None = None) -> DeliveryReport:
    """Send up to ``limit`` due messages; failures are queued again with backoff."""
    worker = worker or worker_name()
    report = DeliveryReport()
    ids = claim(limit, worker)
    report.claimed = len(ids)
    if not ids:
        return report
    rows = _read(ids)
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
    this_round = _round.set({})
    renewed: set[int] = set()  # the rows of the last renewal...
    mine: set[int] = set()  # ...and those of them still this worker's
    renewed_at = utcnow()
    # The record of the message just sent, written and committed with the next one's
    # reads, before the next one goes: at most one message is sent and not recorded.
    unsaved: dict[str, Any] | None = None

    def roll_back() -> None:
        """After a renderer failed: its reads undone, the record before written again."""
        db.session.rollback()
        if unsaved is not None:
            _write(worker=worker, **unsaved)

    try:
        for position, row in enumerate(rows):
            if row.id not in renewed or utcnow() - renewed_at >= CLAIM_FRESH:
                group = [r.id for r in rows[position : position + RENEW_GROUP]]
                renewed_at = utcnow()
                renewed, mine = set(group), _renew(group, worker, renewed_at)
                unsaved = None  # committed with the renewal
            if row.id not in mine:
                continue  # taken over by another worker: it is theirs now
            try:
                email = render(row)  # as things are now, just before it goes
            except Skip as reason:
                roll_back()
                _finish(row.id, worker, status=OutboxStatus.SKIPPED, last_error=str(reason))
                unsaved = None
                report.skipped += 1
                continue
            except Exception as error:
                roll_back()
                log.exception("rendering outbox %s failed", row.id)
                _fail(row, worker, error, utcnow())
                unsaved = None
                report.failed += 1
                continue
            db.session.commit()  # the reads done: hold no transaction while talking SMTP
            unsaved = None
            try:
                msg = build_message(row, email)
                connection.send(msg, wire_bytes(email, msg))
            except Exception as error:
                log.warning("sending outbox %s failed: %s", row.id, error)
                now = utcnow()
                _fail(row, worker, error, now)
                report.failed += 1
                if connection_lost(error):
                    # The rest of the batch would wait a timeout each on a dead line:
                    # it is put back at once, to be retried with this one.
                    rest = [r.id for r in rows[position + 1 :]]
                    report.failed += _release(rest, worker, now + backoff(row.attempts))
                    break
            else:
                unsaved = {
                    "row_id": row.id,
                    "status": OutboxStatus.SENT,
                    "sent_at": utcnow(),
                    "subject": email.subject[:300],  # what went out, for the record
                    "last_error": "",
                }
                _write(worker=worker, **unsaved)
                report.sent += 1
        if unsaved is not None:
            db.session.commit()
    finally:
        _round.reset(this_round)
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


@dataclass
class Waiting:
    """Messages queued for a later attempt (a backoff after a failure), and the soonest."""

    count: int
    next_at: datetime | None
    last_error: str = ""  # why the latest of them failed (the mail server's answer)


def waiting(now: datetime | None = None) -> Waiting:
    """What waits for its backoff (``mail send`` and ``mail status`` say it)."""
    now = now or utcnow()
    queued = (OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at > now)
    count, soonest = db.session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.next_attempt_at)).where(*queued)
    ).one()
    last_error = ""
    if count:
        last_error = db.session.scalar(
            select(OutboxMessage.last_error)
            .where(*queued)
            .order_by(OutboxMessage.next_attempt_at.desc(), OutboxMessage.id.desc())
            .limit(1)
        )
    db.session.commit()
    return Waiting(count or 0, soonest if count else None, last_error or "")


def bring_forward(now: datetime | None = None) -> int:
    """Make the messages waiting for their backoff due now (``mail send --now``). Commits.

    Only rows still ``queued`` change: one a worker has claimed meanwhile keeps its claim,
    and each is still sent by whoever claims it, once.
    """
    now = now or utcnow()
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at > now)
        .values(next_attempt_at=now)
    )
    db.session.commit()
    return result.rowcount or 0


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
    """Called when a message is added to the session (``queue`` does): deliver once committed."""
    db.session.info["outbox_written"] = True


class BackgroundSender:
    """One daemon thread per app that delivers the outbox when woken after a commit."""

    def __init__(self, app: Flask):
        self.app = app
        self.wake = threading.Event()
        self.wake.set()  # first round: whatever was queued before the server started
        self.stopping = False
        self.thread = threading.Thread(target=self.run, name="outbox-sender", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.stopping:
                return
            with self.app.app_context():
                try:
                    deliver_all()
                except Exception:  # the next commit, or `flask mail send`, tries again
                    log.exception("background delivery failed")
                finally:
                    db.session.remove()

    def stop(self, timeout: float = 60) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join(timeout)


_senders: dict[int, BackgroundSender] = {}
_senders_lock = threading.Lock()


def stop_background_delivery(app: Flask) -> None:
    """End the app's after-commit sender once its round is done; call it before disposing
    the app's engine, or the round in progress hands its connection back to a pool that
    is gone, and that connection is closed by the garbage collector, whenever it runs."""
    with _senders_lock:
        sender = _senders.pop(id(app), None)
    if sender is not None:
        sender.stop()


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
