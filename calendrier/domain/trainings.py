"""Trainings: an occurrence made of sittings (half-days), and attendance kept per sitting.

An occurrence without sittings is one sitting, from its start to its end, whose
attendance is the booking's existing check-in (``Booking.checked_in_at``): so every
date, a screening as well as a five-day training, answers "who was there, when, for
how many hours" the same way. With sittings, each presence is an ``Attendance`` row
and ``checked_in_at`` stays "present at one sitting at least" (the first mark), which
is what the attendee lists, the exports, the feedback request and the certificate read.

Sittings are numbered by ``position`` from 0 in the order of time; the API names a
sitting by that position. Once attendance is recorded for a sitting, its times can no
longer change (a signed sheet exists for it), while later sittings may still be
added or moved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Attendance, Booking, BookingStatus, Occurrence, Sitting, User
from ..timeutil import localize, utcnow
from . import audit
from . import bookings as rules
from .errors import InvalidInput, InvalidTransition, NotFound

MAX_SITTINGS = 100
_SLOT = re.compile(r"^\s*(\d{1,2})[:hH.](\d{2})\s*[-\u2013à]\s*(\d{1,2})[:hH.](\d{2})\s*$")
_LINE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s+(.+)$")


@dataclass(frozen=True)
class Slot:
    """One sitting's times (aware, UTC)."""

    starts_at: datetime
    ends_at: datetime

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600


def slots(occurrence: Occurrence) -> list[Slot]:
    """The occurrence's sittings; without any, the occurrence itself is the one sitting."""
    if occurrence.sittings:
        return [Slot(s.starts_at, s.ends_at) for s in occurrence.sittings]
    return [Slot(occurrence.starts_at, occurrence.ends_at)]


def hours_planned(occurrence: Occurrence) -> float:
    return sum(slot.hours for slot in slots(occurrence))


def last_end(occurrence: Occurrence) -> datetime:
    return slots(occurrence)[-1].ends_at


def has_ended(occurrence: Occurrence, now: datetime | None = None) -> bool:
    return (now or utcnow()) >= last_end(occurrence)


def current_position(occurrence: Occurrence, now: datetime | None = None) -> int:
    """The sitting under way, else the next one to start, else the last one."""
    now = now or utcnow()
    every = slots(occurrence)
    for position, slot in enumerate(every):
        if now < slot.ends_at:
            return position
    return len(every) - 1


# --- sittings: given one by one, or by a rule -------------------------------------------


def parse_time_slots(text: str) -> list[tuple[time, time]]:
    """``"9:00-12:30, 14:00-17:30"`` (also ``9h00-12h30``); raises ValueError."""
    result = []
    for part in (p for p in re.split(r"[,;\n]", text or "") if p.strip()):
        match = _SLOT.match(part)
        if not match:
            raise ValueError(part.strip())
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            result.append((time(h1, m1), time(h2, m2)))
        except ValueError:
            raise ValueError(part.strip()) from None
    return result


def by_rule(
    first_day: date, last_day: date, weekdays: set[int], times: list[tuple[time, time]]
) -> list[dict[str, datetime]]:
    """Naive wall-clock sittings: each of ``weekdays`` (0 = Monday) between the two days,
    at each pair of ``times`` ("Monday to Friday, 9:00-12:30 and 14:00-17:30")."""
    result = []
    day = first_day
    while day <= last_day and len(result) <= MAX_SITTINGS:
        if day.weekday() in weekdays:
            for start, end in times:
                result.append(
                    {
                        "starts_at": datetime.combine(day, start),
                        "ends_at": datetime.combine(day, end),
                    }
                )
        day += timedelta(days=1)
    return result


def parse_lines(text: str) -> list[dict[str, datetime]]:
    """One sitting a line, ``2026-03-02 9:00-12:30`` (several slots a line allowed);
    raises ValueError with the line that cannot be read."""
    result = []
    for line in (raw for raw in (text or "").splitlines() if raw.strip()):
        match = _LINE.match(line)
        if not match:
            raise ValueError(line.strip())
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            raise ValueError(line.strip()) from None
        for start, end in parse_time_slots(match.group(2)):
            result.append(
                {"starts_at": datetime.combine(day, start), "ends_at": datetime.combine(day, end)}
            )
    return result


def as_lines(occurrence: Occurrence, tz: ZoneInfo) -> str:
    """The sittings the way ``parse_lines`` reads them, for an edit form."""
    lines = []
    for sitting in occurrence.sittings:
        start, end = sitting.starts_at.astimezone(tz), sitting.ends_at.astimezone(tz)
        lines.append(f"{start:%Y-%m-%d} {start:%H:%M}-{end:%H:%M}")
    return "\n".join(lines)


def check_sittings(
    add: Callable[[str, Any], None],
    given: Any,
    tz: ZoneInfo,
    starts: datetime | None,
    ends: datetime | None,
) -> list[Slot] | None:
    """Check sittings given as ``[{starts_at, ends_at}]`` (naive = wall clock in ``tz``).

    Each must end after it starts, lie within the occurrence, and not overlap another.
    ``add(field, message)`` records an error; returns the sorted slots, or None.
    """
    if given is None:
        return None
    if not isinstance(given, list | tuple):
        add("sittings", _l("Give a list of sittings, each with its start and end."))
        return None
    if len(given) > MAX_SITTINGS:
        add("sittings", _l("At most %(num)d sittings.", num=MAX_SITTINGS))
        return None
    result: list[Slot] = []
    for item in given:
        moments = []
        for name in ("starts_at", "ends_at"):
            value = item.get(name) if isinstance(item, dict) else None
            if not isinstance(value, datetime):
                add("sittings", _l("Each sitting needs a start and an end date and time."))
                return None
            if value.tzinfo is None:
                try:
                    value = localize(value, tz)
                except ValueError:
                    add("sittings", _l("A sitting's time does not exist or happens twice."))
                    return None
            moments.append(value.astimezone(ZoneInfo("UTC")))
        if moments[1] <= moments[0]:
            add("sittings", _l("Each sitting must end after it starts."))
            return None
        result.append(Slot(*moments))
    result.sort(key=lambda s: s.starts_at)
    for before, after in pairwise(result):
        if after.starts_at < before.ends_at:
            add("sittings", _l("Two sittings overlap."))
            return None
    outside = result and starts is not None and ends is not None
    if outside and (result[0].starts_at < starts or result[-1].ends_at > ends):
        add("sittings", _l("The sittings must lie between the start and the end of the date."))
        return None
    return result


def check_kept_sittings(
    add: Callable[[str, Any], None], occurrence: Occurrence, starts: datetime, ends: datetime
) -> None:
    """A date moved without new sittings must still hold the ones it has."""
    if occurrence.sittings and (
        occurrence.sittings[0].starts_at < starts or occurrence.sittings[-1].ends_at > ends
    ):
        add("sittings", _l("The sittings must lie between the start and the end of the date."))


def check_marked_kept(
    add: Callable[[str, Any], None], occurrence: Occurrence, new: list[Slot]
) -> None:
    """Sittings with attendance recorded keep their place and times."""
    marked = set(
        db.session.scalars(
            select(Attendance.position)
            .join(Attendance.booking)
            .where(Booking.occurrence_id == occurrence.id)
            .distinct()
        )
    )
    if not occurrence.sittings and any(b.checked_in_at is not None for b in occurrence.bookings):
        marked.add(0)  # the date's own check-in stands for its first sitting
    old = slots(occurrence)
    for position in marked:
        if position >= len(new) or (position < len(old) and new[position] != old[position]):
            add(
                "sittings",
                _l(
                    "Attendance is recorded for sitting %(num)d: it cannot change.",
                    num=position + 1,
                ),
            )
            return


def replace_sittings(occurrence: Occurrence, new: list[Slot]) -> bool:
    """Write ``new`` as the occurrence's sittings (the caller checked them and commits).

    Returns whether anything changed; a change moves the feeds' ``changed_at``.
    """
    if [Slot(s.starts_at, s.ends_at) for s in occurrence.sittings] == new:
        return False
    occurrence.sittings.clear()
    db.session.flush()
    for position, slot in enumerate(new):
        occurrence.sittings.append(
            Sitting(position=position, starts_at=slot.starts_at, ends_at=slot.ends_at)
        )
    occurrence.changed_at = utcnow()
    return True


# --- attendance ---------------------------------------------------------------------------


def present_at(booking: Booking) -> set[int]:
    """Positions of the sittings the booking was present at."""
    return attendance_by_booking([booking]).get(booking.id, set())


def attendance_by_booking(bookings: list[Booking]) -> dict[int, set[int]]:
    """For a list of bookings (one query): booking id -> positions present."""
    result: dict[int, set[int]] = {}
    with_sittings = [b.id for b in bookings if b.occurrence.sittings]
    if with_sittings:
        rows = db.session.execute(
            select(Attendance.booking_id, Attendance.position).where(
                Attendance.booking_id.in_(with_sittings)
            )
        )
        for booking_id, position in rows:
            result.setdefault(booking_id, set()).add(position)
    for booking in bookings:
        if not booking.occurrence.sittings and booking.checked_in_at is not None:
            result[booking.id] = {0}
    return result


def hours_attended(booking: Booking, present: set[int] | None = None) -> float:
    present = present_at(booking) if present is None else present
    every = slots(booking.occurrence)
    return sum(every[p].hours for p in present if p < len(every))


def mark(
    booking_id: int,
    position: int,
    present: bool = True,
    *,
    actor: User | None = None,
    now: datetime | None = None,
) -> Booking:
    """Mark a confirmed attendee present (or not) at one sitting. Commits.

    Marking twice keeps the first time. Without sittings, sitting 0 is the check-in.
    """
    now = now or utcnow()
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(booking_id)
    occurrence = booking.occurrence
    count = len(occurrence.sittings) or 1
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < count:
        db.session.rollback()
        raise InvalidInput({"sitting": _l("Choose a sitting from 0 to %(last)d.", last=count - 1)})
    if not occurrence.sittings:
        return rules.check_in(booking_id, actor=actor, undo=not present, now=now)
    try:
        rules.lock_occurrence(occurrence.id)
        db.session.refresh(booking)
        if booking.status != BookingStatus.CONFIRMED:
            raise InvalidTransition()
        existing = db.session.scalar(
            select(Attendance).where(
                Attendance.booking_id == booking.id, Attendance.position == position
            )
        )
        changed = False
        if present and existing is None:
            db.session.add(
                Attendance(
                    booking_id=booking.id,
                    position=position,
                    marked_at=now,
                    marked_by_id=actor.id if actor else None,
                )
            )
            changed = True
        elif not present and existing is not None:
            db.session.execute(delete(Attendance).where(Attendance.id == existing.id))
            changed = True
        if changed:
            db.session.flush()
            first = db.session.scalar(
                select(Attendance.marked_at)
                .where(Attendance.booking_id == booking.id)
                .order_by(Attendance.marked_at)
                .limit(1)
            )
            booking.checked_in_at = first
            audit.record(
                actor,
                "booking.attendance" if present else "booking.attendance_undone",
                booking,
                organisation_id=occurrence.event.organisation_id,
                reference=booking.reference,
                occurrence_id=occurrence.id,
                sitting=position,
            )
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return booking


def preload_sittings(occurrences: list[Occurrence]) -> None:
    """Load the sittings of many occurrences in one query (pages, feeds and the API list
    many dates: their query count must not grow with them). Always that one query, so
    a page costs the same whatever the session already holds."""
    if not occurrences:
        return
    found: dict[int, list[Sitting]] = {o.id: [] for o in occurrences}
    for sitting in db.session.scalars(
        select(Sitting)
        .where(Sitting.occurrence_id.in_(list(found)))
        .order_by(Sitting.occurrence_id, Sitting.position)
    ):
        found[sitting.occurrence_id].append(sitting)
    for occurrence in occurrences:
        if "sittings" not in occurrence.__dict__:
            set_committed_value(occurrence, "sittings", found[occurrence.id])
