"""The filters shared by /events, the feeds and the API (domain/listing.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from calendrier.domain import bookings as rules
from calendrier.domain import listing
from calendrier.domain.listing import Filters, parse_filters
from calendrier.models import EventStatus, OccurrenceStatus
from calendrier.timeutil import utcnow


def book(occurrence, seats, email="ana@example.org"):
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email=email, seats=seats))


def found(filters: Filters) -> list[int]:
    return [o.id for o in listing.search_occurrences(filters).occurrences]


def test_parse_filters_reads_every_filter_and_reports_bad_values(app):
    filters, errors = parse_filters(
        {
            "kind": "visit,talk",
            "venue": "grande-halle",
            "organisation": "festival",
            "q": "  court   métrage ",
            "from": "2026-03-08",
            "to": "2026-03-10T12:00:00+01:00",
            "available": "1",
            "page": "2",
        }
    )
    assert errors == {}
    assert filters.kinds == ("visit", "talk")
    assert filters.venues == ("grande-halle",)
    assert filters.organisations == ("festival",)
    assert filters.q == "court métrage"
    assert filters.date_from == date(2026, 3, 8)
    assert filters.date_to == date(2026, 3, 10)
    assert filters.places_left is True
    assert filters.page == 2

    bad, errors = parse_filters(
        {"kind": "rave", "from": "demain", "to": "2026-03-10T12:00", "page": "-1", "available": "?"}
    )
    assert errors == {
        "kind": "unknown",
        "from": "invalid",
        "to": "invalid",
        "page": "out_of_range",
        "available": "invalid",
    }
    assert bad == Filters()
    _, errors = parse_filters({"from": "2026-03-10", "to": "2026-03-08"})
    assert errors == {"to": "before_from"}


def test_filters_round_trip_through_the_query_string(app):
    filters = Filters(
        kinds=("visit",),
        q="halle",
        date_from=date(2026, 3, 8),
        date_to=date(2026, 3, 9),
        places_left=True,
        page=3,
    )
    args = filters.to_args()
    assert args["from"] == "2026-03-08"
    assert parse_filters(args) == (filters, {})
    assert "page" not in filters.to_args(page=False)


def test_each_filter_narrows_the_list(make):
    now = utcnow()
    halle = make.venue(slug="grande-halle", name="Grande halle", city="Bourg-lès-Valence")
    cinema = make.venue(slug="le-navire", name="Le Navire", city="Valence")
    festival_org = make.organisation(slug="festival", name="Festival des images animées")
    visit = make.occurrence(
        venue=halle,
        starts_at=now + timedelta(days=2),
        event=make.event(kind="visit", title="Visite de la Cartoucherie"),
    )
    screening = make.occurrence(
        venue=cinema,
        starts_at=now + timedelta(days=10),
        event=make.event(
            kind="screening",
            title="Courts métrages 100 % d'élèves",
            organisation=festival_org,
            description="Une séance de films d'école.",
        ),
    )
    talk = make.occurrence(
        venue=halle,
        starts_at=now + timedelta(days=20),
        event=make.event(kind="talk", title="Rencontre avec une réalisatrice"),
    )

    assert found(Filters()) == [visit.id, screening.id, talk.id]
    assert found(Filters(kinds=("screening", "talk"))) == [screening.id, talk.id]
    assert found(Filters(venues=("grande-halle",))) == [visit.id, talk.id]
    assert found(Filters(organisations=("festival",))) == [screening.id]
    assert found(Filters(q="ÉCOLE")) == [screening.id]  # description, any case
    assert found(Filters(q="valence")) == [visit.id, screening.id, talk.id]  # the city
    assert found(Filters(q="100 %")) == [screening.id]  # % is a character, not a wildcard
    assert found(Filters(q="visite cartoucherie")) == [visit.id]  # every word must match
    day = listing.local_day(screening.starts_at)
    assert found(Filters(date_from=day, date_to=day)) == [screening.id]
    assert found(Filters(date_from=day)) == [screening.id, talk.id]
    assert found(Filters(date_to=day)) == [visit.id, screening.id]


@pytest.mark.clock
def test_date_range_is_in_paris_time_and_catches_what_overlaps_it(app, make):
    # 23:30 in Paris on 8 March is 22:30 UTC: it belongs to the 8th, not the 9th.
    late = make.occurrence(starts_at=datetime(2030, 3, 8, 22, 30, tzinfo=UTC))
    assert found(Filters(date_from=date(2030, 3, 8), date_to=date(2030, 3, 8))) == [late.id]
    assert found(Filters(date_from=date(2030, 3, 9), date_to=date(2030, 3, 9))) == [late.id]
    assert found(Filters(date_from=date(2030, 3, 10))) == []


def test_places_left_only_hides_full_closed_and_cancelled_dates(make):
    now = utcnow()
    has_places = make.occurrence(capacity=3)
    full = make.occurrence(capacity=2)
    book(full, 2)
    waitlist = make.occurrence(capacity=1, waitlist=True)
    book(waitlist, 1)
    cancelled = make.occurrence(status=OccurrenceStatus.CANCELLED)
    closed = make.occurrence(booking_closes_at=now - timedelta(hours=1))
    assert set(found(Filters())) == {has_places.id, full.id, waitlist.id, cancelled.id, closed.id}
    assert found(Filters(places_left=True)) == [has_places.id]


def test_past_and_unpublished_are_never_listed(make):
    past = make.occurrence(starts_at=utcnow() - timedelta(days=3))
    draft = make.occurrence(event=make.event(status=EventStatus.DRAFT))
    kept = make.occurrence()
    assert found(Filters()) == [kept.id]
    # "from" narrows the window, it never reaches back to dates already over
    long_ago = listing.local_day(utcnow() - timedelta(days=400))
    assert found(Filters(date_from=long_ago)) == [kept.id]
    assert found(Filters(date_from=listing.local_day(past.starts_at))) == [kept.id]
    assert draft.id not in [o.id for o in listing.all_occurrences(Filters(), since=past.starts_at)]
    since = utcnow() - timedelta(days=30)
    assert [o.id for o in listing.all_occurrences(Filters(), since=since)] == [past.id, kept.id]


def test_pagination_counts_every_match_and_pages_through_them(make):
    event = make.event()
    venue = make.venue()
    start = utcnow() + timedelta(days=1)
    ids = [
        make.occurrence(event=event, venue=venue, starts_at=start + timedelta(hours=i)).id
        for i in range(5)
    ]
    first = listing.search_occurrences(Filters(per_page=2))
    assert (first.total, first.pages, first.has_prev, first.has_next) == (5, 3, False, True)
    assert first.occurrences[0].id == ids[0]
    last = listing.search_occurrences(Filters(per_page=2, page=3))
    assert [o.id for o in last.occurrences] == ids[4:]
    assert last.has_next is False


def test_search_events_groups_matching_occurrences_under_their_event(make):
    now = utcnow()
    halle = make.venue(slug="halle")
    visit = make.event(kind="visit")
    first = make.occurrence(event=visit, venue=halle, starts_at=now + timedelta(days=5))
    make.occurrence(event=visit, starts_at=now + timedelta(days=6))  # elsewhere
    talk = make.occurrence(
        venue=halle, starts_at=now + timedelta(days=1), event=make.event(kind="talk")
    )
    events, total = listing.search_events(Filters(venues=("halle",)))
    assert total == 2
    assert [e.id for e in events] == [talk.event_id, visit.id]
    assert [o.id for o in events[1].matching_occurrences] == [first.id]


def test_dates_already_over_stay_out_of_lists_and_api_but_not_calendars(client, make):
    """The rule: lists show what one can still attend; calendars draw their whole period."""
    now = utcnow()
    event = make.event(title="Visite du patrimoine")
    over = make.occurrence(
        event=event, starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=2)
    )
    coming = make.occurrence(event=event, starts_at=now + timedelta(days=2))
    long_ago = listing.local_day(now - timedelta(days=400)).isoformat()

    listed = client.get(f"/api/v1/occurrences?from={long_ago}").get_json()
    assert [o["id"] for o in listed] == [coming.id]
    events = client.get(f"/api/v1/events?from={long_ago}").get_json()
    assert [o["id"] for e in events for o in e["occurrences"]] == [coming.id]
    page = client.get(f"/events?from={long_ago}").get_data(as_text=True)
    assert f"/events/{event.slug}?occurrence={coming.id}" in page
    assert f"/events/{event.slug}?occurrence={over.id}" not in page
    assert "1 date trouvée" in page
    # the feed keeps the last 30 days, whatever "from" says: calendars learn of changes
    feed = client.get(f"/calendar.ics?from={long_ago}").get_data(as_text=True)
    assert feed.count("BEGIN:VEVENT") == 2
    assert over.uid in feed
    # the month view draws its whole period, the day already over included
    day = listing.local_day(over.starts_at)
    month = client.get(f"/calendar/{day.year}/{day.month}").get_data(as_text=True)
    assert f"/events/{event.slug}" in month
