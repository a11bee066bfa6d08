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
- An event of the source no longer in its feed is cancelled here (its dates to come).
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
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from icalendar.prop import vText
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Event, EventKind, Occurrence, OccurrenceStatus, Organisation, Source, User
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


def _cancelled_prefixes() -> list[str]:
    """What calendrier's feeds put before a cancelled date's title, in each language."""
    prefixes = []
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            prefixes.append(str(calendars.TEXTS["cancelled_title"]) % {"title": ""})
    return [p for p in prefixes if p.strip()]


def _prepared(vevents: list, source: Source) -> list:
    """The source's VEVENTs with calendrier's UIDs named after their host; ours left out.

    A cancelled date keeps its own title: calendrier's feeds write "Cancelled: title" (the
    texts in the other language, in X-properties, are written as they are)."""
    own, theirs = _host(current_app.config["PUBLIC_URL"]), _host(source.url)
    prefixes = _cancelled_prefixes()
    kept = []
    for vevent in vevents:
        uid = " ".join(str(vevent.get("uid", "")).split())
        if importer.OWN_UID.match(uid):
            uid = uid.rsplit("@", 1)[0] + "@" + theirs
            vevent["UID"] = uid
        if uid.lower().endswith("@" + own):
            continue  # one of ours, followed by the source: it is already here
        summary = vevent.get("summary")
        if str(vevent.get("status", "")).upper() == "CANCELLED" and summary is not None:
            title = str(summary)
            for prefix in prefixes:
                if title.startswith(prefix):
                    vevent["SUMMARY"] = _same_params(title[len(prefix) :], summary)
                    break
        kept.append(vevent)
    return kept


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
            vevents = _prepared(importer.read_calendar(fetched.body), source)
            with one_transaction():
                _apply(source_id, vevents, fetched, report, now)
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


def _apply(source_id: int, vevents: list, fetched: Fetched, report: SyncReport, now) -> None:
    """Inside ``one_transaction``: the import, the origins, the cancellations, the validators."""
    source = db.session.get(Source, source_id)
    options = importer.ImportOptions(
        organisation_id=source.organisation_id,
        default_kind=source.kind or EventKind.SCREENING,
        capacity=0,  # people book at the source
    )
    result = importer.import_vevents(vevents, options, now=now)
    source = db.session.get(Source, source_id)
    uids: dict[str, str | None] = {}
    for vevent in vevents:
        uid = " ".join(str(vevent.get("uid", "")).split())
        if uid:
            uids.setdefault(uid, _page_url(vevent))
    if uids:
        events = db.session.scalars(
            select(Event).where(
                Event.organisation_id == source.organisation_id,
                Event.external_uid.in_(list(uids)),
            )
        )
        for event in events:
            if event.source_url != source.url:
                event.source_url = source.url
            if event.external_url != uids[event.external_uid]:
                event.external_url = uids[event.external_uid]
        db.session.commit()
    report.cancelled_gone = _cancel_gone(source, set(uids), now)
    source = db.session.get(Source, source_id)
    lines = importer.summary_lines(result)
    if report.cancelled_gone:
        lines.append(f"{report.cancelled_gone} date(s) gone from the source, cancelled")
    report.summary = "; ".join(lines)
    source.etag = fetched.etag
    source.last_modified = fetched.last_modified
    source.last_report = report.summary[:2000]
    source.synced_at = now
    db.session.commit()


def _cancel_gone(source: Source, present: set[str], now: datetime) -> int:
    """Cancel the dates to come of this source's events that left its feed."""
    gone = list(
        db.session.scalars(
            select(Occurrence.id)
            .join(Occurrence.event)
            .where(
                Event.source_url == source.url,
                Event.organisation_id == source.organisation_id,
                Event.external_uid.not_in(present) if present else Event.id.is_not(None),
                Occurrence.status == OccurrenceStatus.SCHEDULED,
                Occurrence.ends_at > now,
            )
            .order_by(Occurrence.id)
        )
    )
    for occurrence_id in gone:
        catalogue.cancel_occurrence(occurrence_id)
    return len(gone)


def sync_all(*, now: datetime | None = None) -> list[SyncReport]:
    """Every source, one after the other (from cron): one failing stops none of the others."""
    ids = [s.id for s in list_sources()]
    db.session.rollback()
    return [sync(source_id, now=now) for source_id in ids]
