"""A network of agendas: following other calendars' iCalendar feeds.

A source is a feed (another calendrier's ``/calendar.ics``, or any calendar's) whose events
appear here under one organisation. ``sync`` fetches it with the validators of the last
answer (``If-None-Match``, ``If-Modified-Since``: a 304 costs nothing), then applies it
through the importer's and the catalogue's rules, so a followed event is created, updated
and cancelled exactly as an imported one. Besides:

- Each source is applied in one transaction: the importer's commits become savepoints of
  it, and the source's validators are saved in it too. A source that cannot be fetched, or
  returns garbage, or fails half way, leaves everything as it was, and says why in
  ``sources list``.
- calendrier's own feeds (their PRODID) write one VEVENT per date, each with its own UID
  and the event's page in ``URL``: the VEVENTs of one page are one event here, each UID one
  of its dates, so a date moved, cancelled or added at the source is moved, cancelled or
  added here. Any other calendar's VEVENTs are taken as they are: a UID is an event (a
  series with RRULE, its dates). An older sync made one event per date of a calendrier: the
  next sync gathers those dates under one event (``_gather``).
- An event of the source no longer in its feed is cancelled here (its dates to come), and so
  is a date no longer in the feed of an event still in it.
- Each followed event keeps ``source_url`` (the feed) and ``external_url`` (the VEVENT's
  ``URL``, its page there): its page sends people to book there, and its dates take no
  booking here (capacity 0).
- calendrier writes its own UIDs as ``occurrence-<id>@calendrier``: the same words on every
  instance. Read from a source, they are named after the source's host (``@host``), and a
  UID named after this agenda's own host is this agenda's event coming back: left out, so
  two agendas can follow each other.
"""

from __future__ import annotations

import contextlib
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import lazy_gettext as _l
from icalendar.prop import vText
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import (
    Event,
    EventKind,
    Occurrence,
    OccurrenceStatus,
    Organisation,
    Question,
    Source,
    User,
)
from ..timeutil import utcnow
from . import audit, calendars, catalogue, importer
from .errors import InvalidInput

FETCH_TIMEOUT = 20
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$", re.IGNORECASE)


class FetchFailed(Exception):
    """The source could not be fetched (network, HTTP error, too big)."""


# --- adding and listing ----------------------------------------------------------------------


def add_source(
    url: str, organisation_slug: str, kind: str | None = None, *, actor: User | None = None
) -> Source:
    """Follow a feed. Commits. InvalidInput for a bad URL, organisation or kind."""
    url = (url or "").strip()
    if url.startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    errors: dict[str, list] = {}
    if not URL.match(url) or len(url) > 500:
        errors["url"] = [_l("Give the address of an iCalendar feed, starting with https://.")]
    organisation = db.session.scalar(
        select(Organisation).where(Organisation.slug == (organisation_slug or "").strip())
    )
    if organisation is None:
        errors["organisation"] = [_l("Unknown organisation.")]
    if kind and kind not in {k.value for k in EventKind}:
        errors["kind"] = [_l("Unknown choice.")]
    if not errors and db.session.scalar(select(Source.id).where(Source.url == url)) is not None:
        errors["url"] = [_l("This feed is already followed.")]
    if errors:
        db.session.rollback()
        raise InvalidInput(errors)
    source = Source(url=url, organisation_id=organisation.id, kind=kind or None)
    db.session.add(source)
    db.session.flush()
    audit.record(actor, "source.added", source, organisation_id=organisation.id, url=url)
    db.session.commit()
    return source


def list_sources() -> list[Source]:
    return list(db.session.scalars(select(Source).order_by(Source.id)))


# --- fetching ----------------------------------------------------------------------------------


@dataclass
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


def fetch(source: Source) -> Fetched:
    """GET the feed, conditionally; FetchFailed with a short reason otherwise."""
    headers = {
        "User-Agent": f"calendrier (+{current_app.config['PUBLIC_URL']})",
        "Accept": "text/calendar, */*;q=0.5",
    }
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    request = urllib.request.Request(source.url, headers=headers)  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as answer:  # noqa: S310
            body = answer.read(importer.MAX_BYTES + 1)
            etag = answer.headers.get("ETag")
            last_modified = answer.headers.get("Last-Modified")
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return Fetched(304)
        raise FetchFailed(f"HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise FetchFailed(f"unreachable: {reason}") from None
    if len(body) > importer.MAX_BYTES:
        raise FetchFailed("too big")
    return Fetched(200, body, (etag or "")[:500] or None, (last_modified or "")[:100] or None)


# --- syncing -----------------------------------------------------------------------------------


@dataclass
class SyncReport:
    source_id: int
    url: str
    status: str  # unchanged, ok, failed
    summary: str = ""
    error: str = ""
    cancelled_gone: int = 0
    gathered: int = 0


@contextlib.contextmanager
def one_transaction() -> Iterator[Session]:
    """Everything in it is one database transaction, whatever commits inside.

    ``db.session`` is, for the duration, a session on one connection whose commits are
    savepoints (``join_transaction_mode="create_savepoint"``): the importer's and the
    catalogue's own commits keep their meaning within, and only the end of the block
    commits for real, or rolls everything back.
    """
    db.session.rollback()
    previous = db.session.registry()
    connection = db.engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    db.session.registry.set(session)
    try:
        yield session
        session.flush()
        outer.commit()
    except BaseException:
        outer.rollback()
        raise
    finally:
        session.close()
        connection.close()
        db.session.registry.set(previous)


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _texts_in_every_language(key: str, **values: str) -> list[str]:
    """What calendrier's feeds write for ``calendars.TEXTS[key]``, in each language."""
    texts = []
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            texts.append(str(calendars.TEXTS[key]) % values)
    return [t for t in dict.fromkeys(texts) if t.strip()]


@dataclass
class _Followed:
    """A source's VEVENTs as this agenda takes them."""

    vevents: list = field(default_factory=list)
    event_of: dict[int, str] = field(default_factory=dict)  # id(vevent): its event's key
    pages: dict[str, str | None] = field(default_factory=dict)  # event key: its page there
    # calendrier's events: the UIDs of the dates of each (one VEVENT a date)
    dates: dict[str, set[str]] = field(default_factory=dict)

    def key(self, vevent) -> str:
        return self.event_of[id(vevent)]


def _prepared(feeds: list, source: Source) -> _Followed:
    """The source's VEVENTs with calendrier's UIDs named after their host; ours left out;
    each with the key of its event here: its page for calendrier's, its UID otherwise.

    A cancelled date keeps its own title: calendrier's feeds write "Cancelled: title" (the
    texts in the other language, in X-properties, are written as they are). A date of
    calendrier has the event's own description: its feeds add the date's notice, sittings
    and booking link."""
    own, theirs = _host(current_app.config["PUBLIC_URL"]), _host(source.url)
    texts = _CalendrierTexts()
    followed = _Followed()
    for feed in feeds:
        calendrier = str(feed.get("prodid", "")).strip() == calendars.PRODID
        for vevent in feed.walk("VEVENT"):
            uid = importer.vevent_uid(vevent)
            if importer.OWN_UID.match(uid):
                uid = uid.rsplit("@", 1)[0] + "@" + theirs
                vevent["UID"] = uid
            if uid.lower().endswith("@" + own):
                continue  # one of ours, followed by the source: it is already here
            page = _page_url(vevent)
            key = uid
            texts.clean_title(vevent)
            if calendrier:
                texts.clean_description(vevent)
                if page and uid:
                    key = page
                    followed.dates.setdefault(key, set()).add(uid)
            followed.vevents.append(vevent)
            followed.event_of[id(vevent)] = key
            if uid:
                followed.pages.setdefault(key, page)
    return followed


class _CalendrierTexts:
    """What calendrier's feeds add to a date's texts, in every language, to take it away."""

    def __init__(self) -> None:
        self.cancelled = _texts_in_every_language("cancelled_title", title="")
        self.notices = _texts_in_every_language("date_cancelled")
        self.links = [
            *_texts_in_every_language("book", url=""),
            *_texts_in_every_language("more", url=""),
        ]
        sittings = _texts_in_every_language("sittings", num="\x00")
        self.sittings = [
            re.compile(re.escape(a) + r"\d+" + re.escape(b))
            for a, b in (t.split("\x00", 1) for t in sittings)
        ]

    def clean_title(self, vevent) -> None:
        summary = vevent.get("summary")
        if _cancelled(vevent) and summary is not None:
            title = str(summary)
            for prefix in self.cancelled:
                if title.startswith(prefix):
                    vevent["SUMMARY"] = _same_params(title[len(prefix) :], summary)
                    break

    def clean_description(self, vevent) -> None:
        if "description" not in vevent:
            return
        paragraphs = str(vevent.get("description")).replace("\r\n", "\n").split("\n\n")
        if paragraphs and paragraphs[-1].startswith(tuple(self.links)):
            paragraphs.pop()
        if paragraphs and any(p.match(paragraphs[-1]) for p in self.sittings):
            paragraphs.pop()
        if _cancelled(vevent) and paragraphs and paragraphs[0].startswith(tuple(self.notices)):
            paragraphs.pop(0)
        vevent["DESCRIPTION"] = _same_params("\n\n".join(paragraphs), vevent.get("description"))


def _cancelled(vevent) -> bool:
    return str(vevent.get("status", "")).upper() == "CANCELLED"


def _same_params(text: str, prop) -> vText:
    """A new value for a text property that keeps its parameters (its LANGUAGE)."""
    value = vText(text)
    value.params = getattr(prop, "params", value.params)
    return value


def _page_url(vevent) -> str | None:
    value = " ".join(str(vevent.get("url", "")).split())
    return value[:500] if value and URL.match(value) else None


def sync(source_id: int, *, now: datetime | None = None) -> SyncReport:
    """Fetch one source and apply it, all or nothing. Commits (the source's state too)."""
    now = now or utcnow()
    source = db.session.get(Source, source_id)
    report = SyncReport(source.id, source.url, "failed")
    try:
        fetched = fetch(source)
        if fetched.status == 304:
            report.status = "unchanged"
        else:
            followed = _prepared(importer.read_calendars(fetched.body), source)
            with one_transaction():
                _apply(source_id, followed, fetched, report, now)
            report.status = "ok"
    except FetchFailed as error:
        report.error = str(error)
    except importer.UnreadableCalendar as error:
        report.error = importer.unreadable_message(error)
    except Exception as error:  # half way: everything was rolled back
        current_app.logger.exception("sync of source %s failed", source_id)
        report.error = f"{type(error).__name__}: {error}"[:500]
    source = db.session.get(Source, source_id)  # the session may have been swapped
    source.checked_at = now
    if report.status == "failed":
        source.status = "failed"
        source.last_error = report.error
    else:
        source.status = "ok"
        source.last_error = ""
    db.session.commit()
    return report


def _apply(source_id: int, followed: _Followed, fetched: Fetched, report: SyncReport, now) -> None:
    """Inside ``one_transaction``: the import, the origins, the cancellations, the validators."""
    source = db.session.get(Source, source_id)
    report.gathered = _gather(source, followed)
    options = importer.ImportOptions(
        organisation_id=source.organisation_id,
        default_kind=source.kind or EventKind.SCREENING,
        capacity=0,  # people book at the source
    )
    result = importer.import_vevents(followed.vevents, options, now=now, event_of=followed.key)
    source = db.session.get(Source, source_id)
    pages = followed.pages
    if pages:
        events = db.session.scalars(
            select(Event).where(
                Event.organisation_id == source.organisation_id,
                Event.external_uid.in_(list(pages)),
            )
        )
        for event in events:
            if event.source_url != source.url:
                event.source_url = source.url
            if event.external_url != pages[event.external_uid]:
                event.external_url = pages[event.external_uid]
        db.session.commit()
    report.cancelled_gone = _cancel_gone(source, set(pages), result.dates_read, now)
    source = db.session.get(Source, source_id)
    lines = importer.summary_lines(result)
    if report.gathered:
        lines.append(
            ngettext(
                "%(num)d one-date copy gathered into its event",
                "%(num)d one-date copies gathered into their events",
                report.gathered,
            )
        )
    if report.cancelled_gone:
        lines.append(
            ngettext(
                "%(num)d date gone from the source, cancelled",
                "%(num)d dates gone from the source, cancelled",
                report.cancelled_gone,
            )
        )
    report.summary = "; ".join(lines)
    source.etag = fetched.etag
    source.last_modified = fetched.last_modified
    source.last_report = report.summary[:2000]
    source.synced_at = now
    db.session.commit()


def _gather(source: Source, followed: _Followed) -> int:
    """Each date of a calendrier event under the one event of its key here, before the import.

    The dates may already be here under other events, whose key the feed no longer gives:
    one event per date made by an older sync (keyed by the date's UID), or an event whose
    page moved at the source (a new slug). The first of those events becomes the event of
    the key when there is none yet; the dates move under it, keeping their identity (and
    their bookings, if any); the events left with no date and nothing else of their own are
    deleted. One query when there is nothing to gather. Returns how many events were
    gathered into another."""
    key_of = {uid: key for key, uids in followed.dates.items() for uid in uids}
    if not key_of:
        return 0
    live = set(followed.pages)
    rows = db.session.execute(
        select(Occurrence.id, Occurrence.external_uid, Event.id, Event.external_uid)
        .join(Occurrence.event)
        .where(
            Event.organisation_id == source.organisation_id,
            Event.source_url == source.url,
            Occurrence.external_uid.is_not(None),
        )
        .order_by(Event.id, Occurrence.id)
    ).all()
    moves: dict[str, list[tuple[int, int]]] = {}  # key: [(event id, occurrence id)]
    for occurrence_id, date_key, event_id, event_key in rows:
        key = key_of.get(date_key)
        if key is not None and event_key != key and event_key not in live:
            moves.setdefault(key, []).append((event_id, occurrence_id))
    if not moves:
        return 0
    targets = {
        e.external_uid: e
        for e in db.session.scalars(
            select(Event).where(
                Event.organisation_id == source.organisation_id,
                Event.external_uid.in_(sorted(moves)),
            )
        )
    }
    claimed = {e.id for e in targets.values()}
    left: dict[int, Event] = {}
    for key, pairs in moves.items():
        target = targets.get(key)
        if target is None:
            # the first of these events becomes this key's, unless it already became another's
            free = [event_id for event_id, _o in pairs if event_id not in claimed]
            if not free:
                continue  # the import makes the event; the dates left behind are cancelled
            target = db.session.get(Event, free[0])
            target.external_uid = key
            claimed.add(target.id)
        for event_id, occurrence_id in pairs:
            if event_id != target.id:
                db.session.get(Occurrence, occurrence_id).event = target
                left.setdefault(event_id, db.session.get(Event, event_id))
                audit.record(
                    None,
                    "event.gathered",
                    target,
                    organisation_id=source.organisation_id,
                    uid=key,
                    gathered_event=event_id,
                    occurrence=occurrence_id,
                )
    db.session.flush()
    for event_id in sorted(left):
        if event_id not in claimed and _deletable(left[event_id]):
            db.session.delete(left[event_id])
    db.session.commit()
    return len(left.keys() - claimed)


def _deletable(event: Event) -> bool:
    """An event with no date, no question and no event of its programme: nothing is lost."""
    hanging = (
        select(func.count(Occurrence.id)).where(Occurrence.event_id == event.id),
        select(func.count(Question.id)).where(Question.event_id == event.id),
        select(func.count(Event.id)).where(Event.parent_id == event.id),
    )
    return not any(db.session.scalar(query) for query in hanging)


def _cancel_gone(
    source: Source, present: set[str], dates_read: dict[str, set[str]], now: datetime
) -> int:
    """Cancel the dates to come that left the source's feed: those of its events no longer
    in it, and those of its events read again whose date the feed no longer gives. A date
    added here by hand (no key) goes only with its event; an event the import could not
    read keeps its dates."""
    rows = db.session.execute(
        select(Occurrence.id, Event.external_uid, Occurrence.external_uid)
        .join(Occurrence.event)
        .where(
            Event.source_url == source.url,
            Event.organisation_id == source.organisation_id,
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.ends_at > now,
        )
        .order_by(Occurrence.id)
    ).all()
    gone = [
        occurrence_id
        for occurrence_id, event_key, date_key in rows
        if event_key not in present
        or (
            event_key in dates_read
            and date_key is not None
            and date_key not in dates_read[event_key]
        )
    ]
    for occurrence_id in gone:
        catalogue.cancel_occurrence(occurrence_id)
    return len(gone)


def sync_all(*, now: datetime | None = None) -> list[SyncReport]:
    """Every source, one after the other (from cron): one failing stops none of the others."""
    ids = [s.id for s in list_sources()]
    db.session.rollback()
    return [sync(source_id, now=now) for source_id in ids]
