"""Benchmark: a feed of 5,000 occurrences, built and served, against icalendar and /healthz.

    .venv/bin/python benchmarks/feeds.py [--occurrences 5000] [--repeat 7]
    CALENDRIER_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/cal_bench ...

Everything is measured in the same run, in the same process, through Flask's test client (the
application's own cost, no network), as medians of ``--repeat`` rounds:

- build: ``domain.calendars.calendar_bytes`` on the loaded occurrences (our serialisation);
- icalendar: the same calendar made with icalendar's objects and ``to_ical()``
  (what the feed cost before), and ``to_ical()`` alone on the already-built objects;
- serve: ``GET /calendar.ics`` (validators query, loading, serialisation, response);
- 304: ``GET /calendar.ics`` with ``If-None-Match``, against ``GET /healthz``.

Prints costs per occurrence and ratios; the figures depend on the machine, the ratios less so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from icalendar import Calendar, vText
from icalendar import Event as VEvent
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from calendrier import create_app
from calendrier.domain import calendars
from calendrier.extensions import db
from calendrier.models import Event, Occurrence, Organisation, Venue

KINDS = ["screening", "visit", "talk", "workshop", "training", "festival"]


def seed(count: int) -> None:
    orgs = [Organisation(slug=f"org-{i}", name=f"Organisation {i}") for i in range(5)]
    venues = [
        Venue(
            slug=f"salle-{i}",
            name=f"Salle {i}",
            address="Rue de Chabeuil",
            postcode="26500",
            city="Bourg-lès-Valence",
            latitude=44.948 + i / 1000,
            longitude=4.894,
            capacity=100,
            timezone="America/New_York" if i == 9 else "Europe/Paris",
        )
        for i in range(10)
    ]
    events = [
        Event(
            slug=f"event-{i}",
            organisation=orgs[i % len(orgs)],
            kind=KINDS[i % len(KINDS)],
            title=f"Projection n°{i} : courts métrages, débat; rencontre",
            summary="Une séance de courts métrages d'animation, suivie d'une rencontre avec "
            "l'équipe du film. Entrée libre sur réservation.",
        )
        for i in range(count // 25 or 1)
    ]
    db.session.add_all([*orgs, *venues, *events])
    start = datetime.now(UTC).replace(hour=17, minute=30, second=0, microsecond=0)
    for n in range(count):
        begins = start + timedelta(days=n % 365, minutes=15 * (n % 4))  # summer and winter
        db.session.add(
            Occurrence(
                event=events[n % len(events)],
                venue=venues[n % len(venues)],
                starts_at=begins,
                ends_at=begins + timedelta(minutes=90),
                capacity=100,
                status="cancelled" if n % 50 == 0 else "scheduled",
                sequence=n % 3,
            )
        )
    db.session.commit()


def icalendar_calendar(occurrences, public_url: str) -> Calendar:
    """The same calendar with icalendar's objects, property for property."""
    cal = Calendar()
    for name, value in (
        ("prodid", calendars.PRODID),
        ("version", "2.0"),
        ("calscale", "GREGORIAN"),
        ("method", "PUBLISH"),
        ("name", "Agenda"),
        ("x-wr-calname", "Agenda"),
    ):
        cal.add(name, value)
    for occurrence in occurrences:
        event, venue = occurrence.event, occurrence.venue
        tz = ZoneInfo(venue.timezone)
        page = f"{public_url}/events/{event.slug}"
        modified = calendars.occurrence_modified(occurrence)
        vevent = VEvent()
        vevent.add("uid", occurrence.uid)
        vevent.add("dtstamp", modified)
        vevent.add("created", occurrence.created_at)
        vevent.add("last-modified", modified)
        vevent.add("sequence", occurrence.sequence)
        vevent.add("dtstart", occurrence.starts_at.astimezone(tz))
        vevent.add("dtend", occurrence.ends_at.astimezone(tz))
        vevent.add("summary", event.title)
        vevent.add(
            "description", f"{event.summary}\n\nRéserver : {page}?occurrence={occurrence.id}"
        )
        vevent.add("location", vText(f"{venue.name}, {venue.full_address}"))
        vevent.add("geo", (venue.latitude, venue.longitude))
        vevent.add("url", page)
        vevent.add("categories", [event.kind])
        vevent.add("status", "CANCELLED" if occurrence.is_cancelled else "CONFIRMED")
        vevent.add("class", "PUBLIC")
        vevent.add("transp", "OPAQUE")
        cal.add_component(vevent)
    cal.add_missing_timezones()
    return cal


def median_seconds(action, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--occurrences", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n, repeat = args.occurrences, args.repeat

    url = os.environ.get("CALENDRIER_BENCH_DATABASE_URL")
    workdir = tempfile.TemporaryDirectory()
    uri = url or f"sqlite:///{workdir.name}/bench.db"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": uri,
            "RATELIMIT_ENABLED": False,
            "PUBLIC_URL": "https://agenda.example.org",
            "FEED_PAST_DAYS": 30,
        }
    )
    with app.app_context():
        upgrade()
        if db.session.scalar(select(Occurrence.id).limit(1)) is None:
            seed(n)
        occurrences = list(
            db.session.scalars(
                select(Occurrence)
                .options(joinedload(Occurrence.event), joinedload(Occurrence.venue))
                .order_by(Occurrence.starts_at, Occurrence.id)
            ).unique()
        )
        n = len(occurrences)
        public_url = app.config["PUBLIC_URL"]

        ours = calendars.calendar_bytes(occurrences, "Agenda", public_url)
        theirs = icalendar_calendar(occurrences, public_url)
        assert ours.count(b"BEGIN:VEVENT") == theirs.to_ical().count(b"BEGIN:VEVENT") == n

        build = median_seconds(
            lambda: calendars.calendar_bytes(occurrences, "Agenda", public_url), repeat
        )
        ical_full = median_seconds(
            lambda: icalendar_calendar(occurrences, public_url).to_ical(), repeat
        )
        ical_serialise = median_seconds(theirs.to_ical, repeat)

    client = app.test_client()
    first = client.get("/calendar.ics")
    assert first.status_code == 200 and first.data.count(b"BEGIN:VEVENT") == n, first.status
    etag = first.headers["ETag"]
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    client.get("/healthz")

    serve = median_seconds(lambda: client.get("/calendar.ics"), repeat)
    rounds = max(repeat, 50)
    not_modified = median_seconds(
        lambda: client.get("/calendar.ics", headers={"If-None-Match": etag}), rounds
    )
    healthz = median_seconds(lambda: client.get("/healthz"), rounds)

    def per(seconds: float) -> str:
        return f"{seconds * 1e6 / n:8.1f} µs/occurrence  ({seconds * 1e3:8.1f} ms)"

    engine = "PostgreSQL" if url else "SQLite"
    print(f"feed of {n} occurrences ({len(first.data) / 1e6:.2f} MB), {engine}, median of {repeat}")
    print(f"  build (domain.calendars)          {per(build)}")
    print(f"  icalendar: objects + to_ical()    {per(ical_full)}  x{ical_full / build:.1f} ours")
    print(
        f"  icalendar: to_ical() only         {per(ical_serialise)}  x{ical_serialise / build:.1f}"
    )
    print(f"  serve GET /calendar.ics (200)     {per(serve)}")
    print(f"  GET /calendar.ics, If-None-Match (304): {not_modified * 1e3:6.2f} ms")
    print(f"  GET /healthz:                           {healthz * 1e3:6.2f} ms")
    print(f"  304 / healthz ratio: {not_modified / healthz:.2f}")
    print(f"  200 / healthz ratio: {serve / healthz:.1f}")
    workdir.cleanup()


if __name__ == "__main__":
    main()
