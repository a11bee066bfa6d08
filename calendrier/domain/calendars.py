"""iCalendar output (RFC 5545 and RFC 7986), shared by the feeds and by the files sent by email.

Written out by hand rather than through icalendar's serialiser, because:

- the same data must give the same bytes, so that ETags and caches mean something:
  DTSTAMP and LAST-MODIFIED come from the data, never from the clock;
- each VTIMEZONE must read the same way in every client, in summer and in winter: a yearly
  RRULE pair where the zone follows one (what Outlook and Google expect), explicit
  observances otherwise, always covering the years the calendar's occurrences fall in;
- a feed of thousands of occurrences must stay cheap (``benchmarks/feeds.py`` compares it
  with icalendar's own serialisation of the same calendar).

Every text goes through ``escape_text``: no title, place or reason can add a line, a property
or a component.

The feeds' validators also depend on two facts recorded here at flush time, whoever changes
the data: ``Occurrence.changed_at`` moves when something a calendar shows changes (not when a
booking bumps the row), and a ``FeedTombstone`` is written when an occurrence or an event
leaves a feed's scope (deleted or moved), so a feed's Last-Modified never goes backwards.
"""

from __future__ import annotations

import functools
import hashlib
import re
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, inspect, or_, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, joinedload, selectinload

from ..extensions import db
from ..i18n import clock, when
from ..models import (
    Event,
    EventKind,
    EventStatus,
    FeedTombstone,
    Occurrence,
    OccurrenceStatus,
    Venue,
)
from ..timeutil import utcnow
from . import accessibility
from .images import file_path, largest_jpeg
from .languages import ICAL_DESCRIPTION, ICAL_TITLE, SOURCE_LANGUAGE, TEXT_LANGUAGES, localised

PRODID = "-//calendrier//agenda//FR"
# Part of every feed's ETag: bump it whenever the same data would give other bytes.
FORMAT_VERSION = "4"
# How often clients should fetch again (RFC 7986 REFRESH-INTERVAL, and Outlook's X- twin).
REFRESH_INTERVAL = "PT1H"
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT"})

KIND_LABELS = {
    EventKind.FESTIVAL: _l("Festival"),
    EventKind.VISIT: _l("Guided visit"),
    EventKind.SCREENING: _l("Screening"),
    EventKind.TRAINING: _l("Training"),
    EventKind.TALK: _l("Talk"),
    EventKind.WORKSHOP: _l("Workshop"),
}

# The words of a VEVENT, translated once per calendar (not once per line: see _Texts).
TEXTS = {
    "cancelled_title": _l("Cancelled: %(title)s"),
    "date_cancelled": _l("This date is cancelled."),
    "more": _l("More information: %(url)s"),
    "book": _l("Book: %(url)s"),
    "sittings": _l("In %(num)s sittings:"),
}


class _Texts:
    """TEXTS and KIND_LABELS in the current language, looked up once for a whole calendar
    (gettext per occurrence was a third of the cost of a large feed)."""

    def __init__(self) -> None:
        self.words = {key: str(value) for key, value in TEXTS.items()}
        self.kinds = {kind.value: str(label) for kind, label in KIND_LABELS.items()}
        # English calendars carry the English texts where the organiser wrote them.
        locale = get_locale()
        self.language = locale.language if locale is not None else "fr"

    def __call__(self, key: str, **values: str) -> str:
        return self.words[key] % values if values else self.words[key]

    def kind(self, kind: str) -> str:
        return self.kinds.get(kind, kind)


# --- text -----------------------------------------------------------------------------------

# C0 controls but TAB and LF, DEL and the C1 controls: not allowed in iCalendar text.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x84\x86-\x9f]")
# Line breaks that some parsers split on (Python's str.splitlines does): made plain newlines.
_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029]")
# Anything that needs the two substitutions above (most texts need neither).
_UNUSUAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def escape_text(value: object) -> str:
    """A TEXT value (RFC 5545 §3.3.11): one logical line whatever the input holds."""
    text = str(value)
    if _UNUSUAL.search(text):
        text = _CONTROLS.sub("", _BREAKS.sub("\n", text))
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def param_value(value: str) -> str:
    """A parameter value: quoted when it holds , ; or :, never a quote or a control."""
    text = _CONTROLS.sub("", _BREAKS.sub(" ", value)).replace('"', "'").replace("\n", " ")
    return f'"{text}"' if any(c in text for c in ",;:") else text


def fold(line: str) -> str:
    """Lines of at most 75 octets (RFC 5545 §3.1), never cutting a UTF-8 character."""
    if line.isascii():
        if len(line) <= 75:
            return line
        parts = [line[:75]]
        parts.extend(line[i : i + 74] for i in range(75, len(line), 74))
        return "\r\n ".join(parts)
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74
    return "\r\n ".join(parts)


def format_utc(moment: datetime) -> str:
    m = moment.astimezone(UTC)
    return f"{m.year:04d}{m.month:02d}{m.day:02d}T{m.hour:02d}{m.minute:02d}{m.second:02d}Z"


def format_local(m: datetime) -> str:
    return f"{m.year:04d}{m.month:02d}{m.day:02d}T{m.hour:02d}{m.minute:02d}{m.second:02d}"


def format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


# --- time zones -----------------------------------------------------------------------------


def _transitions(tz: ZoneInfo, first_year: int, last_year: int) -> list[tuple[datetime, ...]]:
    """(instant, offset before, offset after, name after, is DST after) for each change."""
    found = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=12)
    offset = moment.astimezone(tz).utcoffset()
    while moment < end:
        later = moment + step
        later_offset = later.astimezone(tz).utcoffset()
        if later_offset != offset:
            low, high = moment, later  # the change happens in (low, high]
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            local = high.astimezone(tz)
            found.append((high, offset, later_offset, local.tzname(), bool(local.dst())))
            offset = later_offset
        moment = later
    return found


def _yearly_rule(changes: list[tuple]) -> str | None:
    """The RRULE repeating these changes (one a year, same month, weekday, time), or None."""
    weekdays = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
    rules = set()
    years = []
    for instant, before, *_rest in changes:
        wall = instant.astimezone(UTC) + before
        years.append(wall.year)
        last = wall.day + 7 > monthrange(wall.year, wall.month)[1]
        nth = "-1" if last else str((wall.day - 1) // 7 + 1)
        rules.add((wall.month, weekdays[wall.weekday()], nth, wall.time()))
        if not last and (wall.day - 1) // 7 + 1 == 4:
            return None  # "4th" and "last" would be ambiguous across years: keep explicit
    if len(rules) != 1 or years != list(range(years[0], years[0] + len(years))):
        return None
    month, weekday, nth, _time = rules.pop()
    return f"FREQ=YEARLY;BYMONTH={month};BYDAY={nth}{weekday}"


@functools.lru_cache(maxsize=128)
def vtimezone(tzid: str, first_year: int, last_year: int) -> tuple[str, ...]:
    """A VTIMEZONE valid from ``first_year - 1`` to ``last_year + 1`` (and on, if the rule holds).

    Where the zone follows a yearly rule over those years, two observances with RRULEs (the
    form every client reads, Outlook included); otherwise one observance per change.
    """
    tz = ZoneInfo(tzid)
    changes = _transitions(tz, first_year - 1, last_year + 1)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{param_value(tzid)}"]
    if not changes:
        start = datetime(first_year - 1, 1, 1, tzinfo=tz)
        offset = format_offset(start.utcoffset())
        lines += [
            "BEGIN:STANDARD",
            f"DTSTART:{format_local(start.replace(year=1970))}",
            f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}",
            f"TZNAME:{escape_text(start.tzname())}",
            "END:STANDARD",
        ]
        return (*lines, "END:VTIMEZONE")
    dst_changes = [c for c in changes if c[4]]
    std_changes = [c for c in changes if not c[4]]
    groups = [dst_changes, std_changes]
    rules = [_yearly_rule(g) if g else None for g in groups]
    regular = (
        all(rules)
        and len({(c[1], c[2], c[3]) for c in dst_changes}) == 1
        and len({(c[1], c[2], c[3]) for c in std_changes}) == 1
    )
    observances = (
        [(g[0], rule) for g, rule in zip(groups, rules, strict=True)]
        if regular
        else [(c, None) for c in changes]
    )
    for (instant, before, after, name, is_dst), rule in sorted(observances, key=lambda o: o[0][0]):
        kind = "DAYLIGHT" if is_dst else "STANDARD"
        lines += [
            f"BEGIN:{kind}",
            f"DTSTART:{format_local(instant.astimezone(UTC).replace(tzinfo=None) + before)}",
        ]
        if rule:
            lines.append(f"RRULE:{rule}")
        lines += [
            f"TZOFFSETFROM:{format_offset(before)}",
            f"TZOFFSETTO:{format_offset(after)}",
            f"TZNAME:{escape_text(name)}",
            f"END:{kind}",
        ]
    return (*lines, "END:VTIMEZONE")


class _Zones:
    """The zones a calendar uses, with the years each must cover."""

    def __init__(self) -> None:
        self.years: dict[str, tuple[int, int]] = {}
        self.cache: dict[str, ZoneInfo] = {}
        self.params: dict[str, str] = {}

    def stamp(self, prop: str, moment: datetime, tzid: str) -> str:
        """``DTSTART;TZID=…:local`` in the venue's zone; UTC where local time would mislead."""
        if tzid in UTC_NAMES:
            return f"{prop}:{format_utc(moment)}"
        tz = self.cache.get(tzid) or self.cache.setdefault(tzid, ZoneInfo(tzid))
        local = moment.astimezone(tz)
        if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
            # A wall-clock time that happens twice (the autumn hour): RFC 5545 reads it as
            # the first, ical.js as the second; in UTC every client places it alike.
            return f"{prop}:{format_utc(moment)}"
        year = local.year
        low, high = self.years.get(tzid, (year, year))
        self.years[tzid] = (min(low, year), max(high, year))
        return f"{prop};TZID={self.params.get(tzid) or self._param(tzid)}:{format_local(local)}"

    def _param(self, tzid: str) -> str:
        self.params[tzid] = param_value(tzid)
        return self.params[tzid]

    def lines(self) -> list[str]:
        out: list[str] = []
        for tzid in sorted(self.years):
            out.extend(vtimezone(tzid, *self.years[tzid]))
        return out


# --- events ---------------------------------------------------------------------------------


def _seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def occurrence_modified(occurrence: Occurrence) -> datetime:
    """When anything this occurrence's VEVENT shows last changed: its LAST-MODIFIED and DTSTAMP."""
    return _seconds(
        max(
            occurrence.changed_at or occurrence.created_at,
            occurrence.event.updated_at,
            occurrence.venue.updated_at,
        )
    )


def event_url(public_url: str, slug: str) -> str:
    return f"{public_url}/events/{quote(slug)}"


def occurrence_lines(
    occurrence: Occurrence,
    public_url: str,
    zones: _Zones,
    *,
    cancelled: bool = False,
    texts: _Texts | None = None,
) -> list[str]:
    """The VEVENT of one occurrence, unfolded. ``cancelled`` forces STATUS:CANCELLED."""
    texts = texts or _Texts()
    event = occurrence.event
    venue = occurrence.venue
    cancelled = cancelled or occurrence.status == OccurrenceStatus.CANCELLED
    page = event_url(public_url, event.slug)
    stamp = format_utc(occurrence_modified(occurrence))
    versions = _versions(event)
    title, title_language = localised(
        versions[SOURCE_LANGUAGE][0], versions["en"][0], texts.language
    )
    title = texts("cancelled_title", title=title) if cancelled else title
    about, about_language = localised(
        versions[SOURCE_LANGUAGE][1], versions["en"][1], texts.language
    )
    if cancelled:
        notice = texts("date_cancelled")
        if occurrence.cancel_reason:
            notice += " " + occurrence.cancel_reason
        paragraphs = [notice, about, texts("more", url=page)]
    else:
        paragraphs = [about, texts("book", url=f"{page}?occurrence={occurrence.id}")]
    if len(occurrence.sittings) > 1:  # a training in half-days: the date's VEVENT lists them
        paragraphs.insert(-1, _sittings_text(occurrence, texts))
    description = "\n\n".join(p.strip() for p in paragraphs if p and p.strip())
    location = ", ".join(p for p in (venue.name, venue.full_address) if p)
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(occurrence.uid)}",
        f"DTSTAMP:{stamp}",
        f"CREATED:{format_utc(_seconds(occurrence.created_at))}",
        f"LAST-MODIFIED:{stamp}",
        f"SEQUENCE:{occurrence.sequence or 0}",
        zones.stamp("DTSTART", occurrence.starts_at, venue.timezone),
        zones.stamp("DTEND", occurrence.ends_at, venue.timezone),
        f"SUMMARY;LANGUAGE={title_language}:{escape_text(title)}",
        f"DESCRIPTION;LANGUAGE={about_language}:{escape_text(description)}",
        *_other_languages(versions, title_language, about_language),
        f"LOCATION:{escape_text(location)}",
    ]
    if venue.latitude is not None and venue.longitude is not None:
        lines.append(f"GEO:{venue.latitude:.6f};{venue.longitude:.6f}")
    if event.image is not None:
        # RFC 7986 §5.10: the event's picture, as clients show it beside the event.
        picture = f"{public_url}{file_path(event.image, largest_jpeg(event.image)[0])}"
        lines.append(f"IMAGE;VALUE=URI;DISPLAY=BADGE:{picture}")
    lines += [
        f"URL:{page}",
        f"CATEGORIES:{escape_text(texts.kind(event.kind))}",
        *_accessibility_lines(occurrence),
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        "CLASS:PUBLIC",
        f"TRANSP:{'TRANSPARENT' if cancelled else 'OPAQUE'}",
        "END:VEVENT",
    ]
    return lines


def _versions(event: Event) -> dict[str, tuple[str, str]]:
    """(title, what the DESCRIPTION tells of the event) in each language, as written."""
    return {
        SOURCE_LANGUAGE: (event.title, event.summary or event.description),
        "en": (event.title_en or "", event.summary_en or event.description_en or ""),
    }


def _other_languages(
    versions: dict[str, tuple[str, str]], title_language: str, about_language: str
) -> list[str]:
    """The texts SUMMARY and DESCRIPTION do not show, in the X-properties that
    ``events import`` reads back (domain/languages.py): every written one, in its language."""
    lines = []
    for language in TEXT_LANGUAGES:
        title, about = versions[language]
        if language != title_language and title.strip():
            lines.append(f"{ICAL_TITLE};LANGUAGE={language}:{escape_text(title)}")
        if language != about_language and about.strip():
            lines.append(f"{ICAL_DESCRIPTION};LANGUAGE={language}:{escape_text(about)}")
    return lines


def _sittings_text(occurrence: Occurrence, texts: _Texts) -> str:
    lines = [texts("sittings", num=str(len(occurrence.sittings)))]
    lines += [f"- {when(s.starts_at)} \u2013 {clock(s.ends_at)}" for s in occurrence.sittings]
    return "\n".join(lines)


def calendar_bytes(
    occurrences: Iterable[Occurrence],
    name: str,
    public_url: str,
    method: str | None = None,
    *,
    source: str | None = None,
    timezone: str | None = None,
) -> bytes:
    """A whole VCALENDAR. ``method="CANCEL"`` (an email telling of a cancellation) marks
    every occurrence cancelled; ``source`` is the feed's own URL (RFC 7986 SOURCE).

    A feed has no METHOD: it is a snapshot, not a scheduling message (RFC 5545 §3.7.2), and
    a METHOD would make clients run RFC 5546's checks on it (libical, so Evolution, refuses
    every VEVENT of a PUBLISH without ORGANIZER). The files sent to one person say theirs
    (``notifications.booking_calendar``), with what RFC 5546 requires of it."""
    zones = _Zones()
    texts = _Texts()
    cancelled = method == "CANCEL"
    events: list[str] = []
    for occurrence in occurrences:
        events += occurrence_lines(occurrence, public_url, zones, cancelled=cancelled, texts=texts)
    return _calendar(name, zones, events, method=method, source=source, timezone=timezone)


def _calendar(
    name: str,
    zones: _Zones,
    events: list[str],
    *,
    method: str | None = None,
    source: str | None = None,
    timezone: str | None = None,
) -> bytes:
    name = " ".join(name.split())  # a calendar's name is one line, whatever the title holds
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        *([f"METHOD:{method}"] if method else []),
        f"NAME:{escape_text(name)}",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    if timezone:
        head.append(f"X-WR-TIMEZONE:{escape_text(timezone)}")
    if source:
        head += [
            f"SOURCE;VALUE=URI:{source}",
            f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH_INTERVAL}",
            f"X-PUBLISHED-TTL:{REFRESH_INTERVAL}",
        ]
    lines = [*head, *zones.lines(), *events, "END:VCALENDAR"]
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode()


# --- feeds: what they hold, and validators that cost one query ---------------------------


@dataclass(frozen=True)
class FeedScope:
    """What a feed is about: everything, one organisation, one venue, or one event (with the
    events of its programme). Its validators look at everything in the scope, published or
    not, so that a date leaving the feed (unpublished, moved) still moves Last-Modified on."""

    organisation_id: int | None = None
    venue_id: int | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class FeedState:
    etag: str  # strong: the same for the same bytes, on any server
    last_modified: datetime | None  # whole seconds, never going backwards


def _scope_events(scope: FeedScope):
    """A condition on Event for the scope (None: every event)."""
    if scope.event_id is not None:
        return or_(Event.id == scope.event_id, Event.parent_id == scope.event_id)
    if scope.organisation_id is not None:
        return Event.organisation_id == scope.organisation_id
    if scope.venue_id is not None:
        return Event.id.in_(
            select(Occurrence.event_id).where(Occurrence.venue_id == scope.venue_id)
        )
    return None


def scope_occurrences(scope: FeedScope, since: datetime) -> Select:
    """The public occurrences a scope's feed holds: ended after ``since``, cancelled included."""
    query = (
        select(Occurrence)
        .join(Occurrence.event)
        .where(Event.status == EventStatus.PUBLISHED, Occurrence.ends_at > since)
    )
    condition = _scope_events(scope)
    if condition is not None:
        query = query.where(condition)
    if scope.venue_id is not None:
        query = query.where(Occurrence.venue_id == scope.venue_id)
    return query.order_by(Occurrence.starts_at, Occurrence.id)


def _latest_changes(scope: FeedScope) -> list:
    """Scalar subqueries: the latest change of each kind of row the scope's feeds show."""
    events = _scope_events(scope)
    occurrence_changed = select(func.max(Occurrence.changed_at))
    event_updated = select(func.max(Event.updated_at))
    venue_updated = select(func.max(Venue.updated_at))
    departed = select(func.max(FeedTombstone.deleted_at))
    if events is not None:
        occurrence_changed = occurrence_changed.join(Occurrence.event).where(events)
        event_updated = event_updated.where(events)
        venue_updated = venue_updated.where(
            Venue.id.in_(select(Occurrence.venue_id).join(Occurrence.event).where(events))
        )
    if scope.venue_id is not None:
        occurrence_changed = occurrence_changed.where(Occurrence.venue_id == scope.venue_id)
        venue_updated = select(func.max(Venue.updated_at)).where(Venue.id == scope.venue_id)
        # an event's deletion is not tied to one venue: every venue's feed takes it
        departed = departed.where(
            or_(FeedTombstone.venue_id == scope.venue_id, FeedTombstone.venue_id.is_(None))
        )
    elif scope.event_id is not None:
        departed = departed.where(
            FeedTombstone.organisation_id
            == select(Event.organisation_id).where(Event.id == scope.event_id).scalar_subquery()
        )
    elif scope.organisation_id is not None:
        departed = departed.where(FeedTombstone.organisation_id == scope.organisation_id)
    queries = (occurrence_changed, event_updated, venue_updated, departed)
    return [q.scalar_subquery() for q in queries]


def feed_state(scope: FeedScope, members: Select, key: tuple) -> FeedState:
    """The feed's validators in one query, without building it.

    The bytes are a function of the rows in scope and of ``key`` (the request's parameters,
    language, base URL, feed name...). Every change to a row in scope moves one of the
    latest-change times; a date entering or leaving the window changes the members' count
    and sums; a deletion or a move writes a tombstone. So the ETag changes whenever the
    bytes do, and Last-Modified only goes forward.
    """
    ids = members.order_by(None).with_only_columns(Occurrence.id).subquery()
    row = db.session.execute(
        select(
            *_latest_changes(scope),
            func.count(ids.c.id),
            func.coalesce(func.sum(ids.c.id), 0),
            func.coalesce(func.max(ids.c.id), 0),
        ).select_from(ids)
    ).one()
    times = [_as_utc(t) for t in row[:4] if t is not None]
    last_modified = _seconds(max(times)) if times else None
    digest = hashlib.sha256(
        repr((FORMAT_VERSION, key, [t.isoformat() for t in times], tuple(row[4:]))).encode()
    ).hexdigest()
    return FeedState(etag=digest[:40], last_modified=last_modified)


def _as_utc(moment: datetime) -> datetime:
    # max() over a UTCDateTime column comes back as the driver gives it (naive on SQLite)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def feed_occurrences(members: Select) -> list[Occurrence]:
    return list(
        db.session.scalars(
            members.options(
                joinedload(Occurrence.event),
                joinedload(Occurrence.venue),
                selectinload(Occurrence.sittings),
            )
        ).unique()
    )


# --- what the validators rely on, recorded at flush time whoever changes the data ----------

# What an occurrence's VEVENT shows of its own row, or what chooses the feeds it is in.
CALENDAR_ATTRIBUTES = (
    "starts_at",
    "ends_at",
    "venue_id",
    "venue",
    "event_id",
    "event",
    "status",
    "cancel_reason",
    "sequence",
    "external_uid",
    "accessibility",
)


@sa_event.listens_for(Occurrence, "before_update")
def _occurrence_changed(_mapper, _connection, occurrence: Occurrence) -> None:
    state = inspect(occurrence)
    if any(state.attrs[name].history.has_changes() for name in CALENDAR_ATTRIBUTES):
        occurrence.changed_at = utcnow()


def _before(state, column: str, relationship: str) -> tuple[bool, int | None]:
    """(moved in this flush, the foreign key before it) for a column set directly or
    through its relationship (whose key is only copied to the column during the flush)."""
    history = state.attrs[column].history
    if history.deleted:
        return True, history.deleted[0]
    moved = bool(state.attrs[relationship].history.added) and state.persistent
    return moved, getattr(state.object, column)


def _organisation_of(session: Session, event_id: int | None) -> int | None:
    if event_id is None:
        return None
    with session.no_autoflush:
        return session.scalar(select(Event.organisation_id).where(Event.id == event_id))


@sa_event.listens_for(Session, "before_flush")
def _remember_departures(session: Session, _context, _instances) -> None:
    """A tombstone for each occurrence or event leaving a feed's scope (deleted or moved)."""
    now = utcnow()
    stones: list[FeedTombstone] = []
    for obj in list(session.deleted) + list(session.dirty):
        deleted = obj in session.deleted
        if isinstance(obj, Occurrence):
            state = inspect(obj)
            moved_event, event_id = _before(state, "event_id", "event")
            moved_venue, venue_id = _before(state, "venue_id", "venue")
            if deleted or moved_event or moved_venue:
                stones.append(
                    FeedTombstone(
                        object_type="occurrence",
                        object_id=obj.id,
                        organisation_id=_organisation_of(session, event_id),
                        venue_id=venue_id,
                        deleted_at=now,
                    )
                )
        elif isinstance(obj, Event):
            state = inspect(obj)
            moved_org, organisation_id = _before(state, "organisation_id", "organisation")
            moved_parent, _parent = _before(state, "parent_id", "parent")
            if deleted or moved_org or moved_parent:
                stones.append(
                    FeedTombstone(
                        object_type="event",
                        object_id=obj.id,
                        organisation_id=organisation_id,
                        venue_id=None,  # not tied to one venue: every venue's feed takes it
                        deleted_at=now,
                    )
                )
    if stones:
        session.add_all(stones)


def _accessibility_lines(occurrence: Occurrence) -> list[str]:
    """``X-ACCESSIBILITY:wheelchair,hearing_loop`` (what ``events import`` reads back)."""
    value = accessibility.ical_value(accessibility.occurrence_codes(occurrence))
    return [f"{accessibility.ICAL_PROPERTY}:{value}"] if value else []
