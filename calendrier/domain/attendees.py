"""Who is coming: attendee lists, totals, messages to attendees, check-in codes.

Reading here never changes a seat; changes to bookings go through ``bookings``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus, Occurrence, User
from . import audit
from .errors import InvalidInput
from .notifications import queue_booking_email
from .text import has_control_characters

_STATUS_ORDER = case(
    {"confirmed": 0, "pending": 1, "waitlisted": 2, "cancelled": 3, "rejected": 4},
    value=Booking.status,
    else_=5,
)
SORTS = {
    "name": (func.lower(Booking.name), Booking.id),
    "-name": (func.lower(Booking.name).desc(), Booking.id.desc()),
    "booked": (Booking.created_at, Booking.id),
    "-booked": (Booking.created_at.desc(), Booking.id.desc()),
    "seats": (Booking.seats.desc(), func.lower(Booking.name)),
    "status": (_STATUS_ORDER, Booking.created_at, Booking.id),
    "arrival": (Booking.checked_in_at.is_(None), Booking.checked_in_at, func.lower(Booking.name)),
}
FILTERS = (
    "active",
    "confirmed",
    "pending",
    "waitlisted",
    "arrived",
    "not_arrived",
    "cancelled",
    "all",
)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def attendee_list(
    occurrence_id: int, *, q: str = "", sort: str = "name", show: str = "active"
) -> list[Booking]:
    """The bookings of one date, searched by name, email, phone or reference."""
    query = select(Booking).where(Booking.occurrence_id == occurrence_id)
    q = (q or "").strip()
    if q:
        pattern = _like(q.lower())
        query = query.where(
            or_(
                func.lower(Booking.name).like(pattern, escape="\\"),
                func.lower(Booking.email).like(pattern, escape="\\"),
                func.lower(Booking.reference).like(pattern, escape="\\"),
                Booking.phone.like(pattern, escape="\\"),
            )
        )
    if show == "active":
        query = query.where(Booking.status.in_(ACTIVE_BOOKING_STATUSES))
    elif show == "arrived":
        query = query.where(Booking.checked_in_at.is_not(None))
    elif show == "not_arrived":
        query = query.where(
            Booking.status == BookingStatus.CONFIRMED, Booking.checked_in_at.is_(None)
        )
    elif show == "cancelled":
        query = query.where(Booking.status.in_((BookingStatus.CANCELLED, BookingStatus.REJECTED)))
    elif show in ("confirmed", "pending", "waitlisted"):
        query = query.where(Booking.status == show)
    query = query.options(selectinload(Booking.answers))  # shown in the list and exports
    return list(db.session.scalars(query.order_by(*SORTS.get(sort, SORTS["name"]))))


@dataclass(frozen=True)
class Totals:
    capacity: int
    confirmed: int = 0  # seats
    confirmed_bookings: int = 0
    arrived: int = 0  # seats of the confirmed bookings checked in
    arrived_bookings: int = 0
    waitlisted: int = 0
    pending: int = 0
    cancelled: int = 0

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.confirmed, 0)

    @property
    def fill_rate(self) -> float:
        return self.confirmed / self.capacity if self.capacity else 0.0


def totals(occurrence: Occurrence) -> Totals:
    """Seat counts by status, in one query."""
    rows = db.session.execute(
        select(
            Booking.status,
            func.count(Booking.id),
            func.coalesce(func.sum(Booking.seats), 0),
            func.count(Booking.checked_in_at),
            func.coalesce(
                func.sum(case((Booking.checked_in_at.is_not(None), Booking.seats), else_=0)), 0
            ),
        )
        .where(Booking.occurrence_id == occurrence.id)
        .group_by(Booking.status)
    )
    values: dict[str, int] = {}
    for status, count, seats, arrived_count, arrived_seats in rows:
        if status == BookingStatus.CONFIRMED:
            values.update(
                confirmed=int(seats),
                confirmed_bookings=int(count),
                arrived=int(arrived_seats),
                arrived_bookings=int(arrived_count),
            )
        elif status in (BookingStatus.WAITLISTED, BookingStatus.PENDING):
            values[str(status)] = int(seats)
        else:
            values["cancelled"] = values.get("cancelled", 0) + int(seats)
    return Totals(capacity=occurrence.capacity, **values)


MESSAGE_AUDIENCES = ("confirmed", "waitlisted", "pending")


def message_attendees(
    occurrence_id: int,
    message: str,
    *,
    statuses: tuple[str, ...] | list[str] = ("confirmed",),
    actor: User | None = None,
) -> int:
    """Email the organiser's message to the attendees of a date, through the outbox. Commits.

    Returns how many people it was written to.
    """
    occurrence = db.session.get(Occurrence, occurrence_id)
    if occurrence is None:
        raise LookupError(occurrence_id)
    errors: dict[str, object] = {}
    message = (message or "").strip()
    if not message:
        errors["message"] = _l("Write the message to send.")
    elif len(message) > 5000:
        errors["message"] = _l("At most %(num)d characters.", num=5000)
    elif has_control_characters(message, multiline=True):
        errors["message"] = _l("This field contains characters that are not allowed.")
    chosen = [s for s in statuses if s in MESSAGE_AUDIENCES]
    if not chosen:
        errors["statuses"] = _l("Choose who receives the message.")
    if errors:
        raise InvalidInput(errors)
    people = list(
        db.session.scalars(
            select(Booking)
            .where(Booking.occurrence_id == occurrence.id, Booking.status.in_(chosen))
            .order_by(Booking.id)
        )
    )
    for booking in people:
        queue_booking_email(booking, "message", message=message)
    audit.record(
        actor,
        "occurrence.message_sent",
        occurrence,
        organisation_id=occurrence.event.organisation_id,
        recipients=len(people),
        statuses=chosen,
        message=message[:500],
    )
    db.session.commit()
    return len(people)
