"""Import events from iCalendar: create or update events and their dates by UID, idempotently.

Shared by ``flask events import``, the organiser's upload page and followed agendas
(``sources.py``). Each UID is one event of the organisation; each VEVENT a date of it (a
recurring one gives one date per instance, named ``UID/RECURRENCE-ID``). A caller may gather
VEVENTs of several UIDs into one event (``event_of``: calendrier's own feeds write a VEVENT
per date), each UID then naming one date of it. Importing the same file again changes
nothing; importing a newer export updates what changed, through the catalogue's rules (a
new time raises the SEQUENCE and tells attendees, a cancellation goes through the booking
rules). Nothing is ever deleted: a date missing from the file may simply be outside the
exported range.

Everything that cannot be imported is reported with its reason, never guessed: an all-day
event, a local time that does not exist or happens twice, an event without UID or title.
The texts, in French and English, are read and checked by ``import_texts``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rruleset, rrulestr
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from ..extensions import db
from ..models import (
    Event,
    EventKind,
    EventStatus,
    Occurrence,
    Organisation,
    User,
    Venue,
)
from ..timeutil import localize, utcnow
from . import accessibility, audit, catalogue, import_texts
from .errors import DomainError, InvalidInput
from .import_limits import Budget, LimitReached, frequency_refused, gives_a_date, walk
from .import_texts import as_list

MAX_BYTES = 5 * 1024 * 1024
# Dates of a recurring event: from the feeds' past window to this far ahead, at most this many.
RECURRENCE_HORIZON = timedelta(days=2 * 366)
MAX_INSTANCES = 500
DEFAULT_DURATION = timedelta(hours=1)
# What a date's UID looks like in our own feeds: importing them back would duplicate dates.
OWN_UID = re.compile(r"^occurrence-\d+@calendrier$")
NEARBY_METRES = 100

# Words of CATEGORIES (French and English) that name one of our kinds of event.
KIND_WORDS = {
    EventKind.FESTIVAL: ("festival",),
    EventKind.VISIT: ("visite", "visit", "guided", "guidee", "tour"),
    EventKind.SCREENING: ("projection", "screening", "film", "cinema", "cine", "seance"),
    EventKind.TRAINING: ("formation", "training", "stage", "course", "cours", "masterclass"),
    EventKind.TALK: ("rencontre", "talk", "conference", "debat", "table ronde", "lecture"),
    EventKind.WORKSHOP: ("atelier", "workshop"),
}

REASONS = {
    "no_uid": _l("No UID: it could not be recognised when imported again."),
    "own_uid": _l("This date comes from this agenda's own feed."),
    "other_organisation": _l("This UID already belongs to another organisation's event."),
    "no_title": _l("No title (SUMMARY)."),
    "no_start": _l("No start (DTSTART)."),
    "all_day": _l("All-day event: no start time. Add the times and import again."),
    "nonexistent": _l("This local time does not exist (the clocks go forward then)."),
    "ambiguous": _l("This local time happens twice (the clocks go back then)."),
    "unknown_zone": _l("Unknown time zone."),
    "ends_before_start": _l("It ends before it starts."),
    "no_venue": _l("No place (LOCATION), and no default venue was chosen."),
    "cancelled_unknown": _l("Cancelled in the file, and never imported: nothing to do."),
    "bad_recurrence": _l("The recurrence rule (RRULE) could not be read."),
    "unreadable": _l("%(name)s could not be read."),
    "unreadable_event": _l("This event could not be read."),
    "rejected": _l("Refused by the catalogue: %(details)s"),
    # the work an import may cost (import_limits)
    "frequency": _l(
        "The recurrence rule repeats every %(unit)s: no programme has dates that often."
    ),
    "never": _l("The recurrence rule never gives a date."),
    "too_many_steps": _l(
        "The recurrence rule goes through more than %(num)d dates (those before the "
        "imported period count too): give it a later start, or an end."
    ),
    "file_dates": _l(
        "The file holds more than %(num)d dates: this event was not imported. "
        "Import the rest from a second file."
    ),
    "time_limit": _l(
        "The import took more than %(num)d seconds: this event was not imported. "
        "Import the rest from a second file."
    ),
    "unwritable": _l("This event could not be saved: nothing of it was imported."),
}
FREQUENCY_UNITS = {"SECONDLY": _l("second"), "MINUTELY": _l("minute"), "HOURLY": _l("hour")}
NOTES = {
    "no_end": _l("No end: one hour assumed."),
    "capacity_clamped": _l("Capacity lowered to what the venue holds."),
    "more_instances": _l("Only the dates up to %(day)s were imported."),
    "kept_cancelled": _l("Cancelled here: not restored by the import."),
}


class UnreadableCalendar(DomainError):
    """The file is not iCalendar (or is too big): nothing was imported."""

    code = "unreadable"


@dataclass(frozen=True)
class Line:
    """One reported VEVENT: what the organiser recognises it by, and why."""

    uid: str
    title: str
    starts_at: datetime | None
    reason: str

    def __str__(self) -> str:
        return f"{self.title or self.uid} — {self.reason}"


@dataclass
class ImportReport:
    events_created: int = 0
    events_updated: int = 0
    occurrences_created: int = 0
    occurrences_updated: int = 0
    occurrences_cancelled: int = 0
    unchanged: int = 0
    venues_created: list[str] = field(default_factory=list)
    skipped: list[Line] = field(default_factory=list)
    notes: list[Line] = field(default_factory=list)
    # For each event read whole: the keys of every date the file gives it (Occurrence's
    # external_uid), so that a follower knows which of its dates left the source.
    dates_read: dict[str, set[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(
            self.events_created
            or self.events_updated
            or self.occurrences_created
            or self.occurrences_updated
            or self.occurrences_cancelled
        )


@dataclass(frozen=True)
class ImportOptions:
    organisation_id: int
    default_kind: str = EventKind.SCREENING
    default_venue_id: int | None = None
    capacity: int | None = None  # None: what the venue holds, or 0 (no booking)
    publish: bool = True
    actor: User | None = None


@dataclass
class _Instance:
    key: str  # Occurrence.external_uid
    starts_at: datetime
    ends_at: datetime
    venue: Venue
    cancelled: bool
    accessibility: str = ""  # from X-ACCESSIBILITY, as stored (domain/accessibility.py)


@dataclass
class _Group:
    uid: str
    texts: import_texts.Texts
    kind: str | None
    instances: list[_Instance] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)  # every date of the file, read or refused

    @property
    def title(self) -> str:
        return self.texts.title


# --- reading ----------------------------------------------------------------------------------


def read_calendar(data: bytes) -> list:
    """The VEVENTs of a file (one or several VCALENDARs); UnreadableCalendar if it is not one."""
    return [vevent for cal in read_calendars(data) for vevent in cal.walk("VEVENT")]


def read_calendars(data: bytes) -> list[Calendar]:
    """The VCALENDARs of a file (what wrote them is in their PRODID)."""
    if len(data) > MAX_BYTES:
        raise UnreadableCalendar("too_big")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    upper = text.upper()
    if "BEGIN:VCALENDAR" not in upper:
        raise UnreadableCalendar("not_icalendar")
    if "END:VCALENDAR" not in upper:
        raise UnreadableCalendar("broken")  # cut short: better nothing than half
    try:
        return list(Calendar.from_ical(text, multiple=True))
    except Exception as error:  # icalendar raises ValueError and others on broken input
        raise UnreadableCalendar("broken") from error


def vevent_uid(vevent) -> str:
    """A VEVENT's UID as it is matched: its words, single-spaced ("" without one)."""
    return " ".join(str(vevent.get("uid", "")).split())


# --- the import -------------------------------------------------------------------------------


def import_calendar(
    data: bytes,
    options: ImportOptions,
    *,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import a file for one organisation. Commits once per UID, so a long import never holds
    the database, a failure never half-writes an event, and a new run picks up where it was."""
    vevents = read_calendar(data)
    return import_vevents(vevents, options, progress=progress, now=now)


def import_vevents(
    vevents: list,
    options: ImportOptions,
    *,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    event_of: Callable[[Any], str] | None = None,
) -> ImportReport:
    """``event_of`` gives the key of a VEVENT's event (default: its UID); the VEVENTs of one
    key are one event, each UID a date of it (or a series of dates)."""
    now = now or utcnow()
    organisation = db.session.get(Organisation, options.organisation_id)
    if organisation is None:
        raise InvalidInput({"organisation": _l("Unknown organisation.")})
    report = ImportReport()
    venues = _VenueFinder(options, report)
    by_uid: dict[str, list] = {}
    for vevent in vevents:
        uid = vevent_uid(vevent)
        if not uid:
            report.skipped.append(_line(vevent, "", REASONS["no_uid"]))
            continue
        by_uid.setdefault(event_of(vevent) if event_of else uid, []).append(vevent)
    budget = Budget.for_import()
    for uid, components in by_uid.items():
        try:
            try:
                budget.check_time()
                group = _read_group(uid, components, options, venues, report, now, budget)
                if group is not None:
                    budget.take_dates(len(group.instances))
                    report.dates_read[uid] = group.keys
            except _Refused as refused:
                report.skipped.append(_line(components[0], uid, refused.reason))
                continue
            except LimitReached as limit:
                reason = _format(REASONS[limit.code], **limit.values)
                report.skipped.append(_line(components[0], uid, reason))
                continue
            except (ValueError, TypeError, AttributeError, KeyError, OverflowError):
                # what icalendar or dateutil could not make sense of: this event only
                report.skipped.append(_line(components[0], uid, REASONS["unreadable_event"]))
                continue
            if group is not None:
                try:
                    _apply(group, organisation, options, report)
                except (DataError, IntegrityError):
                    # what the database refused all the same: this event only, all of it
                    db.session.rollback()
                    report.skipped.append(_line(components[0], uid, REASONS["unwritable"]))
        finally:
            db.session.rollback()  # whatever was not committed for this UID
            if progress is not None:
                progress(1)
    return report


def _line(vevent, uid: str, reason, starts_at: datetime | None = None) -> Line:
    title = " ".join(str(vevent.get("summary", "")).split())
    if starts_at is None and "DTSTART" not in _broken(vevent):
        moment = getattr(vevent.get("dtstart"), "dt", None)
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            starts_at = moment
    return Line(uid, title, starts_at, str(reason))


class _Refused(Exception):
    def __init__(self, reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


def _read_group(uid, components, options, venues, report, now, budget=None) -> _Group | None:
    """The event and its dates as the file describes them, or None (reported) if unusable.

    ``components`` are the VEVENTs of the event ``uid``: usually those of that one UID (a
    date, or a series and its moved instances), or those of each of its dates, one UID each
    (``event_of``). Its texts are those of its first date not cancelled."""
    members: dict[str, list] = {}
    for component in components:
        members.setdefault(vevent_uid(component), []).append(component)
    for name in dict.fromkeys((uid, *members)):
        if OWN_UID.match(name):
            report.skipped.append(_line(components[0], name, REASONS["own_uid"]))
            return None
    refused = import_texts.problem(uid, components)
    for name in members:
        if name != uid and refused is None:
            refused = import_texts.problem(name, [])  # a date's own key: its texts are checked
    if refused is not None:
        raise _Refused(refused)
    masters = [c for c in components if c.get("recurrence-id") is None]
    live = [c for c in masters if str(c.get("status", "")).upper() != "CANCELLED"]
    head = (live or masters or components)[0]
    texts = import_texts.read(head)
    if not texts.title:
        report.skipped.append(_line(head, uid, REASONS["no_title"]))
        return None
    group = _Group(uid=uid, texts=texts, kind=_kind(head))
    sources: list[tuple[str, object, datetime | None]] = []  # (key, component, recurrence id)
    for name, parts in members.items():
        try:
            sources += _dates(name, parts, now, report, budget)
        except _Refused as refused:
            report.skipped.append(_line(parts[0], name, refused.reason))
            return None
    group.keys = {key for key, _component, _start in sources}
    for key, component, start in sources:
        try:
            group.instances.append(_instance(key, component, start, options, venues, report))
        except _Refused as refused:
            report.skipped.append(_line(component, uid, refused.reason, start))
    return group


def _dates(uid: str, components, now, report, budget) -> list[tuple[str, object, datetime | None]]:
    """The dates of one UID: (key, the VEVENT that describes it, the instance's start)."""
    masters = [c for c in components if c.get("recurrence-id") is None]
    overrides = {}
    for component in components:
        if component.get("recurrence-id") is not None:
            rid = _value(component, "recurrence-id")
            if isinstance(rid, datetime):
                overrides[_utc_key(rid)] = component
    found: list[tuple[str, object, datetime | None]] = []
    if masters:
        master = masters[0]
        if master.get("rrule") is None and master.get("rdate") is None:
            found.append((uid, master, None))
        else:
            for start in _instances(master, now, report, uid, budget):
                key = _utc_key(start)
                found.append((f"{uid}/{key}", overrides.pop(key, master), start))
    for key, component in overrides.items():  # moved instances of a series outside the window
        found.append((f"{uid}/{key}", component, None))
    return found


def _broken(component) -> set[str]:
    """Names of the properties icalendar could not read (kept as text, with an error)."""
    return {name.upper() for name, _message in getattr(component, "errors", [])}


def _value(component, name: str):
    """A date or time property, or None; _Refused when it cannot be read or placed."""
    prop = component.get(name)
    if prop is None:
        return None
    if name.upper() in _broken(component):
        raise _Refused(_format(REASONS["unreadable"], name=name.upper()))
    value = component.decoded(name)
    params = getattr(prop, "params", {})
    if isinstance(value, datetime) and value.tzinfo is None and "TZID" in params:
        raise _Refused(REASONS["unknown_zone"])  # a named zone neither known nor described
    return value


def _utc_key(moment: datetime) -> str:
    if moment.tzinfo is None:
        return moment.strftime("%Y%m%dT%H%M%S")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(text: str) -> str:
    """Lower case, no accents, words separated by single spaces: for matching names."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text.lower()).split())


def _kind(component) -> str | None:
    words: list[str] = []
    for value in as_list(component.get("categories")):
        cats = getattr(value, "cats", None)
        words.extend(_fold(str(c)) for c in (cats if cats is not None else [value]))
    for word in words:
        for kind, names in KIND_WORDS.items():
            if word in names or any(name in word.split() for name in names):
                return kind.value
    return None


def _moment(value, zone: ZoneInfo) -> datetime:
    """An aware instant for a DTSTART/DTEND value; _Refused for what cannot be placed."""
    if isinstance(value, date) and not isinstance(value, datetime):
        raise _Refused(REASONS["all_day"])
    if value.tzinfo is None:  # floating: the time at the venue
        try:
            return localize(value, zone)
        except ValueError as error:
            raise _Refused(REASONS[str(error)]) from None
    if value.utcoffset() is None:
        raise _Refused(REASONS["unknown_zone"])
    return value.astimezone(UTC)


def _instances(
    master, now: datetime, report: ImportReport, uid: str, budget: Budget | None = None
) -> list[datetime]:
    """Start times of a recurring VEVENT within the import window (in the event's zone).

    The rule is walked within ``budget`` (see import_limits): LimitReached beyond it."""
    start = _value(master, "dtstart")
    if any(name in _broken(master) for name in ("RRULE", "RDATE", "EXDATE")):
        raise _Refused(REASONS["bad_recurrence"])
    if not isinstance(start, datetime):
        raise _Refused(REASONS["all_day"])
    budget = budget or Budget.for_import()
    rules = rruleset()
    try:
        for rule in as_list(master.get("rrule")):
            too_often = frequency_refused(rule)
            if too_often is not None:
                unit = FREQUENCY_UNITS.get(too_often, too_often.lower())
                raise _Refused(_format(REASONS["frequency"], unit=unit))
            text = rule.to_ical().decode()
            parsed = rrulestr(text, dtstart=start, ignoretz=False)
            if not gives_a_date(parsed, start, _interval(rule)):
                raise _Refused(REASONS["never"])
            rules.rrule(parsed)
        for rdate in as_list(master.get("rdate")):
            for period in rdate.dts:
                if isinstance(period.dt, datetime):
                    rules.rdate(period.dt)
        for exdate in as_list(master.get("exdate")):
            for item in exdate.dts:
                rules.exdate(item.dt)
    except (ValueError, TypeError) as error:
        raise _Refused(REASONS["bad_recurrence"]) from error
    rules.rdate(start)
    since = now - timedelta(days=current_app.config["FEED_PAST_DAYS"])
    until = now + RECURRENCE_HORIZON
    starts: list[datetime] = []
    aware = start.tzinfo is not None
    for moment in walk(rules, budget):
        instant = moment if aware else moment.replace(tzinfo=UTC)
        if instant > until:
            break
        if instant < since:
            continue
        if len(starts) == MAX_INSTANCES:
            day = starts[-1].date().isoformat()
            report.notes.append(_line(master, uid, _format(NOTES["more_instances"], day=day)))
            break
        starts.append(moment)
    return starts


def _interval(rule) -> int:
    values = as_list(rule.get("INTERVAL"))
    return int(values[0]) if values else 1


def _format(message, **values) -> str:
    return str(message) % values


def _instance(key, component, start, options, venues, report) -> _Instance:
    """One date from a VEVENT (``start``: the instance's own start, for a series)."""
    value = _value(component, "dtstart")
    if value is None:
        raise _Refused(REASONS["no_start"])
    if not isinstance(value, datetime):
        raise _Refused(REASONS["all_day"])
    venue = venues.find(component)
    zone = ZoneInfo(venue.timezone)
    first = _moment(value, zone)
    if component.get("dtend") is not None:
        length = _moment(_value(component, "dtend"), zone) - first
    elif component.get("duration") is not None:
        length = _value(component, "duration")
        if not isinstance(length, timedelta):
            raise _Refused(_format(REASONS["unreadable"], name="DURATION"))
    else:
        length = DEFAULT_DURATION
        report.notes.append(_line(component, key, NOTES["no_end"], first))
    if start is not None and component.get("recurrence-id") is None:
        first = _moment(start, zone)  # an instance of the series: the same length
    if length <= timedelta(0):
        raise _Refused(REASONS["ends_before_start"])
    status = str(component.get("status", "")).upper()
    codes = accessibility.parse_list(str(component.get(accessibility.ICAL_PROPERTY, "")))
    return _Instance(
        key, first, first + length, venue, status == "CANCELLED", accessibility.encode(codes)
    )


class _VenueFinder:
    """Venues named in LOCATION: an existing one by name (or by GEO, within 100 m), else a new
    one for the organisation, made once per import."""

    def __init__(self, options: ImportOptions, report: ImportReport) -> None:
        self.options = options
        self.report = report
        self.venues = list(db.session.scalars(select(Venue).order_by(Venue.id)))
        self.default = (
            db.session.get(Venue, options.default_venue_id) if options.default_venue_id else None
        )

    def find(self, component) -> Venue:
        location = " ".join(str(component.get("location", "")).split())
        geo = None if "GEO" in _broken(component) else component.get("geo")
        point = (float(geo.latitude), float(geo.longitude)) if geo is not None else None
        if not location:
            if self.default is None:
                raise _Refused(REASONS["no_venue"])
            return self._attached(self.default)
        parts = [p.strip() for p in location.split(",") if p.strip()]
        name = parts[0][:200]
        folded_location = _fold(location)
        same_name = [v for v in self.venues if _fold(v.name) == _fold(name)]
        if same_name:
            best = sorted(
                same_name,
                key=lambda v: (
                    not (v.city and _fold(v.city) in folded_location),
                    v.organisation_id != self.options.organisation_id,
                    v.id or 0,
                ),
            )[0]
            return self._attached(best)
        if point is not None:
            near = [
                (distance(point, (v.latitude, v.longitude)), v)
                for v in self.venues
                if v.latitude is not None and v.longitude is not None
            ]
            near = [pair for pair in near if pair[0] <= NEARBY_METRES]
            if near:
                return self._attached(min(near, key=lambda pair: pair[0])[1])
        return self._create(name, parts[1:], point)

    def _attached(self, venue: Venue) -> Venue:
        if venue.id is not None and venue not in db.session:
            venue = db.session.merge(venue, load=False)
        return venue

    def _create(self, name: str, rest: list[str], point) -> Venue:
        postcode = city = ""
        address_parts = list(rest)
        for i, part in enumerate(rest):
            found = re.match(r"^(\d{4,5})\s+(.+)$", part)
            if found:
                postcode, city = found.group(1), found.group(2)
                address_parts = rest[:i]
                break
        venue = Venue(
            slug=catalogue.unique_slug(Venue, name, 80, "venue"),
            name=name,
            address=", ".join(address_parts)[:300],
            postcode=postcode[:20],
            city=city[:120],
            latitude=point[0] if point else None,
            longitude=point[1] if point else None,
            timezone=current_app.config["TIMEZONE"],
            organisation_id=self.options.organisation_id,
        )
        db.session.add(venue)
        db.session.flush()
        audit.record(
            self.options.actor,
            "venue.imported",
            venue,
            organisation_id=self.options.organisation_id,
            name=name,
        )
        db.session.commit()  # venues are shared by the UIDs that follow
        self.venues.append(venue)
        self.report.venues_created.append(venue.name)
        return venue


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two points (haversine): close enough to recognise a building."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


# --- writing ----------------------------------------------------------------------------------


def _owner_elsewhere(uid: str, keys: list[str], organisation_id: int) -> bool:
    """True when another organisation already imported this UID (feeds need UIDs unique)."""
    other_event = db.session.scalar(
        select(Event.id).where(Event.external_uid == uid, Event.organisation_id != organisation_id)
    )
    if other_event is not None:
        return True
    other_date = db.session.scalar(
        select(Occurrence.id)
        .join(Occurrence.event)
        .where(Occurrence.external_uid.in_(keys), Event.organisation_id != organisation_id)
        .limit(1)
    )
    return other_date is not None


def _apply(group: _Group, organisation: Organisation, options: ImportOptions, report) -> None:
    keys = [i.key for i in group.instances]
    if _owner_elsewhere(group.uid, keys, organisation.id):
        report.skipped.append(
            Line(group.uid, group.title, None, str(REASONS["other_organisation"]))
        )
        return
    event = db.session.scalar(
        select(Event).where(
            Event.organisation_id == organisation.id, Event.external_uid == group.uid
        )
    )
    created_event = event is None
    if created_event:
        if all(i.cancelled for i in group.instances):
            for instance in group.instances:
                report.skipped.append(
                    Line(
                        group.uid,
                        group.title,
                        instance.starts_at,
                        str(REASONS["cancelled_unknown"]),
                    )
                )
            return
        event = Event(
            organisation_id=organisation.id,
            slug=catalogue.unique_slug(Event, group.title, 120, "event"),
            kind=group.kind or options.default_kind,
            **group.texts.for_new_event(),
            status=EventStatus.PUBLISHED if options.publish else EventStatus.DRAFT,
            external_uid=group.uid,
        )
        db.session.add(event)
        db.session.flush()
        audit.record(
            options.actor, "event.imported", event, organisation_id=organisation.id, uid=group.uid
        )
        report.events_created += 1
    existing = {
        o.external_uid: o
        for o in db.session.scalars(
            select(Occurrence).where(
                Occurrence.event_id == event.id, Occurrence.external_uid.in_(keys)
            )
        )
    }
    to_update: list[tuple[_Instance, Occurrence]] = []
    for instance in group.instances:
        occurrence = existing.get(instance.key)
        if occurrence is not None:
            to_update.append((instance, occurrence))
            continue
        if instance.cancelled:
            report.skipped.append(
                Line(group.uid, group.title, instance.starts_at, str(REASONS["cancelled_unknown"]))
            )
            continue
        capacity = options.capacity if options.capacity is not None else instance.venue.capacity
        capacity = max(capacity or 0, 0)
        if instance.venue.capacity is not None and capacity > instance.venue.capacity:
            capacity = instance.venue.capacity
            report.notes.append(
                Line(group.uid, group.title, instance.starts_at, str(NOTES["capacity_clamped"]))
            )
        occurrence = Occurrence(
            event_id=event.id,
            venue_id=instance.venue.id,
            starts_at=instance.starts_at,
            ends_at=instance.ends_at,
            capacity=capacity,
            max_seats_per_booking=current_app.config["DEFAULT_MAX_SEATS_PER_BOOKING"],
            external_uid=instance.key,
            accessibility=instance.accessibility,
        )
        db.session.add(occurrence)
        db.session.flush()
        audit.record(
            options.actor,
            "occurrence.imported",
            occurrence,
            organisation_id=organisation.id,
            uid=instance.key,
        )
        report.occurrences_created += 1
    db.session.commit()

    # What already existed changes through the catalogue's rules (SEQUENCE, attendees told).
    if not created_event:
        changes = group.texts.changes(event)
        if group.kind is not None and event.kind != group.kind:
            changes["kind"] = group.kind
        if changes:
            _through_catalogue(
                report,
                group,
                None,
                lambda: catalogue.update_event(event.id, actor=options.actor, **changes),
            )
            report.events_updated += 1
    for instance, occurrence in to_update:
        _update_occurrence(instance, occurrence, group, options, report)


def _update_occurrence(instance, occurrence, group, options, report) -> None:
    """An existing date brought in line with the file, through the catalogue."""
    changes: dict = {}
    if occurrence.starts_at != instance.starts_at:
        changes["starts_at"] = instance.starts_at
    if occurrence.ends_at != instance.ends_at:
        changes["ends_at"] = instance.ends_at
    if occurrence.venue_id != instance.venue.id:
        changes["venue"] = instance.venue.id
    if (occurrence.accessibility or "") != instance.accessibility:
        changes["accessibility"] = accessibility.decode(instance.accessibility)
    changed = False
    if occurrence.is_cancelled:
        if not instance.cancelled:
            report.notes.append(
                Line(group.uid, group.title, instance.starts_at, str(NOTES["kept_cancelled"]))
            )
    else:
        if changes:

            def move(o=occurrence, c=changes):
                return catalogue.update_occurrence(o.id, actor=options.actor, **c)

            if _through_catalogue(report, group, instance, move):
                report.occurrences_updated += 1
                changed = True
        if instance.cancelled:

            def cancel(o=occurrence):
                return catalogue.cancel_occurrence(o.id, actor=options.actor)

            if _through_catalogue(report, group, instance, cancel):
                report.occurrences_cancelled += 1
                changed = True
    if not changed:
        report.unchanged += 1


def _through_catalogue(report, group: _Group, instance: _Instance | None, change) -> bool:
    try:
        change()
    except InvalidInput as error:
        db.session.rollback()
        details = "; ".join(
            f"{name}: {' '.join(str(m) for m in messages)}"
            for name, messages in error.errors.items()
        )
        starts_at = instance.starts_at if instance else None
        report.skipped.append(
            Line(group.uid, group.title, starts_at, _format(REASONS["rejected"], details=details))
        )
        return False
    return True


# --- telling what happened (the CLI and the upload page say the same) -------------------------

UNREADABLE = {
    "too_big": _l("The file is too big (at most 5 MB)."),
    "not_icalendar": _l("This is not an iCalendar file (.ics)."),
    "broken": _l("The file could not be read as iCalendar."),
}


def unreadable_message(error: UnreadableCalendar) -> str:
    return str(UNREADABLE.get(str(error), UNREADABLE["broken"]))


def group_count(vevents: Iterable) -> int:
    """How many events (UIDs) an import goes through: the progress bar's length."""
    return len({vevent_uid(v) for v in vevents} - {""})


def summary_lines(report: ImportReport) -> list[str]:
    n = report
    counts = [
        (
            n.events_created,
            ngettext("%(num)d event created", "%(num)d events created", n.events_created),
        ),
        (
            n.events_updated,
            ngettext("%(num)d event updated", "%(num)d events updated", n.events_updated),
        ),
        (
            n.occurrences_created,
            ngettext("%(num)d date created", "%(num)d dates created", n.occurrences_created),
        ),
        (
            n.occurrences_updated,
            ngettext("%(num)d date moved", "%(num)d dates moved", n.occurrences_updated),
        ),
        (
            n.occurrences_cancelled,
            ngettext("%(num)d date cancelled", "%(num)d dates cancelled", n.occurrences_cancelled),
        ),
        (n.unchanged, ngettext("%(num)d date unchanged", "%(num)d dates unchanged", n.unchanged)),
        (
            len(n.venues_created),
            ngettext("%(num)d venue created", "%(num)d venues created", len(n.venues_created)),
        ),
        (len(n.skipped), ngettext("%(num)d item skipped", "%(num)d items skipped", len(n.skipped))),
    ]
    lines = [text for count, text in counts if count]
    if report.venues_created:
        lines.append(_("New venues: %(names)s", names=", ".join(report.venues_created)))
    return lines or [_("Nothing to import.")]


def report_lines(report: ImportReport) -> list[str]:
    lines = summary_lines(report)
    for heading, items in ((_("Skipped:"), report.skipped), (_("Remarks:"), report.notes)):
        if items:
            lines.append(heading)
            for item in items:
                when = (
                    f" ({item.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
                    if item.starts_at
                    else ""
                )
                lines.append(f"  {item.title or item.uid}{when}: {item.reason}")
    return lines
