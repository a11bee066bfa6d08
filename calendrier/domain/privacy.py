"""Personal data: kept only as long as needed, and shown to the person it is about.

Attendees' names, emails and phones are needed to run a date and to reach people
about it. Once the date is well past (``PRIVACY_RETENTION_DAYS``), ``purge``
anonymises them: the booking stays (seats, status, times: the statistics) but
nothing in it, or in the emails written about it, points to a person any more.
``export`` gathers everything held about one email address (GDPR right of access);
``erase`` anonymises it at once, at the person's request (right to erasure).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import String, cast, func, literal, or_, select, update
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import (
    ACTIVE_BOOKING_STATUSES,
    ANONYMOUS_DOMAIN,
    ApiToken,
    Attendance,
    AuditEntry,
    Booking,
    Feedback,
    Occurrence,
    OutboxMessage,
    OutboxStatus,
    User,
)
from ..timeutil import utcnow
from . import audit, newsletter, questions
from . import bookings as rules
from .bookings import normalise_email
from .errors import InvalidTransition, NotFound

PURGE_BATCH = 500


@dataclass
class PurgeReport:
    bookings: int = 0
    emails: int = 0
    subscriptions: int = 0  # newsletter subscriptions never confirmed, deleted


def anonymous_email(booking_id: int) -> str:
    """Unique per booking: the one-live-booking-per-email index still holds."""
    return f"booking-{booking_id}@{ANONYMOUS_DOMAIN}"


def purge(older_than_days: int, *, now: datetime | None = None) -> PurgeReport:
    """Anonymise the attendees of occurrences that ended ``older_than_days`` ago. Commits.

    Idempotent (bookings already anonymised are left alone) and done in batches,
    each its own short transaction, so it can run from cron at any time while the
    site takes bookings; stopped half way, the next run finishes the work.
    """
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    now = now or utcnow()
    cutoff = now - timedelta(days=older_than_days)
    ended = select(Occurrence.id).where(Occurrence.ends_at <= cutoff)
    report = PurgeReport()
    while True:
        ids = list(
            db.session.scalars(
                select(Booking.id)
                .where(Booking.occurrence_id.in_(ended), Booking.anonymised_at.is_(None))
                .order_by(Booking.id)
                .limit(PURGE_BATCH)
            )
        )
        if not ids:
            _forget_audit_texts(ended)
            report.subscriptions = newsletter.purge_pending(now=now)
            db.session.commit()
            return report
        try:
            report.emails += _anonymise(ids, now)
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        report.bookings += len(ids)


def _anonymise(booking_ids: list[int], now: datetime) -> int:
    db.session.execute(
        update(Booking),
        [
            {
                "id": booking_id,
                "name": "",
                "email": anonymous_email(booking_id),
                "phone": "",
                "note": "",
                # The old link must lead nowhere, whatever door reads it.
                "token": secrets.token_urlsafe(32),
                "idempotency_key": None,
                "anonymised_at": now,
                "group_name": None,  # "Mme Durand's class" names someone
            }
            for booking_id in booking_ids
        ],
    )
    questions.erase_answers(booking_ids)  # an employer, a need: they may say who it was
    # Emails about these bookings: keep that they were sent (and when), not what they said.
    unsent = OutboxMessage.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENDING))
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.booking_id.in_(booking_ids))
        .values(
            recipient=literal("booking-")
            + cast(OutboxMessage.booking_id, String)
            + literal(f"@{ANONYMOUS_DOMAIN}"),
            snapshot={},
            body_text=None,
            body_html="",
            ics=None,
            check_in_url=None,
            last_error="",
        )
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.booking_id.in_(booking_ids), unsent)
        .values(status=OutboxStatus.FAILED, last_error="anonymised before it was sent")
        .execution_options(synchronize_session=False)
    )
    # Feedback: the rating stays for the statistics, the comment (free text) goes.
    db.session.execute(
        update(Feedback)
        .where(Feedback.booking_id.in_(booking_ids))
        .values(comment="")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# What organisers wrote to or about attendees, kept in the audit log's details: the
# entries stay (who did what, when), their texts go with the attendees' data.
AUDIT_TEXTS = {
    "occurrence.message_sent": ("message",),
    "occurrence.cancelled": ("reason",),
    "booking.cancelled": ("reason",),
}


def _forget_audit_texts(occurrence_ids=None, booking_ids=None) -> None:
    """Blank the texts of the audit entries about these occurrences and their bookings
    (or, for an erasure, about these bookings only)."""
    if occurrence_ids is not None:
        bookings = select(Booking.id).where(Booking.occurrence_id.in_(occurrence_ids))
        about = or_(
            (AuditEntry.object_type == "occurrence") & AuditEntry.object_id.in_(occurrence_ids),
            (AuditEntry.object_type == "booking") & AuditEntry.object_id.in_(bookings),
        )
    else:
        about = (AuditEntry.object_type == "booking") & AuditEntry.object_id.in_(booking_ids)
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(AUDIT_TEXTS), about)
    )
    for entry in entries:
        details = dict(entry.details or {})
        keys = [
            k
            for k in AUDIT_TEXTS[entry.action]
            if details.get(k) not in (None, "", ERASURE_REASON)  # our words, not theirs
        ]
        if keys:
            entry.details = details | dict.fromkeys(keys, "")


# --- right of access ------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def email_digest(email: str) -> str:
    """Names an address in the audit log without writing it there.

    Keyed with the secret key: the log cannot be searched for a guessed address
    without it, yet an admin asked "did you erase x@y?" can compute the answer.
    """
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()
    return digest[:20]


def holds_anything(data: dict[str, Any]) -> bool:
    """Whether an ``export`` found anything at all about the address."""
    return bool(
        data["bookings"]
        or data["emails"]
        or data["history"]
        or data["organiser_account"]
        or data.get("newsletter")
    )


def export(email: str, *, actor: User | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Everything held about one email address, as plain JSON-able data.

    Reads only; with an ``actor`` (an admin answering a request) the look-up is
    written to the audit log, by the address's digest, and committed.
    """
    email = normalise_email(email)
    now = now or utcnow()
    bookings = list(
        db.session.scalars(
            select(Booking)
            .where(func.lower(Booking.email) == email)
            .options(
                joinedload(Booking.occurrence).joinedload(Occurrence.event),
                joinedload(Booking.occurrence).joinedload(Occurrence.venue),
            )
            .order_by(Booking.created_at, Booking.id)
        )
    )
    booking_ids = [b.id for b in bookings]
    messages = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(
                or_(
                    func.lower(OutboxMessage.recipient) == email,
                    OutboxMessage.booking_id.in_(booking_ids),
                )
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    )
    history = (
        list(
            db.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "booking", AuditEntry.object_id.in_(booking_ids))
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        )
        if booking_ids
        else []
    )
    user = db.session.scalar(
        select(User).where(func.lower(User.email) == email).options(joinedload(User.organisation))
    )
    data = {
        "email": email,
        "generated_at": now.isoformat(),
        "bookings": [_booking(b) for b in bookings],
        "emails": [_message(m) for m in messages],
        "history": [
            {
                "at": _iso(entry.at),
                "action": entry.action,
                "booking_id": entry.object_id,
                "details": entry.details,
            }
            for entry in history
        ],
        "organiser_account": _account(user) if user is not None else None,
        "newsletter": newsletter.export(email),
    }
    if actor is None:
        db.session.rollback()  # a read only: end the transaction (on SQLite it holds the lock)
        return data
    try:
        audit.record(
            actor,
            "privacy.exported",
            None,
            object_type="person",
            email_digest=email_digest(email),
            bookings=len(bookings),
            emails=len(messages),
        )
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return data


# --- right to erasure -------------------------------------------------------------

ERASURE_REASON = "right to erasure"


@dataclass
class ErasureReport:
    bookings: int = 0  # anonymised
    cancelled: int = 0  # live bookings of dates to come, cancelled first
    emails: int = 0
    newsletter: int = 0  # the subscription, deleted


def erase(email: str, *, actor: User | None = None, now: datetime | None = None) -> ErasureReport:
    """Anonymise every booking of one email address now, as the purge would later. Commits.

    The person's live bookings of dates still to come are first cancelled by the
    booking rules (one transaction each), so their seats go to the waiting list;
    they get no cancellation email, since they asked for this. Then all their
    bookings and the emails about them are anonymised in one transaction, with an
    audit row per booking (for its organisation's log) and one for the request,
    which names the address only by its digest. Run again, it finishes the work.
    """
    email = normalise_email(email)
    now = now or utcnow()
    mine = func.lower(Booking.email) == email
    live_to_come = list(
        db.session.scalars(
            select(Booking.id)
            .join(Booking.occurrence)
            .where(
                mine,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
                Occurrence.starts_at > now,
            )
            .order_by(Booking.id)
        )
    )
    db.session.rollback()
    report = ErasureReport()
    for booking_id in live_to_come:
        try:
            rules.cancel_by_organiser(
                booking_id, actor=actor, reason=ERASURE_REASON, notify=False, now=now
            )
        except (InvalidTransition, NotFound):
            continue  # ended meanwhile: nothing to free
        report.cancelled += 1
    try:
        held = list(
            db.session.scalars(
                select(Booking)
                .where(mine, Booking.anonymised_at.is_(None))
                .options(joinedload(Booking.occurrence).joinedload(Occurrence.event))
                .order_by(Booking.id)
            )
        )
        for booking in held:
            audit.record(
                actor,
                "booking.anonymised",
                booking,
                organisation_id=booking.occurrence.event.organisation_id,
                reference=booking.reference,
                occurrence_id=booking.occurrence_id,
                reason=ERASURE_REASON,
            )
        if held:
            report.emails = _anonymise([b.id for b in held], now)
            _forget_audit_texts(booking_ids=[b.id for b in held])
        report.bookings = len(held)
        report.newsletter = newsletter.forget(email)
        audit.record(
            actor,
            "privacy.erased",
            None,
            object_type="person",
            email_digest=email_digest(email),
            bookings=report.bookings,
            cancelled=report.cancelled,
            emails=report.emails,
        )
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return report


def _booking(booking: Booking) -> dict[str, Any]:
    occurrence = booking.occurrence
    return {
        "id": booking.id,
        "reference": booking.reference,
        "name": booking.name,
        "email": booking.email,
        "phone": booking.phone,
        "seats": booking.seats,
        "status": booking.status,
        "language": booking.locale,
        "source": booking.source,
        "note": booking.note,
        "consent_at": _iso(booking.consent_at),
        "created_at": _iso(booking.created_at),
        "confirmed_at": _iso(booking.confirmed_at),
        "cancelled_at": _iso(booking.cancelled_at),
        "checked_in_at": _iso(booking.checked_in_at),
        "event": occurrence.event.title,
        "event_slug": occurrence.event.slug,
        "starts_at": _iso(occurrence.starts_at),
        "ends_at": _iso(occurrence.ends_at),
        "venue": occurrence.venue.name,
        "wheelchair": booking.wheelchair,
        "group": booking.group_name,
        "answers": {answer.label: answer.value for answer in booking.answers},
        **_training_data(booking),
    }


def _training_data(booking: Booking) -> dict[str, Any]:
    """Attendance per sitting and the feedback given: theirs too."""
    sittings = db.session.scalars(
        select(Attendance.position)
        .where(Attendance.booking_id == booking.id)
        .order_by(Attendance.position)
    ).all()
    answer = db.session.scalar(select(Feedback).where(Feedback.booking_id == booking.id))
    return {
        "sittings_attended": list(sittings),
        "feedback": {
            "rating": answer.rating,
            "comment": answer.comment,
            "answered_at": _iso(answer.updated_at),
        }
        if answer
        else None,
    }


def _message(message: OutboxMessage) -> dict[str, Any]:
    return {
        "kind": message.kind,
        "recipient": message.recipient,
        "subject": message.subject,
        "status": message.status,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "body_text": message.body_text,
        "snapshot": message.snapshot,
    }


def _account(user: User) -> dict[str, Any]:
    tokens = list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))
    return {
        "email": user.email,
        "name": user.name,
        "organisation": user.organisation.slug if user.organisation else None,
        "is_admin": user.is_admin,
        "active": user.active,
        "language": user.locale,
        "created_at": _iso(user.created_at),
        "last_login_at": _iso(user.last_login_at),
        "api_tokens": [
            {
                "created_at": _iso(t.created_at),
                "last_used_at": _iso(t.last_used_at),
                "revoked_at": _iso(t.revoked_at),
            }
            for t in tokens
        ],
    }
