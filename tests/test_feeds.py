"""Calendar feeds as subscribers' apps see them: content, validators, changes, cancellations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain import catalogue
from calendrier.extensions import db
from calendrier.models import FeedTombstone, Occurrence
from calendrier.timeutil import utcnow


def unfold(body: bytes) -> list[str]:
    return body.decode().replace("\r\n ", "").split("\r\n")


def prop(body: bytes, name: str) -> list[str]:
    """Values of every ``NAME`` or ``NAME;…`` line, unfolded."""
    return [
        line.split(":", 1)[1]
        for line in unfold(body)
        if line.split(":", 1)[0].split(";", 1)[0] == name
    ]


def vevents(body: bytes) -> list:
    return Calendar.from_ical(body).walk("VEVENT")


def future(days: int = 7) -> datetime:
    return utcnow().replace(microsecond=0) + timedelta(days=days)


def test_calendar_feed_has_what_clients_need(client, make):
    occurrence = make.occurrence()
    draft = make.occurrence(event=make.event(status="draft"))
    response = client.get("/calendar.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.data
    assert body.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))  # folded at 75 octets
    for name, value in {
        "PRODID": "-//calendrier//agenda//FR",
        "CALSCALE": "GREGORIAN",
        "X-PUBLISHED-TTL": "PT1H",
    }.items():
        assert prop(body, name) == [value], name
    assert prop(body, "METHOD") == []  # a snapshot, not an iTIP message (RFC 5545 §3.7.2)
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in unfold(body)
    assert prop(body, "NAME") == prop(body, "X-WR-CALNAME") == ["Agenda du pôle de l'image animée"]
    uids = {str(e["uid"]) for e in vevents(body)}
    assert occurrence.uid in uids and draft.uid not in uids
    [vevent] = vevents(body)
    assert vevent["dtstart"].params["TZID"] == "Europe/Paris"
    assert vevent.decoded("dtstart") == occurrence.starts_at
    assert vevent.decoded("dtend") == occurrence.ends_at
    page = f"https://agenda.example.org/events/{occurrence.event.slug}"
    assert str(vevent["url"]) == page
    assert f"Réserver : {page}?occurrence={occurrence.id}" in str(vevent["description"])
    assert str(vevent["location"]) == (
        f"{occurrence.venue.name}, 1 rue de Chabeuil, 26500 Bourg-lès-Valence"
    )
    assert vevent["geo"].to_ical() == "44.948;4.894" or prop(body, "GEO") == ["44.948000;4.894000"]
    assert vevent["categories"].cats == ["Visite guidée"]
    assert str(vevent["status"]) == "CONFIRMED"
    assert int(vevent["sequence"]) == 0


def test_feed_language_is_chosen_by_the_url_only(client, make):
    make.occurrence()
    english = client.get("/calendar.ics?lang=en", headers={"Accept-Language": "fr"}).data
    assert prop(english, "NAME") == ["Agenda of the animation-film cluster"]
    assert "Book: " in str(vevents(english)[0]["description"])
    french = client.get("/calendar.ics", headers={"Accept-Language": "en"}).data
    assert "Réserver : " in str(vevents(french)[0]["description"])


def test_one_vtimezone_per_zone_used_and_times_in_the_venue_zone(client, make):
    event = make.event()
    paris = make.occurrence(event=event, starts_at=future(10))
    new_york = make.occurrence(
        event=event, venue=make.venue(timezone="America/New_York"), starts_at=future(11)
    )
    body = client.get(f"/events/{event.slug}.ics").data
    cal = Calendar.from_ical(body)
    assert sorted(str(tz["tzid"]) for tz in cal.walk("VTIMEZONE")) == [
        "America/New_York",
        "Europe/Paris",
    ]
    starts = {str(e["uid"]): e["dtstart"] for e in cal.walk("VEVENT")}
    assert starts[paris.uid].params["TZID"] == "Europe/Paris"
    assert starts[new_york.uid].params["TZID"] == "America/New_York"
    assert starts[new_york.uid].dt == new_york.starts_at


def test_same_data_same_bytes_with_stamps_from_the_data(client, make):
    occurrence = make.occurrence()
    first = client.get("/calendar.ics")
    second = client.get("/calendar.ics")
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]
    [vevent] = vevents(first.data)
    modified = occurrence.changed_at.replace(microsecond=0)
    assert vevent.decoded("dtstamp") == vevent.decoded("last-modified")
    assert vevent.decoded("last-modified") >= modified


def test_strong_etag_and_last_modified_give_304(client, make):
    make.occurrence()
    response = client.get("/calendar.ics")
    etag = response.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{40}"', etag)  # strong: no W/
    last_modified = response.headers["Last-Modified"]
    assert response.headers["Cache-Control"] == "public, max-age=300"

    cached = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.data == b""
    assert cached.headers["ETag"] == etag
    assert client.get("/calendar.ics", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get("/calendar.ics", headers={"If-None-Match": '"other"'}).status_code == 200

    assert (
        client.get("/calendar.ics", headers={"If-Modified-Since": last_modified}).status_code == 304
    )
    earlier = response.last_modified - timedelta(seconds=1)
    from werkzeug.http import http_date

    assert (
        client.get("/calendar.ics", headers={"If-Modified-Since": http_date(earlier)}).status_code
        == 200
    )
    # If-None-Match decides when both are sent (RFC 9110 §13.2.2)
    both = {"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    assert client.get("/calendar.ics", headers=both).status_code == 200
    assert client.head("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("path", ["/calendar.ics", "event", "organisation", "venue"])
def test_every_feed_answers_conditional_requests(client, make, path):
    occurrence = make.occurrence()
    url = {
        "event": f"/events/{occurrence.event.slug}.ics",
        "organisation": f"/organisations/{occurrence.event.organisation.slug}.ics",
        "venue": f"/venues/{occurrence.venue.slug}.ics",
    }.get(path, path)
    response = client.get(url)
    assert response.status_code == 200
    assert occurrence.uid in {str(e["uid"]) for e in vevents(response.data)}
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_a_change_raises_sequence_and_changes_etag_and_last_modified(client, make):
    occurrence = make.occurrence()
    before = client.get("/calendar.ics")
    catalogue.update_occurrence(
        occurrence.id,
        starts_at=occurrence.starts_at + timedelta(hours=1),
        ends_at=occurrence.ends_at + timedelta(hours=1),
    )
    occurrence = db.session.get(Occurrence, occurrence.id)
    after = client.get("/calendar.ics", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.last_modified >= before.last_modified
    [vevent] = vevents(after.data)
    assert int(vevent["sequence"]) == 1
    assert vevent.decoded("dtstart") == occurrence.starts_at
    assert vevent.decoded("last-modified") >= vevents(before.data)[0].decoded("last-modified")


def test_bookings_do_not_change_the_feed(client, make):
    occurrence = make.occurrence()
    before = client.get("/calendar.ics")
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=2))
    after = client.get("/calendar.ics")
    assert after.data == before.data
    assert after.headers["ETag"] == before.headers["ETag"]


def test_an_event_edit_changes_the_etag(client, make):
    occurrence = make.occurrence()
    before = client.get("/calendar.ics").headers["ETag"]
    catalogue.update_event(occurrence.event_id, title="Nouveau titre")
    response = client.get("/calendar.ics")
    assert response.headers["ETag"] != before
    assert str(vevents(response.data)[0]["summary"]) == "Nouveau titre"


def test_cancelled_occurrence_stays_in_feeds_marked_cancelled(client, make):
    occurrence = make.occurrence()
    before = client.get("/calendar.ics")
    rules.cancel_occurrence(occurrence.id, "Intervenant malade")
    response = client.get("/calendar.ics", headers={"If-None-Match": before.headers["ETag"]})
    assert response.status_code == 200
    [vevent] = vevents(response.data)
    assert str(vevent["uid"]) == occurrence.uid
    assert str(vevent["status"]) == "CANCELLED"
    assert int(vevent["sequence"]) == 1
    assert str(vevent["summary"]).startswith("Annulé : ")
    assert "Intervenant malade" in str(vevent["description"])
    assert "Réserver" not in str(vevent["description"])
    event_feed = client.get(f"/events/{occurrence.event.slug}.ics").data
    assert str(vevents(event_feed)[0]["status"]) == "CANCELLED"


def test_past_occurrences_leave_the_feed_after_thirty_days(client, make):
    event = make.event()
    recent = make.occurrence(event=event, starts_at=future(-20))
    old = make.occurrence(event=event, starts_at=future(-40))
    for url in ("/calendar.ics", f"/events/{event.slug}.ics"):
        uids = {str(e["uid"]) for e in vevents(client.get(url).data)}
        assert recent.uid in uids and old.uid not in uids, url


def test_last_modified_never_goes_backwards_after_a_deletion(client, make):
    event = make.event()
    keep = make.occurrence(event=event, starts_at=future(3))
    gone = make.occurrence(event=event, starts_at=future(4))
    before = client.get("/calendar.ics")
    org_url = f"/organisations/{event.organisation.slug}.ics"
    venue_url = f"/venues/{gone.venue.slug}.ics"
    org_before = client.get(org_url)
    venue_before = client.get(venue_url)
    db.session.delete(gone)
    db.session.commit()
    [stone] = db.session.scalars(select(FeedTombstone)).all()
    assert (stone.object_id, stone.venue_id) == (gone.id, gone.venue_id)
    assert stone.organisation_id == event.organisation_id
    earlier_answers = [("/calendar.ics", before), (org_url, org_before), (venue_url, venue_before)]
    for url, earlier in earlier_answers:
        after = client.get(url)
        assert after.headers["ETag"] != earlier.headers["ETag"], url
        assert after.last_modified >= earlier.last_modified, url
        assert after.last_modified >= stone.deleted_at.replace(microsecond=0), url
        assert gone.uid not in {str(e["uid"]) for e in vevents(after.data)}
    assert keep.uid in {str(e["uid"]) for e in vevents(client.get("/calendar.ics").data)}


def test_moving_an_occurrence_to_another_venue_leaves_a_tombstone(client, make):
    occurrence = make.occurrence()
    old_venue = occurrence.venue
    catalogue.update_occurrence(occurrence.id, venue=make.venue().slug)
    [stone] = db.session.scalars(select(FeedTombstone)).all()
    assert stone.venue_id == old_venue.id
    assert client.get(f"/venues/{old_venue.slug}.ics").last_modified >= stone.deleted_at.replace(
        microsecond=0
    )
    assert occurrence.changed_at >= stone.deleted_at - timedelta(seconds=1)


def test_unpublishing_an_event_empties_its_organisation_feed_without_going_back(client, make):
    occurrence = make.occurrence()
    org_url = f"/organisations/{occurrence.event.organisation.slug}.ics"
    before = client.get(org_url)
    catalogue.unpublish_event(occurrence.event_id)
    after = client.get(org_url)
    assert vevents(after.data) == []
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.last_modified >= before.last_modified


def test_scoped_feeds_hold_only_their_dates(client, make):
    festival = make.event(kind="festival", title="Festival")
    screening = make.event(
        kind="screening", parent=festival, organisation=festival.organisation, title="Courts"
    )
    in_festival = make.occurrence(event=screening)
    own = make.occurrence(event=festival)
    elsewhere = make.occurrence()

    def uids(url):
        response = client.get(url)
        assert response.status_code == 200, url
        return {str(e["uid"]) for e in vevents(response.data)}

    assert uids(f"/events/{festival.slug}.ics") == {in_festival.uid, own.uid}
    assert uids(f"/events/{screening.slug}.ics") == {in_festival.uid}
    assert uids(f"/organisations/{festival.organisation.slug}.ics") == {in_festival.uid, own.uid}
    assert uids(f"/venues/{elsewhere.venue.slug}.ics") == {elsewhere.uid}
    assert prop(client.get(f"/venues/{elsewhere.venue.slug}.ics").data, "X-WR-CALNAME") == [
        elsewhere.venue.name
    ]
    assert prop(client.get(f"/organisations/{festival.organisation.slug}.ics").data, "NAME") == [
        festival.organisation.name
    ]
    for url in ("/events/nope.ics", "/organisations/nope.ics", "/venues/nope.ics"):
        assert client.get(url).status_code == 404
    draft = make.event(status="draft")
    assert client.get(f"/events/{draft.slug}.ics").status_code == 404


def test_injection_attempts_stay_text(client, make):
    title = 'Ciné\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil\u2028SUMMARY:x; a, b \\ "c"\x0b'
    event = make.event(title=title)
    make.occurrence(event=event, venue=make.venue(name="Salle\nGEO:1;1"))
    body = client.get("/calendar.ics").data
    lines = unfold(body)
    assert lines.count("BEGIN:VEVENT") == 1
    assert not any(line.startswith(("UID:evil", "GEO:1;1", "SUMMARY:x")) for line in lines)
    [vevent] = vevents(body)
    expected = 'Ciné\nEND:VEVENT\nBEGIN:VEVENT\nUID:evil\nSUMMARY:x; a, b \\ "c"'
    assert str(vevent["summary"]) == expected


def test_ambiguous_autumn_hour_is_written_in_utc(client, make):
    year = utcnow().year + 1
    # the last Sunday of October: 02:30 happens twice in Paris (clients disagree on which)
    last_sunday = max(
        datetime(year, 10, day, tzinfo=UTC)
        for day in range(25, 32)
        if datetime(year, 10, day, tzinfo=UTC).weekday() == 6
    )
    second = last_sunday.replace(hour=1, minute=30)
    occurrence = make.occurrence(starts_at=second)
    [vevent] = vevents(client.get("/calendar.ics").data)
    assert vevent["dtstart"].to_ical() == second.strftime("%Y%m%dT%H%M%SZ").encode()
    assert vevent.decoded("dtstart") == occurrence.starts_at


def test_unchanged_occurrence_keeps_changed_at_when_booked(make):
    occurrence = make.occurrence()
    changed = occurrence.changed_at
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1))
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).changed_at == changed


def test_calendar_feed_takes_the_filters_of_the_events_page(client, make):
    screening = make.occurrence(event=make.event(kind="screening", title="Courts métrages"))
    visit = make.occurrence(event=make.event(kind="visit", title="Visite des studios"))
    later = make.occurrence(event=make.event(kind="talk", title="Rencontre"), starts_at=future(60))

    def uids(query):
        response = client.get(f"/calendar.ics?{query}")
        assert response.status_code == 200, query
        return {str(e["uid"]) for e in vevents(response.data)}

    assert uids("") == {screening.uid, visit.uid, later.uid}
    assert uids("kind=screening") == {screening.uid}
    assert uids("kind=screening,visit") == {screening.uid, visit.uid}
    assert uids(f"venue={visit.venue.slug}") == {visit.uid}
    assert uids(f"organisation={later.event.organisation.slug}") == {later.uid}
    assert uids("q=studios") == {visit.uid}
    day = (utcnow() + timedelta(days=30)).date().isoformat()
    assert uids(f"from={day}") == {later.uid}
    assert uids(f"to={day}") == {screening.uid, visit.uid}
    # a filtered feed has its own validators and its own SOURCE
    response = client.get("/calendar.ics?kind=screening")
    assert response.headers["ETag"] != client.get("/calendar.ics").headers["ETag"]
    assert prop(response.data, "SOURCE") == [
        "https://agenda.example.org/calendar.ics?kind=screening"
    ]


def test_a_bad_filter_is_refused_not_ignored(client, make):
    make.occurrence()
    for query in ("kind=nope", "from=yesterday", "available=maybe"):
        response = client.get(f"/calendar.ics?{query}")
        assert response.status_code == 400, query
        assert response.content_type == "text/plain; charset=utf-8"


def test_subscribe_links_on_the_events_page_lead_to_the_filtered_feed(client, make):
    screening = make.occurrence(event=make.event(kind="screening"))
    make.occurrence(event=make.event(kind="visit"))
    page = client.get("/events?kind=screening").get_data(as_text=True)
    href = re.search(r'href="(/calendar\.ics[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "webcal://agenda.example.org/calendar.ics?kind=screening" in page
    assert {str(e["uid"]) for e in vevents(client.get(href).data)} == {screening.uid}


def test_event_page_offers_its_own_feed(client, make):
    occurrence = make.occurrence()
    slug = occurrence.event.slug
    page = client.get(f"/events/{slug}").get_data(as_text=True)
    assert f'href="/events/{slug}.ics"' in page
