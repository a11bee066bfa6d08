"""Figures for the organisers' dashboard: fill rates, bookings over time, no-shows.

``organisation_id=None`` means the whole cluster (admins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus, Event, Occurrence
from ..timeutil import utcnow
from . import bookings as rules


def _scoped(query, organisation_id: int | None):
    if organisation_id is not None:
        query = query.where(Event.organisation_id == organisation_id)
    return query


def upcoming(
    organisation_id: int | None, limit: int = 12, now: datetime | None = None
) -> list[tuple[Occurrence, int]]:
    """The next dates with their confirmed seats."""
    now = now or utcnow()
    query = _scoped(
        select(Occurrence)
        .join(Occurrence.event)
        .where(Occurrence.ends_at > now)
        .options(joinedload(Occurrence.event), joinedload(Occurrence.venue))
        .order_by(Occurrence.starts_at, Occurrence.id)
        .limit(limit),
        organisation_id,
    )
    occurrences = list(db.session.scalars(query))
    taken = rules.seats_taken_by_occurrence([o.id for o in occurrences])
    return [(o, taken[o.id]) for o in occurrences]


@dataclass(frozen=True)
class DayCount:
    day: date
    seats: int


def bookings_per_day(
    organisation_id: int | None, days: int = 30, now: datetime | None = None
) -> list[DayCount]:
    """Seats booked each day (by the day the booking was made, in local time)."""
    now = now or utcnow()
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    query = _scoped(
        select(Booking.created_at, Booking.seats)
        .join(Booking.occurrence)
        .join(Occurrence.event)
        .where(Booking.created_at >= since, Booking.source != "import"),
        organisation_id,
    )
    counts = {first + timedelta(days=n): 0 for n in range(days)}
    for created_at, seats in db.session.execute(query):
        day = created_at.astimezone(tz).date()
        if day in counts:
            counts[day] += seats
    return [DayCount(day, seats) for day, seats in counts.items()]


# The day labels under the bars ("30/11", 11px): centres at least this far apart in the
# chart's own units. The SVG scales as a whole (viewBox), so this holds at any width.
AXIS_LABEL_SPACING = 44


def axis_labels(count: int, plot_width: float = 600, every: int = 7) -> list[bool]:
    """Which of ``count`` side-by-side bars get their label: the last (today) and every
    ``every``-th before it, spread further where the bars are narrow, so that two labels
    never overlap (``30/11`` over ``1/12``) however many days the chart shows."""
    if count <= 0:
        return []
    every = max(every, math.ceil(AXIS_LABEL_SPACING / (plot_width / count)))
    return [(count - 1 - index) % every == 0 for index in range(count)]


@dataclass(frozen=True)
class NoShow:
    event_id: int
    title: str
    expected: int  # confirmed seats on dates where check-in was used
    arrived: int
    dates: int

    @property
    def rate(self) -> float:
        return 1 - self.arrived / self.expected if self.expected else 0.0


def no_show_rates(
    organisation_id: int | None, days: int = 180, now: datetime | None = None
) -> list[NoShow]:
    """Per event, the share of confirmed seats that did not come.

    Only past dates where someone was checked in count: a date where the
    organiser did not use check-in says nothing about who came.
    """
    now = now or utcnow()
    arrived_seats = func.coalesce(
        func.sum(case((Booking.checked_in_at.is_not(None), Booking.seats), else_=0)), 0
    )
    per_date = _scoped(
        select(
            Event.id,
            Event.title,
            Occurrence.id,
            func.coalesce(func.sum(Booking.seats), 0),
            arrived_seats,
        )
        .select_from(Booking)
        .join(Booking.occurrence)
        .join(Occurrence.event)
        .where(
            Booking.status == BookingStatus.CONFIRMED,
            Occurrence.ends_at <= now,
            Occurrence.ends_at > now - timedelta(days=days),
        )
        .group_by(Event.id, Event.title, Occurrence.id)
        .having(arrived_seats > 0),
        organisation_id,
    )
    by_event: dict[int, list] = {}
    for event_id, title, _occurrence_id, expected, arrived in db.session.execute(per_date):
        entry = by_event.setdefault(event_id, [title, 0, 0, 0])
        entry[1] += int(expected)
        entry[2] += int(arrived)
        entry[3] += 1
    result = [
        NoShow(event_id, title, expected, arrived, dates)
        for event_id, (title, expected, arrived, dates) in by_event.items()
    ]
    return sorted(result, key=lambda n: (-n.rate, n.title))


@dataclass(frozen=True)
class Summary:
    upcoming_dates: int
    seats_booked: int
    pending_requests: int
    waiting: int


def summary(organisation_id: int | None, now: datetime | None = None) -> Summary:
    """Headline figures for the dates to come."""
    now = now or utcnow()
    dates = db.session.scalar(
        _scoped(
            select(func.count(Occurrence.id))
            .join(Occurrence.event)
            .where(Occurrence.ends_at > now, Occurrence.status == "scheduled"),
            organisation_id,
        )
    )
    rows = db.session.execute(
        _scoped(
            select(Booking.status, func.coalesce(func.sum(Booking.seats), 0))
            .join(Booking.occurrence)
            .join(Occurrence.event)
            .where(Occurrence.ends_at > now, Booking.status.in_(ACTIVE_BOOKING_STATUSES))
            .group_by(Booking.status),
            organisation_id,
        )
    )
    seats = {str(status): int(total) for status, total in rows}
    return Summary(
        upcoming_dates=int(dates or 0),
        seats_booked=seats.get("confirmed", 0),
        pending_requests=seats.get("pending", 0),
        waiting=seats.get("waitlisted", 0),
    )
