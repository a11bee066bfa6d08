"""No public page runs more SQL queries because it shows more events.

Each page is fetched with a small programme, then with a bigger one; the number of
queries (counted with a SQLAlchemy event listener) must be the same.
"""

from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from calendrier.domain import bookings as rules
from calendrier.extensions import db

# Fixed dates (clock changes, weekdays) are the point here: run on the suite's fixed day.
pytestmark = pytest.mark.clock

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2030, 3, 4, 10, tzinfo=PARIS)  # a Monday


@contextmanager
def counting():
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def programme(make, n: int, festival, hub):
    """n events, each with its own organiser and venue, two dates and a booking."""
    for i in range(n):
        parent = festival if i % 2 else None
        org = festival.organisation if parent else make.organisation()
        venue = make.venue()
        ev = make.event(organisation=org, parent=parent, kind="screening" if i % 3 else "visit")
        for day in (i % 5, 7 + i % 5):
            occurrence = make.occurrence(
                event=ev,
                venue=hub if i % 4 == 0 else venue,
                starts_at=START + timedelta(days=day, hours=i % 6),
                capacity=5,
            )
        rules.book(
            occurrence.id, rules.BookingRequest(name="Ana", email=f"a{i}@example.org", seats=2)
        )


PAGES = [
    "/",
    "/events",
    "/events?kind=screening&available=1&q=visite",
    "/events?from=2030-03-04&to=2030-03-20",
    "/calendar/2030/3",
    "/calendar/week/2030-03-04",
    "/venues/hub",
    "/organisations/festival-org",
    "/events/festival",
    "/sitemap.xml",
]


@pytest.mark.parametrize("path", PAGES)
def test_queries_do_not_grow_with_the_events_shown(client, make, path, monkeypatch):
    from calendrier.domain import listing

    monkeypatch.setattr(listing, "utcnow", lambda: START - timedelta(days=1))
    monkeypatch.setattr(rules, "utcnow", lambda: START - timedelta(days=1))
    org = make.organisation(slug="festival-org")
    hub = make.venue(slug="hub")
    festival = make.event(slug="festival", kind="festival", organisation=org)
    make.occurrence(event=festival, venue=hub, starts_at=START, capacity=100)

    programme(make, 2, festival, hub)
    db.session.commit()
    client.get(path)  # warm-up: caches, first connection
    with counting() as small:
        shown_small = client.get(path).get_data(as_text=True)

    programme(make, 10, festival, hub)
    db.session.commit()
    with counting() as big:
        shown_big = client.get(path).get_data(as_text=True)

    assert len(shown_big) > len(shown_small), "the bigger programme should show more"
    assert len(big) == len(small), "\n\n".join(big)
