"""What the public may see, and how it is found: shared by pages, feeds and the API.

One set of filters (``Filters``) serves ``/events``, the calendar views, ``/calendar.ics``,
``/events.atom``, ``/embed`` and ``GET /api/v1/events``: each door parses its query string
with ``parse_filters`` (which knows nothing of ``request``: it takes any mapping) and asks
``search_occurrences`` / ``search_events``. A bad value is never silently dropped: pages
show ``filter_messages`` beside what was asked, feeds refuse it (``feed_filters``), the API
answers 422.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, String, func, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql.functions import FunctionElement

from ..extensions import db
from ..models import (
    Event,
    EventKind,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    Organisation,
    Venue,
)
from ..timeutil import utcnow
from . import accessibility
from . import bookings as rules

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_QUERY_LENGTH = 200
KINDS = tuple(k.value for k in EventKind)
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)


# --- filters -----------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a person asked to see. Empty filters: everything public from now on.

    ``date_from``/``date_to`` are inclusive calendar days in the site's zone;
    an occurrence matches when it overlaps them.
    """

    kinds: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()  # slugs
    organisations: tuple[str, ...] = ()  # slugs
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    places_left: bool = False
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    access: tuple[str, ...] = ()  # accessibility codes, all required

    @property
    def is_empty(self) -> bool:
        """No filter chosen (pagination does not count)."""
        return self == Filters(page=self.page, per_page=self.per_page)

    def to_args(self, *, page: bool = True) -> dict[str, list[str] | str]:
        """The query-string form, for links (pagination, feeds, subscribe URLs)."""
        args: dict[str, list[str] | str] = {}
        if self.kinds:
            args["kind"] = list(self.kinds)
        if self.venues:
            args["venue"] = list(self.venues)
        if self.organisations:
            args["organisation"] = list(self.organisations)
        if self.q:
            args["q"] = self.q
        if self.date_from:
            args["from"] = self.date_from.isoformat()
        if self.date_to:
            args["to"] = self.date_to.isoformat()
        if self.places_left:
            args["available"] = "1"
        if self.access:
            args["access"] = list(self.access)
        if page and self.page != 1:
            args["page"] = str(self.page)
        if page and self.per_page != DEFAULT_PER_PAGE:
            args["per_page"] = str(self.per_page)
        return args

    def with_page(self, page: int) -> Filters:
        return replace(self, page=page)


TRUE_VALUES = {"1", "true", "on", "yes", "y", "oui"}
FALSE_VALUES = {"", "0", "false", "off", "no", "n", "non"}


def _values(args: Mapping, key: str) -> list[str]:
    if hasattr(args, "getlist"):
        raw = args.getlist(key)
    else:
        value = args.get(key)
        raw = value if isinstance(value, list | tuple) else ([] if value is None else [value])
    out: list[str] = []
    for item in raw:
        # "kind=visit,talk" and "kind=visit&kind=talk" mean the same
        out.extend(part.strip() for part in _printable(item).split(",") if part.strip())
    return list(dict.fromkeys(out))


def _printable(value) -> str:
    """Control characters never match anything, and PostgreSQL refuses NUL in a query."""
    return "".join(c for c in str(value) if c >= " " and c != "\x7f")


def _parse_day(value: str, tz: ZoneInfo) -> date:
    """An ISO date, or an ISO date-time with an offset (taken in the site's zone)."""
    value = value.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError if garbage
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return parsed.astimezone(tz).date()


def parse_filters(
    args: Mapping, *, per_page: int = DEFAULT_PER_PAGE, max_per_page: int = MAX_PER_PAGE
) -> tuple[Filters, dict[str, str]]:
    """Filters from a query string; bad values are left out and reported by field.

    The error values are short codes (``invalid``, ``unknown``, ``before_from``…): pages
    word them with ``filter_messages``, feeds refuse them (``feed_filters``). ``per_page``
    and ``max_per_page`` are the page size when none is asked and the largest one taken.
    """
    errors: dict[str, str] = {}
    tz = site_zone()

    kinds = _values(args, "kind")
    if any(k not in KINDS for k in kinds):
        errors["kind"] = "unknown"
        kinds = [k for k in kinds if k in KINDS]

    q = " ".join(_printable(args.get("q") or "").split())
    if len(q) > MAX_QUERY_LENGTH:
        errors["q"] = "too_long"
        q = q[:MAX_QUERY_LENGTH]

    days: dict[str, date | None] = {"from": None, "to": None}
    for key in days:
        raw = str(args.get(key) or "").strip()
        if raw:
            try:
                day = _parse_day(raw, tz)
            except (ValueError, OverflowError):  # garbage, or an offset at year 1's edge
                errors[key] = "invalid"
                continue
            if FIRST_DAY <= day <= LAST_DAY:  # keeps the day arithmetic within datetime's
                days[key] = day
            else:
                errors[key] = "invalid"
    if days["from"] and days["to"] and days["to"] < days["from"]:
        errors["to"] = "before_from"
        days["to"] = None

    places_left = False
    raw_available = str(args.get("available") or "").strip().lower()
    if raw_available in TRUE_VALUES:
        places_left = True
    elif raw_available not in FALSE_VALUES:
        errors["available"] = "invalid"

    access = _values(args, "access")
    if accessibility.unknown_codes(access):
        errors["access"] = "unknown"
        access = [c for c in access if c in accessibility.BY_CODE]

    page = _positive_int(args.get("page"), 1, errors, "page", maximum=100_000)
    per_page = _positive_int(
        args.get("per_page"), per_page, errors, "per_page", maximum=max_per_page
    )

    filters = Filters(
        kinds=tuple(kinds),
        venues=tuple(_values(args, "venue")),
        organisations=tuple(_values(args, "organisation")),
        q=q,
        date_from=days["from"],
        date_to=days["to"],
        places_left=places_left,
        page=page,
        per_page=per_page,
        access=tuple(access),
    )
    return filters, errors


FILTER_MESSAGES = {
    "unknown": _l("Unknown choice, ignored."),
    "invalid": _l("Not understood, ignored: write a date like 2026-03-08."),
    "before_from": _l("The end date is before the start date, so it was ignored."),
    "too_long": _l("Too long: shortened."),
    "out_of_range": _l("Out of range, ignored."),
}


def filter_messages(errors: Mapping[str, str]) -> dict[str, str]:
    """What a page shows beside each filter it left out or changed, in the current language."""
    return {key: str(FILTER_MESSAGES.get(code, code)) for key, code in errors.items()}


# Filters that choose what a feed holds: a bad one is refused rather than ignored, so that
# a subscription never silently shows something else than what was asked (a long search is
# only shortened, and pages do not apply to feeds).
FEED_FILTERS = ("kind", "from", "to", "available", "access")


def feed_filters(args: Mapping) -> tuple[Filters, str | None]:
    """``parse_filters`` for ``/calendar.ics`` and ``/events.atom``: the filters, and the
    plain text of a 400 answer when one of ``FEED_FILTERS`` is bad (else None)."""
    filters, errors = parse_filters(args)
    refused = {key: code for key, code in errors.items() if key in FEED_FILTERS}
    if not refused:
        return filters, None
    detail = ", ".join(f"{key}: {code}" for key, code in sorted(refused.items()))
    return filters, f"Bad filter ({detail})\n"


def _positive_int(raw, default: int, errors: dict, key: str, *, maximum: int) -> int:
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors[key] = "invalid"
        return default
    if not 1 <= value <= maximum:
        errors[key] = "out_of_range"
        return default
    return value


# --- time helpers --------------------------------------------------------------


def site_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", "Europe/Paris"))


def day_start(day: date, tz: ZoneInfo | None = None) -> datetime:
    """Midnight of a local calendar day, as an aware UTC datetime."""
    tz = tz or site_zone()
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_day(moment: datetime, tz: ZoneInfo | None = None) -> date:
    return moment.astimezone(tz or site_zone()).date()


# --- queries -----------------------------------------------------------------


# Search ignores case and French accents, alike on SQLite and PostgreSQL: PostgreSQL
# folds with translate() (its lower() may only know ASCII under the C locale), SQLite
# with the same Python function as the searched words, registered on each connection.
_FOLDS = {
    "a": "àâäáãåÀÂÄÁÃÅ",
    "e": "éèêëÉÈÊË",
    "i": "îïíìÎÏÍÌ",
    "o": "ôöóòõÔÖÓÒÕ",
    "u": "ùûüúÙÛÜÚ",
    "c": "çÇ",
    "y": "ÿŸ",
    "n": "ñÑ",
}
_PAIRS = {"oe": "œŒ", "ae": "æÆ"}
_FOLD_TABLE = {ord(c): plain for plain, accented in (_FOLDS | _PAIRS).items() for c in accented}


def fold(text: str | None) -> str:
    return (text or "").translate(_FOLD_TABLE).lower()


class folded(FunctionElement):
    """``fold(column)`` in SQL."""

    type = String()
    inherit_cache = True
    name = "calendrier_fold"


@compiles(folded)
def _fold_sqlite(element, compiler, **kw):
    return f"calendrier_fold({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _fold_postgresql(element, compiler, **kw):
    source = "".join(_FOLDS.values())
    target = "".join(plain * len(accented) for plain, accented in _FOLDS.items())
    sql = f"translate({compiler.process(element.clauses, **kw)}, '{source}', '{target}')"
    for plain, accented in _PAIRS.items():
        for c in accented:
            sql = f"replace({sql}, '{c}', '{plain}')"
    return f"lower({sql})"


@sa_event.listens_for(Engine, "connect")
def _register_sqlite_fold(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("calendrier_fold", 1, fold, deterministic=True)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def occurrence_query(
    filters: Filters,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    include_cancelled: bool = True,
) -> Select:
    """The public occurrences matching ``filters``, ordered by start, without loading options.

    Occurrences that ended before ``since`` (default: now) are always left out: ``date_from``
    only narrows the window, it never reaches into the past. Lists and the API show what one
    can still attend; the feeds pass ``since`` to keep the last 30 days (calendar apps learn
    of changes and cancellations), the month and week views the start of the period they draw.
    """
    now = now or utcnow()
    tz = site_zone()
    query = select(Occurrence).join(Occurrence.event).where(Event.status == EventStatus.PUBLISHED)
    # venues and organisers are joined only when a filter needs them (cheaper counts)
    if filters.venues or filters.q or filters.access:
        query = query.join(Occurrence.venue)
    if filters.organisations or filters.q:
        query = query.join(Event.organisation)
    earliest = since or now
    if filters.date_from:
        earliest = max(earliest, day_start(filters.date_from, tz))
    query = query.where(Occurrence.ends_at > earliest)
    if filters.date_to:
        query = query.where(
            Occurrence.starts_at < day_start(filters.date_to + timedelta(days=1), tz)
        )
    if filters.kinds:
        query = query.where(Event.kind.in_(filters.kinds))
    if filters.venues:
        query = query.where(Venue.slug.in_(filters.venues))
    if filters.organisations:
        query = query.where(Organisation.slug.in_(filters.organisations))
    if filters.q:
        for word in fold(filters.q).split()[:8]:
            pattern = f"%{_escape_like(word)}%"
            query = query.where(
                or_(
                    *(
                        folded(column).like(pattern, escape="\\")
                        for column in (
                            Event.title,
                            Event.summary,
                            Event.description,
                            Venue.name,
                            Venue.city,
                            Organisation.name,
                        )
                    )
                )
            )
    for code in filters.access:
        pattern = f"% {_escape_like(code)} %"
        query = query.where(
            or_(
                Occurrence.accessibility.like(pattern, escape="\\"),
                Venue.accessibility.like(pattern, escape="\\"),
            )
        )
    if not include_cancelled:
        query = query.where(Occurrence.status == OccurrenceStatus.SCHEDULED)
    if filters.places_left:
        query = query.where(
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.starts_at > now,
            or_(Occurrence.booking_closes_at.is_(None), Occurrence.booking_closes_at > now),
            Occurrence.capacity > Occurrence.seats_taken,
        )
    return query.order_by(Occurrence.starts_at, Occurrence.id)


def _with_options(query: Select) -> Select:
    return query.options(
        joinedload(Occurrence.event).joinedload(Event.organisation),
        joinedload(Occurrence.event).joinedload(Event.parent),
        joinedload(Occurrence.venue),
    )


@dataclass
class Page:
    """One page of results; ``rows`` pairs each occurrence with its availability."""

    filters: Filters
    total: int
    rows: list[tuple[Occurrence, rules.Availability]] = field(default_factory=list)

    @property
    def page(self) -> int:
        return self.filters.page

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.filters.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def occurrences(self) -> list[Occurrence]:
        return [o for o, _ in self.rows]


def search_occurrences(filters: Filters, *, now: datetime | None = None) -> Page:
    """One page of matching occurrences, in three queries whatever the page size."""
    now = now or utcnow()
    base = occurrence_query(filters, now=now)
    total = db.session.scalar(base.with_only_columns(func.count(Occurrence.id)).order_by(None))
    offset = (filters.page - 1) * filters.per_page
    occurrences = list(
        db.session.scalars(_with_options(base).offset(offset).limit(filters.per_page)).unique()
    )
    return Page(filters, total or 0, with_availability(occurrences, now))


def all_occurrences(
    filters: Filters,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    limit: int | None = None,
) -> list[Occurrence]:
    """Every matching occurrence (no pagination): feeds and the month view.

    ``since`` widens the start of the window when no ``date_from`` is given
    (the feed shows the last 30 days too); cancelled occurrences are included
    so calendars learn of the cancellation.
    """
    query = _with_options(occurrence_query(filters, now=now, since=since))
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query).unique())


def search_events(filters: Filters, *, now: datetime | None = None) -> tuple[list[Event], int]:
    """One page of events having at least one matching occurrence, with those occurrences.

    Events come in the order of their first matching occurrence. Returns
    ``(events, total)``; each event's matching occurrences are in
    ``event.matching_occurrences`` (its full ``occurrences`` stay untouched).
    """
    now = now or utcnow()
    matching = occurrence_query(filters, now=now).order_by(None).subquery()
    firsts = (
        select(matching.c.event_id, func.min(matching.c.starts_at).label("first"))
        .group_by(matching.c.event_id)
        .subquery()
    )
    total = db.session.scalar(select(func.count()).select_from(firsts)) or 0
    offset = (filters.page - 1) * filters.per_page
    event_ids = list(
        db.session.scalars(
            select(firsts.c.event_id)
            .order_by(firsts.c.first, firsts.c.event_id)
            .offset(offset)
            .limit(filters.per_page)
        )
    )
    if not event_ids:
        return [], total
    events = {
        e.id: e
        for e in db.session.scalars(
            select(Event)
            .where(Event.id.in_(event_ids))
            .options(joinedload(Event.organisation), joinedload(Event.parent))
            .options(selectinload(Event.questions))  # the API shows them: one query in all
        )
    }
    occurrences = db.session.scalars(
        occurrence_query(filters, now=now)
        .where(Occurrence.event_id.in_(event_ids))
        .options(joinedload(Occurrence.venue))
    )
    by_event: dict[int, list[Occurrence]] = {i: [] for i in event_ids}
    for occurrence in occurrences:
        by_event[occurrence.event_id].append(occurrence)
    ordered = [events[i] for i in event_ids]
    for event in ordered:
        event.matching_occurrences = by_event[event.id]
    return ordered, total


# --- single objects -------------------------------------------------------------


def public_event(slug: str) -> Event | None:
    """A published event with its occurrences and venues loaded, or None."""
    event = db.session.scalar(
        select(Event)
        .where(Event.slug == slug, Event.status == EventStatus.PUBLISHED)
        .options(
            selectinload(Event.occurrences).joinedload(Occurrence.venue),
            joinedload(Event.organisation),
            joinedload(Event.parent),
        )
    )
    return event


def festival_programme(event: Event) -> list[Occurrence]:
    """The dates of a festival's published programme (its children's occurrences), by start."""
    children = select(Event.id).where(
        Event.parent_id == event.id, Event.status == EventStatus.PUBLISHED
    )
    query = _with_options(
        select(Occurrence)
        .where(Occurrence.event_id.in_(children))
        .order_by(Occurrence.starts_at, Occurrence.id)
    )
    return list(db.session.scalars(query).unique())


def upcoming_occurrences(limit: int = 60, now: datetime | None = None) -> list[Occurrence]:
    return all_occurrences(Filters(), now=now, limit=limit)


def with_availability(
    occurrences: Sequence[Occurrence] | Iterable[Occurrence], now: datetime | None = None
) -> list[tuple[Occurrence, rules.Availability]]:
    """Each occurrence with what a person sees at a glance, from its seat counter: no query."""
    now = now or utcnow()
    occurrences = list(occurrences)
    held = rules.held_left_by_occurrence(occurrences, now)  # no query when none holds
    return [(o, rules.availability(o, o.seats_taken, now, held.get(o.id, 0))) for o in occurrences]


def filter_choices() -> tuple[list[Venue], list[Organisation]]:
    """The venues and organisations a person can filter by, by name (two queries)."""
    venues = list(db.session.scalars(select(Venue).order_by(Venue.name, Venue.id)))
    organisations = list(
        db.session.scalars(select(Organisation).order_by(Organisation.name, Organisation.id))
    )
    return venues, organisations


def venue_by_slug(slug: str) -> Venue | None:
    return db.session.scalar(select(Venue).where(Venue.slug == slug))


def organisation_by_slug(slug: str) -> Organisation | None:
    return db.session.scalar(select(Organisation).where(Organisation.slug == slug))


def map_link(venue: Venue) -> str | None:
    """A plain OpenStreetMap link (no embedded map, nothing loaded from elsewhere)."""
    if venue.latitude is not None and venue.longitude is not None:
        lat, lon = f"{venue.latitude:.5f}", f"{venue.longitude:.5f}"
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
    if venue.full_address:
        from urllib.parse import quote

        return "https://www.openstreetmap.org/search?query=" + quote(venue.full_address)
    return None


# --- calendar views -----------------------------------------------------------------


@dataclass
class Day:
    """One calendar day and what happens on it (an occurrence over several days is on each).

    ``rows`` may hold only the first few dates of a busy day; ``total`` counts them all.
    """

    date: date
    rows: list[tuple[Occurrence, rules.Availability]] = field(default_factory=list)
    in_range: bool = True
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _days_covered(starts_at: datetime, ends_at: datetime, first: date, last: date, tz):
    start = local_day(starts_at, tz)
    # an occurrence ending at midnight does not spill onto the next day
    end = local_day(ends_at - timedelta(microseconds=1), tz)
    current = max(start, first)
    while current <= min(end, last):
        yield current
        current += timedelta(days=1)


def agenda(
    first: date,
    last: date,
    filters: Filters,
    *,
    per_day: int | None = None,
    now: datetime | None = None,
) -> list[Day]:
    """Every day from ``first`` to ``last`` (inclusive) with the matching occurrences.

    With ``per_day``, each day keeps only its first dates (and counts the others): the
    times of every match are read as plain rows, and only the dates shown are loaded
    whole. Three queries whatever the number of occurrences.
    """
    tz = site_zone()
    days = [Day(first + timedelta(days=i)) for i in range((last - first).days + 1)]
    by_date = {d.date: d for d in days}
    wanted = replace(filters, date_from=first, date_to=last, page=1)
    # a calendar draws its whole period, the days already over included
    period = day_start(first, tz)
    matches = db.session.execute(
        occurrence_query(wanted, now=now, since=period).with_only_columns(
            Occurrence.id, Occurrence.starts_at, Occurrence.ends_at
        )
    ).all()
    shown: dict[int, list[Day]] = {}
    for occurrence_id, starts_at, ends_at in matches:
        for current in _days_covered(starts_at, ends_at, first, last, tz):
            day = by_date[current]
            day.total += 1
            if per_day is None or day.total <= per_day:
                shown.setdefault(occurrence_id, []).append(day)
    if shown:
        loaded = db.session.scalars(
            _with_options(occurrence_query(wanted, now=now, since=period)).where(
                Occurrence.id.in_(shown)
            )
        ).unique()
        for occurrence, avail in with_availability(loaded, now):
            for day in shown[occurrence.id]:
                day.rows.append((occurrence, avail))
    return days


def month_weeks(
    year: int,
    month: int,
    filters: Filters,
    *,
    per_day: int | None = None,
    now: datetime | None = None,
) -> list[list[Day]]:
    """The weeks (Monday to Sunday) covering a month; days of the months around it are
    marked ``in_range=False`` and left empty."""
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    grid_start = first - timedelta(days=first.weekday())
    grid_end = last + timedelta(days=6 - last.weekday())
    inside = {d.date: d for d in agenda(first, last, filters, per_day=per_day, now=now)}
    days = [
        inside.get(grid_start + timedelta(days=i))
        or Day(grid_start + timedelta(days=i), in_range=False)
        for i in range((grid_end - grid_start).days + 1)
    ]
    return [days[i : i + 7] for i in range(0, len(days), 7)]


def today() -> date:
    return local_day(utcnow())


def by_day(rows: Iterable[tuple[Occurrence, rules.Availability]]) -> list[Day]:
    """Rows grouped by the local day they start on, days in order (a festival's programme)."""
    days: dict[date, Day] = {}
    for occurrence, avail in rows:
        start = local_day(occurrence.starts_at)
        days.setdefault(start, Day(start)).rows.append((occurrence, avail))
    return [days[d] for d in sorted(days)]


def sitemap_entries() -> tuple[list[tuple[str, datetime]], list[Venue], list[Organisation]]:
    """What search engines should find: public events (slug, last change), venues, organisers."""
    last_change = (
        select(Occurrence.event_id, func.max(Occurrence.updated_at).label("changed"))
        .group_by(Occurrence.event_id)
        .subquery()
    )
    events = [
        (slug, max(d for d in (updated, changed) if d is not None))
        for slug, updated, changed in db.session.execute(
            select(Event.slug, Event.updated_at, last_change.c.changed)
            .outerjoin(last_change, last_change.c.event_id == Event.id)
            .where(Event.status == EventStatus.PUBLISHED)
            .order_by(Event.id)
        )
    ]
    venues, organisations = filter_choices()
    return events, venues, organisations
