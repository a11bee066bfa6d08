"""Feedback after every event: who is asked, what they answer, what the organiser reads.

Once a date has ended, each attendee who was there (present at one sitting at least)
is asked once, by email in their language, for a rating from 1 to 5 and a comment.
No-shows, cancelled and anonymised bookings are never asked. One answer per booking,
which the attendee may change from the same link (the last answer counts): a person
who clicked 3 by mistake should not have to write to the organiser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    Booking,
    BookingStatus,
    Event,
    Feedback,
    Occurrence,
    OccurrenceStatus,
)
from ..timeutil import utcnow
from . import outbox, trainings
from .errors import InvalidInput, InvalidTransition, NotFound
from .text import has_control_characters
from .training_mail import queue_training_email

# Dates that ended longer ago are not asked about any more (a first run in production
# does not write to a year of past attendees).
ASK_WITHIN = timedelta(days=14)
MAX_COMMENT = 2000


def request_key(booking: Booking) -> str:
    return f"feedback:{booking.id}"


def can_answer(booking: Booking, now: datetime | None = None) -> bool:
    """Attendees who were there may answer once the date has ended."""
    return (
        booking.status == BookingStatus.CONFIRMED
        and booking.anonymised_at is None
        and booking.checked_in_at is not None
        and not booking.occurrence.is_cancelled
        and trainings.has_ended(booking.occurrence, now)
    )


def answer_of(booking: Booking) -> Feedback | None:
    return db.session.scalar(select(Feedback).where(Feedback.booking_id == booking.id))


def record(
    booking_id: int, rating: object, comment: object = "", now: datetime | None = None
) -> Feedback:
    """Keep the attendee's answer (a new one replaces theirs). Commits."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(booking_id)
    if not can_answer(booking, now):
        db.session.rollback()
        raise InvalidTransition()
    errors: dict[str, object] = {}
    if isinstance(rating, str) and rating.strip().isdigit():
        rating = int(rating)
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        errors["rating"] = _l("Choose a rating from 1 to 5.")
    comment = comment if isinstance(comment, str) else ""
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = _l("At most %(num)d characters.", num=MAX_COMMENT)
    elif has_control_characters(comment, multiline=True):
        errors["comment"] = _l("Remove the control characters.")
    if errors:
        db.session.rollback()
        raise InvalidInput(errors)
    answer = answer_of(booking)
    if answer is None:
        answer = Feedback(booking_id=booking.id, rating=rating, comment=comment)
        db.session.add(answer)
    else:
        answer.rating, answer.comment = rating, comment
        answer.updated_at = now or utcnow()
    try:
        db.session.commit()
    except IntegrityError:  # the same person answering twice at once: the other one won
        db.session.rollback()
        return record(booking_id, rating, comment, now)
    return answer


# --- asking -------------------------------------------------------------------------------


def queue_requests(now: datetime | None = None) -> int:
    """Queue the feedback emails due; returns how many. Commits. Idempotent.

    The outbox's unique ``dedup_key`` makes "once per booking" a database guarantee,
    also for two runs at the same time (the one that loses starts again).
    """
    now = now or utcnow()
    return outbox.queue_each_once(
        lambda: _due(now),
        request_key,
        lambda booking, key: can_answer(booking, now) and _write(booking, key),
    )


def _due(now: datetime) -> list[Booking]:
    return db.session.scalars(
        select(Booking)
        .join(Booking.occurrence)
        .where(
            Booking.status == BookingStatus.CONFIRMED,
            Booking.anonymised_at.is_(None),
            Booking.checked_in_at.is_not(None),
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.ends_at <= now,
            Occurrence.ends_at > now - ASK_WITHIN,
        )
        .order_by(Booking.id)
        .with_for_update(of=Booking)
    ).all()


def _write(booking: Booking, key: str) -> bool:
    queue_training_email(booking, "feedback_request", dedup_key=key)
    return True


# --- results --------------------------------------------------------------------------


@dataclass
class Results:
    count: int = 0
    average: float | None = None
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))
    answers: list[tuple[Feedback, Booking]] = field(default_factory=list)


def results(
    *, occurrence_id: int | None = None, organisation_id: int | None = None, limit: int = 200
) -> Results:
    """The answers about one date, or about an organisation's dates (None: everyone's)."""
    query = select(Feedback, Booking).join(Feedback.booking).join(Booking.occurrence)
    if occurrence_id is not None:
        query = query.where(Booking.occurrence_id == occurrence_id)
    if organisation_id is not None:
        query = query.join(Occurrence.event).where(Event.organisation_id == organisation_id)
    counts = db.session.execute(
        query.with_only_columns(Feedback.rating, func.count()).group_by(Feedback.rating)
    ).all()
    out = Results()
    for rating, count in counts:
        out.distribution[rating] = count
    out.count = sum(out.distribution.values())
    if out.count:
        out.average = round(sum(r * n for r, n in out.distribution.items()) / out.count, 2)
    out.answers = [
        (answer, booking)
        for answer, booking in db.session.execute(
            query.order_by(Feedback.updated_at.desc(), Feedback.id.desc()).limit(limit)
        )
    ]
    return out


# --- in the attendee exports ----------------------------------------------------------


def with_attendance_and_feedback(table: list[list], bookings: list[Booking]) -> list[list]:
    """The export's table with four more columns: sittings attended, hours attended,
    rating and comment (two queries, whatever the number of bookings)."""
    present = trainings.attendance_by_booking(bookings)
    answers = {
        a.booking_id: a
        for a in db.session.scalars(
            select(Feedback).where(Feedback.booking_id.in_([b.id for b in bookings]))
        )
    }
    header = [
        str(_l("Sittings attended")),
        str(_l("Hours attended")),
        str(_l("Rating")),
        str(_l("Comment")),
    ]
    rows = []
    for row, booking in zip(table[1:], bookings, strict=True):
        marks = sorted(present.get(booking.id, set()))
        answer = answers.get(booking.id)
        rows.append(
            [
                *row,
                ", ".join(str(p + 1) for p in marks),
                round(trainings.hours_attended(booking, set(marks)), 2),
                answer.rating if answer else "",
                answer.comment if answer else "",
            ]
        )
    return [[*table[0], *header], *rows]
