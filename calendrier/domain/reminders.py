"""Reminders the day before: one per confirmed booking, never twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from ..extensions import db
from ..models import (
    Booking,
    BookingStatus,
    Occurrence,
    OccurrenceStatus,
    OutboxMessage,
    OutboxStatus,
)
from ..timeutil import utcnow
from . import outbox
from .notifications import queue_booking_email

REMINDER_WINDOW = timedelta(days=1)


def reminder_key(booking: Booking) -> str:
    return f"reminder:{booking.id}"


def queue_reminders(now: datetime | None = None) -> int:
    """Queue the reminders due; returns how many. Commits.

    Safe to run as often as you like, and from several machines at once: the
    outbox's unique ``dedup_key`` makes a reminder a database-level "once", and
    a run that loses that race to another simply starts again.
    """
    now = now or utcnow()
    return outbox.queue_each_once(lambda: _due(now), reminder_key, _write)


def _due(now: datetime) -> list[Booking]:
    # FOR UPDATE OF booking (PostgreSQL): a cancellation committing meanwhile is
    # seen, so nobody who just cancelled is reminded of their booking.
    return db.session.scalars(
        select(Booking)
        .join(Booking.occurrence)
        .where(
            Booking.status == BookingStatus.CONFIRMED,
            Booking.anonymised_at.is_(None),
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.starts_at > now,
            Occurrence.starts_at <= now + REMINDER_WINDOW,
        )
        .order_by(Booking.id)
        .with_for_update(of=Booking)
    ).all()


def _write(booking: Booking, key: str) -> bool:
    queue_booking_email(booking, "reminder", dedup_key=key)
    return True


def drop_reminder(booking: Booking) -> None:
    """A booking that ends takes its reminder, if not yet sent, with it (caller commits)."""
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.booking_id == booking.id,
            OutboxMessage.kind == "reminder",
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
    )
