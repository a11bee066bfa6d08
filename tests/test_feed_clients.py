"""Every feed read by the parsers real clients use, each placing every date at the right instant.

ical.js is Thunderbird's parser, libical Evolution's (and many servers'), icalendar Python's.
Times are checked as UTC instants, in summer and in winter, around both clock changes, in a
zone with other DST dates and in one without DST: a feed "an hour off in summer" fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.domain.calendars import vtimezone
from calendrier.extensions import db
from calendrier.models import OutboxMessage
from calendrier.timeutil import utcnow

from .ical_parsers import PARSERS_BY_NAME, libical_restriction_errors, utc


def last_sunday(year: int, month: int) -> datetime:
    day = max(
        d
        for d in range(22, 32)
        if d <= 31 - (month in (4, 6, 9, 11))
        and datetime(year, month, d, tzinfo=UTC).weekday() == 6
    )
    return datetime(year, month, day, tzinfo=UTC)


@pytest.fixture
def programme(make):
    """Dates a year ahead: winter, summer, both clock changes, New York, La Réunion."""
    year = utcnow().year + 1
    event = make.event(title='Ciné-goûter; "courts", \\ métrages\r\nEND:VEVENT\r\nUID:x')
    paris = make.venue(name="Salle, Valence")
    new_york = make.venue(name="Anthology", timezone="America/New_York", latitude=None)
    reunion = make.venue(name="Saint-Denis", timezone="Indian/Reunion")
    spring, autumn = last_sunday(year, 3), last_sunday(year, 10)
    dates = {
        # 18:30 in Paris in January is 17:30 UTC; in July, 16:30 UTC.
        "winter": (paris, datetime(year, 1, 14, 17, 30, tzinfo=UTC)),
        "summer": (paris, datetime(year, 7, 14, 16, 30, tzinfo=UTC)),
        # 03:30 CEST, just after the spring change (01:00 UTC)
        "after spring change": (paris, spring.replace(hour=1, minute=30)),
        # 02:30 happens twice in Paris that night: CEST first, then CET
        "autumn, first 02:30": (paris, autumn.replace(hour=0, minute=30)),
        "autumn, second 02:30": (paris, autumn.replace(hour=1, minute=30)),
        "new york, march": (new_york, datetime(year, 3, 20, 17, 30, tzinfo=UTC)),
        "new york, december": (new_york, datetime(year, 12, 5, 23, 0, tzinfo=UTC)),
        "réunion": (reunion, datetime(year, 8, 1, 15, 0, tzinfo=UTC)),
    }
    occurrences = {
        label: make.occurrence(event=event, venue=venue, starts_at=start)
        for label, (venue, start) in dates.items()
    }
    rules.cancel_occurrence(occurrences["summer"].id, "Projecteur en panne")
    return event, occurrences


def feed_urls(event, occurrences) -> list[str]:
    paris = occurrences["winter"]
    return [
        "/calendar.ics",
        "/calendar.ics?lang=en",
        f"/events/{event.slug}.ics",
        f"/organisations/{event.organisation.slug}.ics",
        f"/venues/{paris.venue.slug}.ics",
    ]


@pytest.mark.parametrize("parser", list(PARSERS_BY_NAME))
def test_every_parser_places_every_date_at_the_right_instant(client, programme, parser):
    event, occurrences = programme
    parse = PARSERS_BY_NAME[parser]
    for url in feed_urls(event, occurrences):
        response = client.get(url)
        assert response.status_code == 200, url
        parsed = parse(response.data)
        by_uid = {e["uid"]: e for e in parsed["events"]}
        expected = {
            o.uid: (label, o)
            for label, o in occurrences.items()
            if url != f"/venues/{occurrences['winter'].venue.slug}.ics"
            or o.venue_id == occurrences["winter"].venue_id
        }
        assert set(by_uid) == set(expected), (parser, url)
        for uid, (label, occurrence) in expected.items():
            seen = by_uid[uid]
            where = (parser, url, label)
            assert seen["start"]["utc"] == utc(occurrence.starts_at), where
            assert seen["end"]["utc"] == utc(occurrence.ends_at), where
            zone = "UTC" if label.startswith("autumn") else occurrence.venue.timezone
            assert seen["start"]["zone"] == zone, where
            assert seen["summary"].count("END:VEVENT") == 1, where  # text, not a component
            assert seen["sequence"] == occurrence.sequence, where
            cancelled = label == "summer"
            assert seen["status"] == ("CANCELLED" if cancelled else "CONFIRMED"), where
        assert by_uid[occurrences["summer"].uid]["sequence"] == 1
        assert "Projecteur en panne" in by_uid[occurrences["summer"].uid]["description"]


@pytest.mark.parametrize("parser", list(PARSERS_BY_NAME))
def test_every_parser_reads_the_text_back_unchanged(client, make, parser):
    title = "Avant-première : « Ma vie de courgette », débat; 1, 2 \\ 3\n2e ligne"
    event = make.event(title=title, summary="Rencontre avec l'équipe. " * 12)
    make.occurrence(event=event)
    body = client.get(f"/events/{event.slug}.ics").data
    [seen] = PARSERS_BY_NAME[parser](body)["events"]
    assert seen["summary"] == title
    assert seen["description"].startswith("Rencontre avec l'équipe. Rencontre")
    assert seen["url"] == f"https://agenda.example.org/events/{event.slug}"


@pytest.mark.parametrize("parser", list(PARSERS_BY_NAME))
def test_booking_file_is_read_by_every_parser(client, make, parser):
    occurrence = make.occurrence(starts_at=utcnow().replace(microsecond=0) + timedelta(days=30))
    booking = rules.book(
        occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    response = client.get(f"/bookings/{booking.token}.ics")
    [seen] = PARSERS_BY_NAME[parser](response.data)["events"]
    assert seen["uid"] == occurrence.uid
    assert seen["start"]["utc"] == utc(occurrence.starts_at)


def test_evolution_finds_nothing_wrong_in_any_feed(client, programme):
    """libical's RFC 5546 check, as Evolution runs it, on every feed: winter and summer dates,
    both clock changes, a cancelled date, other zones. A METHOD:PUBLISH without ORGANIZER
    was refused on every VEVENT; a feed is a snapshot and says no METHOD."""
    event, occurrences = programme
    for url in feed_urls(event, occurrences):
        body = client.get(url).data
        assert b"\r\nMETHOD:" not in body, url
        assert libical_restriction_errors(body) == [], url


def test_evolution_finds_nothing_wrong_in_the_booking_file(client, make):
    """The attendee's own file is an iTIP message (PUBLISH, then CANCEL): its Content-Type
    says the same method, and it has every property RFC 5546 requires."""
    for starts_at in winter_and_summer():
        occurrence = make.occurrence(starts_at=starts_at)
        booking = rules.book(
            occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
        ).booking
        for method in ("PUBLISH", "CANCEL"):
            if method == "CANCEL":
                rules.cancel_by_attendee(booking.id)
            response = client.get(f"/bookings/{booking.token}.ics")
            assert response.headers["Content-Type"] == (
                f"text/calendar; charset=utf-8; method={method}"
            )
            assert f"\r\nMETHOD:{method}\r\n".encode() in response.data
            assert libical_restriction_errors(response.data) == [], (starts_at, method)


def test_evolution_finds_nothing_wrong_in_the_files_sent_by_email(make):
    """Every attachment is valid iTIP (RFC 5546): a PUBLISH or CANCEL with its ORGANIZER, its
    DTSTAMP, its SEQUENCE, in winter and in summer, whether the organisation has an address
    or the site's sender stands in for it."""
    files: list[tuple[str, outbox.Email]] = []
    seen: set[int] = set()

    def sent_as_it_goes() -> list[tuple[str, outbox.Email]]:
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        new = [row for row in rows if row.id not in seen]
        seen.update(row.id for row in new)
        return [(row.kind, outbox.render(row)) for row in new if row.ics_method]

    for starts_at in winter_and_summer():
        for email in ("contact@studio.example.org", None):
            organisation = make.organisation(email=email)
            occurrence = make.occurrence(
                event=make.event(organisation=organisation), starts_at=starts_at
            )
            request = rules.BookingRequest(name="Ana", email="ana@example.org", seats=2)
            booking = rules.book(occurrence.id, request).booking
            files += sent_as_it_goes()  # the worker renders each email when it sends it
            rules.change_seats(booking.id, 1)
            files += sent_as_it_goes()
            rules.cancel_occurrence(occurrence.id, "Tempête")
            files += sent_as_it_goes()
    assert [(kind, e.ics_method) for kind, e in files] == [
        ("confirmed", "PUBLISH"),
        ("seats_changed", "PUBLISH"),
        ("occurrence_cancelled", "CANCEL"),
    ] * 4
    for kind, email in files:
        data = email.ics.encode()
        assert f"\r\nMETHOD:{email.ics_method}\r\n".encode() in data
        assert b"\r\nORGANIZER;" in data
        assert libical_restriction_errors(data) == [], (kind, email.ics_method)


def winter_and_summer() -> list[datetime]:
    """The next January and July evenings, whatever today is."""
    year = utcnow().year + 1
    return [datetime(year, 1, 14, 17, 30, tzinfo=UTC), datetime(year, 7, 14, 16, 30, tzinfo=UTC)]


def test_vtimezone_of_paris_is_the_yearly_rule_clients_expect():
    lines = vtimezone("Europe/Paris", 2027, 2027)
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" in lines
    assert "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" in lines
    assert "TZOFFSETFROM:+0100" in lines and "TZOFFSETTO:+0200" in lines
    assert lines.count("BEGIN:DAYLIGHT") == lines.count("BEGIN:STANDARD") == 1


def test_vtimezone_of_a_zone_that_changed_its_rules_lists_each_change():
    # Morocco's clocks follow Ramadan: no yearly rule fits, every change is written out.
    lines = vtimezone("Africa/Casablanca", 2027, 2027)
    assert not any(line.startswith("RRULE") for line in lines)
    assert lines.count("BEGIN:STANDARD") + lines.count("BEGIN:DAYLIGHT") >= 4


def test_parsers_agree_on_a_zone_without_a_yearly_rule(client, make):
    venue = make.venue(timezone="Africa/Casablanca")
    year = utcnow().year + 1
    occurrences = [
        make.occurrence(venue=venue, starts_at=datetime(year, month, 10, 12, tzinfo=UTC))
        for month in range(1, 13)
    ]
    body = client.get(f"/venues/{venue.slug}.ics").data
    for name, parse in PARSERS_BY_NAME.items():
        seen = {e["uid"]: e["start"]["utc"] for e in parse(body)["events"]}
        assert seen == {o.uid: utc(o.starts_at) for o in occurrences}, name


def test_parsers_are_really_there():
    """The suite never silently skips a parser: each one answers on a minimal calendar."""
    minimal = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        b"UID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\n"
        b"DTEND:20260101T110000Z\r\nSUMMARY:a\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    for parse in PARSERS_BY_NAME.values():
        [event] = parse(minimal)["events"]
        assert event["start"]["utc"] == "2026-01-01T10:00:00Z"
