"""How the programme is built: events, occurrences, recurrences, venues, organisations, accounts.

Every function here checks all of its input first and raises ``InvalidInput`` with a
message per field (the names the forms and the API use), so a refused change writes
nothing. It then writes, records who did it in the audit log, tells attendees when a
date they booked moves, and commits once. Capacity changes and cancellations go through
``bookings.set_capacity`` and ``bookings.cancel_occurrence``, which own the seat rules.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    Event,
    EventKind,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    Organisation,
    User,
    Venue,
)
from ..timeutil import localize, utcnow
from . import accessibility, accounts, audit, bookings, groups, questions, trainings
from .errors import CapacityBelowBookings, InvalidInput, NotFound
from .notifications import queue_booking_email
from .text import has_control_characters

KINDS = tuple(kind.value for kind in EventKind)
EVENT_STATUSES = tuple(status.value for status in EventStatus)
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_RECURRING = 200
MIN_PASSWORD_LENGTH = 8
MAX_CAPACITY = 100_000


# --- small helpers ------------------------------------------------------------


class _Errors(dict):
    def add(self, name: str, message: Any) -> None:
        self.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            db.session.rollback()
            raise InvalidInput(dict(self))


def slugify(text: str, max_length: int = 80) -> str:
    """ASCII, lower case, words joined by dashes: "Fête d'été" gives "fete-d-ete"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-")


def unique_slug(model: type, text: str, max_length: int, fallback: str) -> str:
    base = slugify(text, max_length - 5) or fallback
    taken = set(
        db.session.scalars(
            select(model.slug).where(or_(model.slug == base, model.slug.like(f"{base}-%")))
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _check_slug(errors: _Errors, model: type, slug: str | None, current_id: int | None) -> None:
    if slug is None:
        return
    if not SLUG_PATTERN.match(slug) or len(slug) > 80:
        errors.add("slug", _l("Use lower-case letters, digits and dashes only."))
        return
    other = db.session.scalar(select(model.id).where(model.slug == slug))
    if other is not None and other != current_id:
        errors.add("slug", _l("This address is already taken."))


def _text(
    errors: _Errors,
    name: str,
    value: Any,
    max_length: int,
    *,
    required: bool = False,
    multiline: bool = False,
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(name, _l("Enter some text."))
        return ""
    value = value.strip()
    if required and not value:
        errors.add(name, _l("This field is required."))
    if len(value) > max_length:
        errors.add(name, _l("At most %(num)d characters.", num=max_length))
    if has_control_characters(value, multiline=multiline):
        errors.add(name, _l("This field contains characters that are not allowed."))
    return value


def _int(
    errors: _Errors, name: str, value: Any, minimum: int, maximum: int = MAX_CAPACITY
) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, _l("Enter a whole number."))
        return None
    if value < minimum:
        errors.add(name, _l("Enter a number of at least %(num)d.", num=minimum))
        return None
    if value > maximum:
        errors.add(name, _l("Enter a number of at most %(num)d.", num=maximum))
        return None
    return value


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def _moment(errors: _Errors, name: str, value: Any, tz: ZoneInfo, *, required: bool):
    """An aware datetime; a naive one is a wall-clock time in ``tz`` that must exist once."""
    if value is None:
        if required:
            errors.add(name, _l("This field is required."))
        return None
    if not isinstance(value, datetime):
        errors.add(name, _l("Enter a date and time."))
        return None
    if value.tzinfo is None:
        try:
            value = localize(value, tz)
        except ValueError as error:
            errors.add(name, _clock_change_message(str(error)))
            return None
    return value.astimezone(ZoneInfo("UTC"))


def _clock_change_message(kind: str):
    if kind == "ambiguous":
        return _l("This time happens twice the night the clocks go back; choose another time.")
    return _l("This time does not exist: the clocks go forward that night. Choose another time.")


def _commit(conflict_field: str = "slug", message=None) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidInput(
            {conflict_field: message or _l("This address is already taken.")}
        ) from None


def _find(model: type, ref: int | str | None):
    """A row by id (int) or by slug (str)."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, model):
        return ref
    if isinstance(ref, int) and not isinstance(ref, bool):
        return db.session.get(model, ref)
    if isinstance(ref, str):
        return db.session.scalar(select(model).where(model.slug == ref))
    return None


def _get(model: type, ident: int):
    row = db.session.get(model, ident)
    if row is None:
        raise NotFound(f"{model.__name__} {ident}")
    return row


def _known_fields(given: dict[str, Any], known: frozenset[str], what: str) -> None:
    """A field name the function does not know is a programming error, not user input."""
    unknown = set(given) - known
    if unknown:
        raise TypeError(f"unknown {what} fields: {sorted(unknown)}")


def _diff(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Set the attributes that change; return {name: [old, new]} for the audit log."""
    changes = {}
    for name, new in values.items():
        old = getattr(obj, name)
        if old != new:
            changes[name] = [old, new]
            setattr(obj, name, new)
    return changes


# --- events -------------------------------------------------------------------

EVENT_FIELDS = frozenset(
    {"title", "kind", "summary", "description", "parent", "status", "slug"}
    | {"title_en", "summary_en", "description_en"}
)


def _event_values(
    errors: _Errors,
    data: dict[str, Any],
    organisation_id: int,
    actor: User | None,
    event: Event | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "title" in data:
        values["title"] = _text(errors, "title", data["title"], 200, required=True)
    if "summary" in data:
        values["summary"] = _text(errors, "summary", data["summary"], 500)
    if "description" in data:
        values["description"] = _text(
            errors, "description", data["description"], 20_000, multiline=True
        )
    # The English texts, each optional (domain/languages.py says when each is shown).
    for name, limit in (("title_en", 200), ("summary_en", 500), ("description_en", 20_000)):
        if name in data:
            values[name] = _text(errors, name, data[name], limit, multiline=limit > 500)
    if "kind" in data:
        if data["kind"] not in KINDS:
            errors.add("kind", _l("Choose one of the kinds offered."))
        else:
            values["kind"] = str(data["kind"])
    if "status" in data:
        if data["status"] not in EVENT_STATUSES:
            errors.add("status", _l("Choose draft or published."))
        else:
            values["status"] = str(data["status"])
    if "slug" in data and data["slug"] not in (None, ""):
        _check_slug(errors, Event, data["slug"], event.id if event else None)
        values["slug"] = data["slug"]
    kind = values.get("kind", event.kind if event else None)
    if "parent" in data:
        values["parent_id"] = _parent_id(errors, data["parent"], organisation_id, actor, event)
    parent_id = values.get("parent_id", event.parent_id if event else None)
    if kind == EventKind.FESTIVAL and parent_id is not None:
        errors.add("parent", _l("A festival cannot be part of another festival."))
    if event is not None and kind != EventKind.FESTIVAL and event.children:
        errors.add("kind", _l("This event has a programme, so it must stay a festival."))
    return values


def _parent_id(
    errors: _Errors,
    ref: int | str | None,
    organisation_id: int,
    actor: User | None,
    event: Event | None,
) -> int | None:
    if ref is None or ref == "":
        return None
    parent = _find(Event, ref)
    visible = parent is not None and (
        parent.organisation_id == organisation_id or (actor is not None and actor.is_admin)
    )
    if not visible:
        errors.add("parent", _l("There is no such festival."))
        return None
    if parent.kind != EventKind.FESTIVAL:
        errors.add("parent", _l("An event can only be part of a festival's programme."))
        return None
    if event is not None and parent.id == event.id:
        errors.add("parent", _l("An event cannot be part of itself."))
        return None
    return parent.id


def create_event(
    organisation_id: int,
    *,
    title: str,
    kind: str,
    summary: str = "",
    description: str = "",
    parent: int | str | None = None,
    status: str = EventStatus.PUBLISHED,
    slug: str | None = None,
    actor: User | None = None,
    **english: str,
) -> Event:
    """A new event, published unless ``status`` is draft; its address is made from its title.

    ``english``: its optional ``title_en``, ``summary_en``, ``description_en``."""
    _get(Organisation, organisation_id)
    _known_fields(english, frozenset({"title_en", "summary_en", "description_en"}), "event")
    errors = _Errors()
    data = {
        **english,
        "title": title,
        "kind": kind,
        "summary": summary,
        "description": description,
        "parent": parent,
        "status": status,
        "slug": slug,
    }
    values = _event_values(errors, data, organisation_id, actor, None)
    errors.raise_if_any()
    values.setdefault("slug", unique_slug(Event, values["title"], 120, "event"))
    event = Event(organisation_id=organisation_id, **values)
    db.session.add(event)
    db.session.flush()
    audit.record(
        actor,
        "event.created",
        event,
        organisation_id=organisation_id,
        title=event.title,
        status=event.status,
    )
    _commit()
    return event


def update_event(event_id: int, *, actor: User | None = None, **changes: Any) -> Event:
    """Change an event's fields (any of ``EVENT_FIELDS``); calendars see the new text."""
    _known_fields(changes, EVENT_FIELDS, "event")
    event = _get(Event, event_id)
    errors = _Errors()
    values = _event_values(errors, changes, event.organisation_id, actor, event)
    errors.raise_if_any()
    diff = _diff(event, values)
    if not diff:
        db.session.rollback()
        return event
    _touch_occurrences(event)
    audit.record(
        actor, "event.updated", event, organisation_id=event.organisation_id, changes=diff
    )
    _commit()
    return event


def _touch_occurrences(event: Event) -> None:
    """Feeds show a new LAST-MODIFIED for every date of the event."""
    now = utcnow()
    for occurrence in event.occurrences:
        occurrence.updated_at = now


def set_event_status(event_id: int, status: str, *, actor: User | None = None) -> Event:
    event = _get(Event, event_id)
    if status not in EVENT_STATUSES:
        raise InvalidInput({"status": _l("Choose draft or published.")})
    if event.status == status:
        return event
    old = event.status
    event.status = status
    _touch_occurrences(event)
    action = "event.published" if status == EventStatus.PUBLISHED else "event.unpublished"
    audit.record(actor, action, event, organisation_id=event.organisation_id, status=[old, status])
    _commit()
    return event


def publish_event(event_id: int, *, actor: User | None = None) -> Event:
    return set_event_status(event_id, EventStatus.PUBLISHED, actor=actor)


def unpublish_event(event_id: int, *, actor: User | None = None) -> Event:
    """Back to draft: hidden from the public and the feeds; bookings already taken stay."""
    return set_event_status(event_id, EventStatus.DRAFT, actor=actor)


def duplicate_event(
    event_id: int,
    *,
    title: str | None = None,
    shift_days: int = 0,
    with_occurrences: bool = True,
    actor: User | None = None,
) -> Event:
    """A draft copy of an event, with its scheduled dates moved by ``shift_days`` days.

    Dates keep their wall-clock time (17:30 stays 17:30 across a clock change).
    Bookings are never copied.
    """
    source = _get(Event, event_id)
    errors = _Errors()
    new_title = _text(errors, "title", source.title if title is None else title, 200, required=True)
    shift = _int(errors, "shift_days", shift_days, -3660, 3660)
    copies: list[dict[str, Any]] = []
    if with_occurrences and shift is not None:
        for occurrence in source.occurrences:
            if occurrence.status == OccurrenceStatus.CANCELLED:
                continue
            copies.append(_shifted_copy(errors, occurrence, shift))
    errors.raise_if_any()
    copy = Event(
        organisation_id=source.organisation_id,
        parent_id=source.parent_id,
        kind=source.kind,
        title=new_title,
        summary=source.summary,
        description=source.description,
        title_en=source.title_en,
        summary_en=source.summary_en,
        description_en=source.description_en,
        status=EventStatus.DRAFT,
        slug=unique_slug(Event, new_title, 120, "event"),
    )
    db.session.add(copy)
    db.session.flush()
    for values in copies:
        db.session.add(Occurrence(event_id=copy.id, **values))
    questions.copy_questions(source.id, copy.id)
    audit.record(
        actor,
        "event.duplicated",
        copy,
        organisation_id=copy.organisation_id,
        source=source.slug,
        occurrences=len(copies),
    )
    _commit()
    return copy


def _shifted_copy(errors: _Errors, occurrence: Occurrence, days: int) -> dict[str, Any]:
    tz = ZoneInfo(occurrence.venue.timezone)

    def shifted(moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        wall = moment.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
        try:
            return localize(wall, tz)
        except ValueError as error:
            errors.add("shift_days", _clock_change_message(str(error)))
            return moment

    return {
        "venue_id": occurrence.venue_id,
        "starts_at": shifted(occurrence.starts_at),
        "ends_at": shifted(occurrence.ends_at),
        "capacity": occurrence.capacity,
        "waitlist": occurrence.waitlist,
        "requires_approval": occurrence.requires_approval,
        "max_seats_per_booking": occurrence.max_seats_per_booking,
        "booking_opens_at": shifted(occurrence.booking_opens_at),
        "booking_closes_at": shifted(occurrence.booking_closes_at),
        "cancellation_deadline_hours": occurrence.cancellation_deadline_hours,
        **accessibility.copied(occurrence),
        **groups.copied(occurrence),
    }


def festival_programme(event_id: int) -> list[Event]:
    """The events that make up a festival, in the order of their first date."""
    festival = _get(Event, event_id)
    children = list(festival.children)
    far = datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return sorted(
        children,
        key=lambda e: (e.occurrences[0].starts_at if e.occurrences else far, e.title),
    )


# --- occurrences --------------------------------------------------------------

OCCURRENCE_FIELDS = frozenset(
    {
        "starts_at",
        "ends_at",
        "venue",
        "capacity",
        "waitlist",
        "requires_approval",
        "max_seats_per_booking",
        "booking_opens_at",
        "booking_closes_at",
        "cancellation_deadline_hours",
        "sittings",
        *accessibility.OCCURRENCE_FIELDS,
        *groups.OCCURRENCE_FIELDS,
    }
)
# Changes a calendar app must notice: SEQUENCE is raised and attendees are told.
SCHEDULE_FIELDS = ("starts_at", "ends_at", "venue_id")


def _occurrence_values(
    errors: _Errors, data: dict[str, Any], current: Occurrence | None
) -> dict[str, Any]:
    """Check the given fields against each other and against the ones kept from ``current``."""
    values: dict[str, Any] = {}
    venue = current.venue if current is not None else None
    if "venue" in data:
        venue = _find(Venue, data["venue"])
        if venue is None:
            errors.add("venue", _l("Choose a venue from the list."))
        else:
            values["venue_id"] = venue.id
    tz = ZoneInfo(venue.timezone) if venue is not None else _zone()
    for name in ("starts_at", "ends_at"):
        if name in data:
            values[name] = _moment(errors, name, data[name], tz, required=True)
    for name in ("booking_opens_at", "booking_closes_at"):
        if name in data:
            values[name] = _moment(errors, name, data[name], tz, required=False)
    if "capacity" in data:
        values["capacity"] = _int(errors, "capacity", data["capacity"], 0)
    if "max_seats_per_booking" in data:
        maximum = data["max_seats_per_booking"]
        if maximum is None:
            maximum = current_app.config["DEFAULT_MAX_SEATS_PER_BOOKING"]
        values["max_seats_per_booking"] = _int(errors, "max_seats_per_booking", maximum, 1)
    if "cancellation_deadline_hours" in data:
        hours = data["cancellation_deadline_hours"] or 0
        values["cancellation_deadline_hours"] = _int(
            errors, "cancellation_deadline_hours", hours, 0, 24 * 366
        )
    for name in ("waitlist", "requires_approval"):
        if name in data:
            values[name] = bool(data[name])
    capacity = values.get("capacity", current.capacity if current is not None else None)
    values.update(accessibility.occurrence_values(errors, data, capacity))
    values.update(groups.occurrence_values(errors, data))

    def final(name: str):
        if name in values:
            return values[name]
        return getattr(current, name) if current is not None else None

    starts, ends = final("starts_at"), final("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        errors.add("ends_at", _l("The end must be after the start."))
    capacity = final("capacity")
    too_big = (
        venue is not None
        and venue.capacity is not None
        and capacity is not None
        and capacity > venue.capacity
    )
    if too_big and ("capacity" in values or "venue_id" in values):
        message = _l(
            "%(venue)s holds at most %(num)d people.", venue=venue.name, num=venue.capacity
        )
        errors.add("capacity", message)
    opens, closes = final("booking_opens_at"), final("booking_closes_at")
    if opens is not None and closes is not None and closes <= opens:
        errors.add("booking_closes_at", _l("Booking must close after it opens."))
    if opens is not None and starts is not None and opens >= starts:
        errors.add("booking_opens_at", _l("Booking must open before the start."))
    return values


def create_occurrence(
    event_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    venue: int | str,
    capacity: int,
    waitlist: bool = False,
    requires_approval: bool = False,
    max_seats_per_booking: int | None = None,
    booking_opens_at: datetime | None = None,
    booking_closes_at: datetime | None = None,
    cancellation_deadline_hours: int = 0,
    sittings: list[dict[str, Any]] | None = None,
    actor: User | None = None,
    **options: Any,
) -> Occurrence:
    """A new date for an event. Naive times are wall-clock times at the venue.

    ``sittings`` (``[{starts_at, ends_at}]``) cut it into parts, see ``trainings``;
    ``options``: accessibility, held wheelchair places, group requests.
    """
    _known_fields(options, OCCURRENCE_FIELDS, "occurrence")
    event = _get(Event, event_id)
    data = {
        "starts_at": starts_at,
        "ends_at": ends_at,
        "venue": venue,
        "capacity": capacity,
        "waitlist": waitlist,
        "requires_approval": requires_approval,
        "max_seats_per_booking": max_seats_per_booking,
        "booking_opens_at": booking_opens_at,
        "booking_closes_at": booking_closes_at,
        "cancellation_deadline_hours": cancellation_deadline_hours,
        **options,
    }
    errors = _Errors()
    values = _occurrence_values(errors, data, None)
    new_sittings = _sittings(errors, sittings, values, None)
    errors.raise_if_any()
    occurrence = Occurrence(event_id=event.id, **values)
    db.session.add(occurrence)
    db.session.flush()
    if new_sittings:
        trainings.replace_sittings(occurrence, new_sittings)
    _audit_occurrence(actor, "occurrence.created", occurrence, event, values)
    _touch_event(event)
    _commit()
    return occurrence


def _audit_occurrence(
    actor: User | None, action: str, occurrence: Occurrence, event: Event, details: dict
) -> None:
    audit.record(
        actor,
        action,
        occurrence,
        organisation_id=event.organisation_id,
        event=event.slug,
        changes=details,
    )


def _touch_event(event: Event) -> None:
    event.updated_at = utcnow()


def update_occurrence(
    occurrence_id: int,
    *,
    actor: User | None = None,
    status: str | None = None,
    reason: str = "",
    **changes: Any,
) -> Occurrence:
    """Change a date. All checks pass or nothing changes; one commit.

    A new time or venue raises the iCalendar SEQUENCE and tells every attendee.
    A new capacity goes through ``bookings.set_capacity`` (freed seats go to the
    waiting list); ``status="cancelled"`` through ``bookings.cancel_occurrence``
    with ``reason`` as the message to attendees.
    """
    _known_fields(changes, OCCURRENCE_FIELDS, "occurrence")
    occurrence = _get(Occurrence, occurrence_id)
    errors = _Errors()
    if status is not None and status not in (
        OccurrenceStatus.SCHEDULED,
        OccurrenceStatus.CANCELLED,
    ):
        errors.add("status", _l("Choose scheduled or cancelled."))
    if status == OccurrenceStatus.SCHEDULED and occurrence.is_cancelled:
        errors.add("status", _l("A cancelled date cannot be restored; add a new date instead."))
    cancelling = status == OccurrenceStatus.CANCELLED and not occurrence.is_cancelled
    if cancelling:
        reason = _text(errors, "reason", reason, 2000, multiline=True)
    sittings = changes.pop("sittings", None)
    values = _occurrence_values(errors, changes, occurrence)
    new_sittings = _sittings(errors, sittings, values, occurrence)
    errors.raise_if_any()

    new_capacity = values.pop("capacity", occurrence.capacity)
    occurrence = bookings.lock_occurrence(occurrence.id)
    if new_sittings is not None and trainings.replace_sittings(occurrence, new_sittings):
        _audit_occurrence(
            actor,
            "occurrence.sittings",
            occurrence,
            occurrence.event,
            {"sittings": len(new_sittings)},
        )
        _touch_event(occurrence.event)
    diff = _diff(occurrence, values)
    if diff:
        if any(name in diff for name in SCHEDULE_FIELDS):
            _raise_sequence(occurrence)
            _tell_attendees(occurrence, "occurrence_changed")
        _audit_occurrence(actor, "occurrence.updated", occurrence, occurrence.event, diff)
        _touch_event(occurrence.event)
    db.session.flush()
    if new_capacity != occurrence.capacity:
        try:
            bookings.set_capacity(occurrence.id, new_capacity, actor=actor)  # commits
        except CapacityBelowBookings as error:  # rolled back: nothing was written
            message = _l(
                "%(num)d places are already confirmed: cancel or reduce bookings first.",
                num=error.confirmed,
            )
            raise InvalidInput({"capacity": message}) from None
    if cancelling:
        bookings.cancel_occurrence(occurrence.id, reason, actor=actor)  # commits
    _commit()
    return db.session.get(Occurrence, occurrence_id)


def _sittings(
    errors: _Errors, given: Any, values: dict[str, Any], current: Occurrence | None
) -> list[trainings.Slot] | None:
    """The sittings given, checked against the date's final times (None: unchanged)."""
    venue = db.session.get(Venue, values["venue_id"]) if "venue_id" in values else None
    venue = venue or (current.venue if current is not None else None)
    tz = ZoneInfo(venue.timezone) if venue is not None else _zone()
    starts = values.get("starts_at", current.starts_at if current is not None else None)
    ends = values.get("ends_at", current.ends_at if current is not None else None)
    new = trainings.check_sittings(errors.add, given, tz, starts, ends)
    if current is not None and new is not None:
        trainings.check_marked_kept(errors.add, current, new)
    elif current is not None and starts is not None and ends is not None:
        trainings.check_kept_sittings(errors.add, current, starts, ends)
    return new


def _raise_sequence(occurrence: Occurrence) -> None:
    occurrence.sequence = (occurrence.sequence or 0) + 1
    occurrence.updated_at = utcnow()


def active_bookings(occurrence_id: int) -> list[Booking]:
    return list(
        db.session.scalars(
            select(Booking)
            .where(
                Booking.occurrence_id == occurrence_id,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            )
            .order_by(Booking.id)
        )
    )


def _tell_attendees(occurrence: Occurrence, kind: str) -> int:
    if occurrence.is_cancelled:
        return 0
    people = active_bookings(occurrence.id)
    for booking in people:
        queue_booking_email(booking, kind)
    return len(people)


def cancel_occurrence(
    occurrence_id: int, reason: str = "", *, actor: User | None = None
) -> Occurrence:
    """Cancel a date and tell its attendees, with ``reason`` as the organiser's message."""
    return update_occurrence(
        occurrence_id, status=OccurrenceStatus.CANCELLED, reason=reason, actor=actor
    )


def change_capacity(occurrence_id: int, capacity: int, *, actor: User | None = None) -> Occurrence:
    """More places (the waiting list moves up) or fewer (no one confirmed loses theirs)."""
    return update_occurrence(occurrence_id, capacity=capacity, actor=actor)


# --- recurrence ---------------------------------------------------------------


@dataclass
class Recurrence:
    """ "Every Friday at 17:30 from March to June, except these dates." Weekdays: 0 is Monday."""

    first_day: date
    last_day: date
    weekdays: frozenset[int]
    start_time: time
    end_time: time
    every_weeks: int = 1
    except_dates: frozenset[date] = field(default_factory=frozenset)

    def dates(self) -> list[date]:
        days = []
        week0 = self.first_day - timedelta(days=self.first_day.weekday())
        day = self.first_day
        while day <= self.last_day:
            weeks = (day - week0).days // 7
            if (
                day.weekday() in self.weekdays
                and weeks % max(self.every_weeks, 1) == 0
                and day not in self.except_dates
            ):
                days.append(day)
            day += timedelta(days=1)
        return days


def _check_recurrence(errors: _Errors, rule: Recurrence) -> list[date]:
    if not isinstance(rule.first_day, date) or not isinstance(rule.last_day, date):
        errors.add("first_day", _l("Enter a date."))
        return []
    if rule.last_day < rule.first_day:
        errors.add("last_day", _l("The last day must not be before the first day."))
        return []
    if (rule.last_day - rule.first_day).days > 2 * 366:
        errors.add("last_day", _l("Plan at most two years at once."))
        return []
    if not rule.weekdays or not set(rule.weekdays) <= set(range(7)):
        errors.add("weekdays", _l("Choose at least one day of the week."))
        return []
    _int(errors, "every_weeks", rule.every_weeks, 1, 52)
    if rule.end_time <= rule.start_time:
        errors.add("end_time", _l("The end must be after the start."))
    days = rule.dates()
    if not days:
        errors.add("weekdays", _l("No date matches these choices."))
    elif len(days) > MAX_RECURRING:
        errors.add(
            "last_day",
            _l(
                "That makes %(num)d dates; at most %(max)d at once.",
                num=len(days),
                max=MAX_RECURRING,
            ),
        )
    return days


def create_recurring_occurrences(
    event_id: int,
    rule: Recurrence,
    *,
    venue: int | str,
    capacity: int,
    waitlist: bool = False,
    requires_approval: bool = False,
    max_seats_per_booking: int | None = None,
    booking_opens_days_before: int | None = None,
    cancellation_deadline_hours: int = 0,
    actor: User | None = None,
) -> list[Occurrence]:
    """All the dates of a recurrence in one go, or none of them.

    A date that already has an occurrence of this event at the same time is
    skipped, so running the same plan twice creates nothing new.
    """
    event = _get(Event, event_id)
    errors = _Errors()
    days = _check_recurrence(errors, rule)
    venue_row = _find(Venue, venue)
    tz = ZoneInfo(venue_row.timezone) if venue_row is not None else _zone()
    skipped_by_clock: list[date] = []
    planned: list[tuple[datetime, datetime]] = []
    for day in days:
        try:
            planned.append(
                (
                    localize(datetime.combine(day, rule.start_time), tz),
                    localize(datetime.combine(day, rule.end_time), tz),
                )
            )
        except ValueError:
            skipped_by_clock.append(day)
    if skipped_by_clock:
        errors.add(
            "start_time",
            _l(
                "This time does not exist on %(dates)s because of the clock change; "
                "leave out that date or choose another time.",
                dates=", ".join(format_date(d, "long") for d in skipped_by_clock),
            ),
        )
    common = {
        "venue": venue,
        "capacity": capacity,
        "waitlist": waitlist,
        "requires_approval": requires_approval,
        "max_seats_per_booking": max_seats_per_booking,
        "cancellation_deadline_hours": cancellation_deadline_hours,
    }
    if planned:
        common["starts_at"], common["ends_at"] = planned[0]
    base = _occurrence_values(errors, common, None)
    opens_days = None
    if booking_opens_days_before is not None:
        opens_days = _int(errors, "booking_opens_days_before", booking_opens_days_before, 0, 366)
    errors.raise_if_any()

    existing = set(
        db.session.scalars(select(Occurrence.starts_at).where(Occurrence.event_id == event.id))
    )
    created: list[Occurrence] = []
    for starts, ends in planned:
        if starts in existing:
            continue
        values = dict(base, starts_at=starts, ends_at=ends)
        if opens_days is not None:
            values["booking_opens_at"] = starts - timedelta(days=opens_days)
        occurrence = Occurrence(event_id=event.id, **values)
        db.session.add(occurrence)
        created.append(occurrence)
    db.session.flush()
    for occurrence in created:
        _audit_occurrence(
            actor,
            "occurrence.created",
            occurrence,
            event,
            {"starts_at": occurrence.starts_at, "recurring": True},
        )
    if created:
        _touch_event(event)
    _commit()
    return created


# --- venues -------------------------------------------------------------------

VENUE_FIELDS = frozenset(
    {
        "name",
        "address",
        "postcode",
        "city",
        "access",
        "capacity",
        "latitude",
        "longitude",
        "timezone",
        "slug",
        "accessibility",
        "organisation_id",
    }
)
# What a calendar shows as LOCATION/GEO: a change raises SEQUENCE of the dates to come.
VENUE_LOCATION_FIELDS = ("name", "address", "postcode", "city", "latitude", "longitude")


def _venue_values(errors: _Errors, data: dict[str, Any], venue: Venue | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    limits = {"name": 200, "address": 300, "postcode": 20, "city": 120}
    for name, limit in limits.items():
        if name in data:
            values[name] = _text(errors, name, data[name], limit, required=name == "name")
    if "access" in data:
        values["access"] = _text(errors, "access", data["access"], 5000, multiline=True)
    values.update(accessibility.venue_values(errors, data))
    if "capacity" in data:
        values["capacity"] = (
            None
            if data["capacity"] in (None, "")
            else _int(errors, "capacity", data["capacity"], 1)
        )
    for name, bound in (("latitude", 90), ("longitude", 180)):
        if name in data:
            value = data[name]
            if value in (None, ""):
                values[name] = None
            elif isinstance(value, bool) or not isinstance(value, int | float):
                errors.add(name, _l("Enter a number."))
            elif not -bound <= value <= bound:
                errors.add(
                    name, _l("Enter a number between %(min)d and %(max)d.", min=-bound, max=bound)
                )
            else:
                values[name] = float(value)
    if "timezone" in data:
        try:
            ZoneInfo(str(data["timezone"]))
            values["timezone"] = str(data["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            errors.add("timezone", _l("Unknown time zone."))
    if "slug" in data and data["slug"] not in (None, ""):
        _check_slug(errors, Venue, data["slug"], venue.id if venue else None)
        values["slug"] = data["slug"]
    if "organisation_id" in data:
        org = data["organisation_id"]
        if org is not None and db.session.get(Organisation, org) is None:
            errors.add("organisation_id", _l("There is no such organisation."))
        else:
            values["organisation_id"] = org
    return values


def create_venue(*, actor: User | None = None, **data: Any) -> Venue:
    _known_fields(data, VENUE_FIELDS, "venue")
    data.setdefault("name", "")
    errors = _Errors()
    values = _venue_values(errors, data, None)
    errors.raise_if_any()
    values.setdefault("slug", unique_slug(Venue, values["name"], 80, "venue"))
    venue = Venue(**values)
    db.session.add(venue)
    db.session.flush()
    audit.record(
        actor, "venue.created", venue, organisation_id=venue.organisation_id, name=venue.name
    )
    _commit()
    return venue


def update_venue(venue_id: int, *, actor: User | None = None, **changes: Any) -> Venue:
    _known_fields(changes, VENUE_FIELDS, "venue")
    venue = _get(Venue, venue_id)
    errors = _Errors()
    values = _venue_values(errors, changes, venue)
    errors.raise_if_any()
    diff = _diff(venue, values)
    if not diff:
        db.session.rollback()
        return venue
    if any(name in diff for name in VENUE_LOCATION_FIELDS):
        upcoming = db.session.scalars(
            select(Occurrence).where(Occurrence.venue_id == venue.id, Occurrence.ends_at > utcnow())
        )
        for occurrence in upcoming:
            _raise_sequence(occurrence)
    audit.record(
        actor, "venue.updated", venue, organisation_id=venue.organisation_id, changes=diff
    )
    _commit()
    return venue


# --- organisations and accounts -----------------------------------------------

ORGANISATION_FIELDS = frozenset({"name", "slug", "description", "website", "email"})


def _organisation_values(errors: _Errors, data: dict[str, Any], org: Organisation | None):
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _text(errors, "name", data["name"], 200, required=True)
    if "description" in data:
        values["description"] = _text(
            errors, "description", data["description"], 5000, multiline=True
        )
    if "website" in data:
        website = _text(errors, "website", data["website"], 500)
        if website and not re.match(r"^https?://[^\s/]+", website):
            errors.add("website", _l("Enter an address starting with https://."))
        values["website"] = website or None
    if "email" in data:
        email = _text(errors, "email", data["email"], 320).lower()
        if email and not _looks_like_email(email):
            errors.add("email", _l("Enter a valid email address."))
        values["email"] = email or None
    if "slug" in data and data["slug"] not in (None, ""):
        _check_slug(errors, Organisation, data["slug"], org.id if org else None)
        values["slug"] = data["slug"]
    return values


def _looks_like_email(email: str) -> bool:
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) is not None


def create_organisation(*, actor: User | None = None, **data: Any) -> Organisation:
    _known_fields(data, ORGANISATION_FIELDS, "organisation")
    data.setdefault("name", "")
    errors = _Errors()
    values = _organisation_values(errors, data, None)
    errors.raise_if_any()
    values.setdefault("slug", unique_slug(Organisation, values["name"], 80, "organisation"))
    org = Organisation(**values)
    db.session.add(org)
    db.session.flush()
    audit.record(actor, "organisation.created", org, organisation_id=org.id, name=org.name)
    _commit()
    return org


def update_organisation(org_id: int, *, actor: User | None = None, **changes: Any) -> Organisation:
    _known_fields(changes, ORGANISATION_FIELDS, "organisation")
    org = _get(Organisation, org_id)
    errors = _Errors()
    values = _organisation_values(errors, changes, org)
    errors.raise_if_any()
    diff = _diff(org, values)
    if diff:
        audit.record(actor, "organisation.updated", org, organisation_id=org.id, changes=diff)
        _commit()
    return org


USER_FIELDS = frozenset({"name", "organisation_id", "is_admin", "active", "locale"})


def _user_values(errors: _Errors, data: dict[str, Any], user: User | None, actor: User | None):
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _text(errors, "name", data["name"], 200)
    if "locale" in data:
        if data["locale"] not in current_app.config["LANGUAGES"]:
            errors.add("locale", _l("Choose a language from the list."))
        else:
            values["locale"] = data["locale"]
    for flag in ("is_admin", "active"):
        if flag in data:
            values[flag] = bool(data[flag])
    if "organisation_id" in data:
        org = data["organisation_id"]
        if org is not None and db.session.get(Organisation, org) is None:
            errors.add("organisation_id", _l("There is no such organisation."))
        values["organisation_id"] = org
    is_admin = values.get("is_admin", user.is_admin if user else False)
    org_id = values.get("organisation_id", user.organisation_id if user else None)
    if not is_admin and org_id is None:
        errors.add("organisation_id", _l("An organiser belongs to an organisation."))
    if user is not None and actor is not None and user.id == actor.id:
        if values.get("active") is False:
            errors.add("active", _l("You cannot deactivate your own account."))
        if user.is_admin and values.get("is_admin") is False:
            errors.add("is_admin", _l("You cannot remove your own admin rights."))
    return values


def _password(errors: _Errors, password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        errors.add("password", _l("At least %(num)d characters.", num=MIN_PASSWORD_LENGTH))
    elif len(password) > 500:
        errors.add("password", _l("At most %(num)d characters.", num=500))
    return password


def create_user(
    email: str,
    *,
    password: str | None = None,
    actor: User | None = None,
    **data: Any,
) -> tuple[User, str | None]:
    """A new account. Without ``password`` one is generated and returned (to show once)."""
    user, generated = _add_user(email, password, actor, data)
    _commit("email", _l("An account with this email already exists."))
    return user, generated


def invite_user(email: str, *, actor: User | None = None, **data: Any) -> User:
    """A new account whose holder chooses a password through the link of a welcome email:
    the account, its audit entry and the email in one transaction. Commits."""
    user, _generated = _add_user(email, None, actor, data)  # never shown: the link replaces it
    accounts.queue_password_email(user, "welcome")
    _commit("email", _l("An account with this email already exists."))
    return user


def _add_user(
    email: str, password: str | None, actor: User | None, data: dict[str, Any]
) -> tuple[User, str | None]:
    """The account and its audit entry, flushed; the caller commits."""
    _known_fields(data, USER_FIELDS, "user")
    errors = _Errors()
    email = _text(errors, "email", email, 320, required=True).lower()
    if email and not _looks_like_email(email):
        errors.add("email", _l("Enter a valid email address."))
    elif db.session.scalar(select(User.id).where(User.email == email)) is not None:
        errors.add("email", _l("An account with this email already exists."))
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    _password(errors, password)
    values = _user_values(errors, data, None, actor)
    errors.raise_if_any()
    user = User(email=email, **values)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor,
        "user.created",
        user,
        organisation_id=user.organisation_id,
        email=email,
        is_admin=user.is_admin,
    )
    return user, generated


def update_user(user_id: int, *, actor: User | None = None, **changes: Any) -> User:
    _known_fields(changes, USER_FIELDS, "user")
    user = _get(User, user_id)
    errors = _Errors()
    values = _user_values(errors, changes, user, actor)
    errors.raise_if_any()
    diff = _diff(user, values)
    if diff:
        audit.record(
            actor, "user.updated", user, organisation_id=user.organisation_id, changes=diff
        )
        _commit()
    return user


def set_password(user_id: int, password: str, *, actor: User | None = None) -> User:
    user = _get(User, user_id)
    errors = _Errors()
    _password(errors, password)
    errors.raise_if_any()
    user.set_password(password)
    user.auth_epoch = (user.auth_epoch or 0) + 1  # ends the sessions opened before
    audit.record(actor, "user.password_changed", user, organisation_id=user.organisation_id)
    _commit()
    return user
