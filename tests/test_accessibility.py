"""Accessibility as data, and the places held for wheelchair users."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from calendrier.domain import accessibility
from calendrier.domain import bookings as rules
from calendrier.domain.errors import OccurrenceFull
from calendrier.extensions import db
from calendrier.models import Booking, BookingStatus
from calendrier.timeutil import utcnow

from .test_api import API, assert_error, person
from .test_api_organisers import bearer, new_occurrence, org  # noqa: F401 - fixture


def ask(occurrence, *, wheelchair=False, seats=1, email=None):
    n = ask.n = getattr(ask, "n", 0) + 1
    return rules.book(
        occurrence.id,
        rules.BookingRequest(
            name=f"Person {n}",
            email=email or f"p{n}@example.org",
            seats=seats,
            wheelchair=wheelchair,
        ),
    ).booking


# --- codes -------------------------------------------------------------------------


def test_codes_are_stored_so_that_like_finds_them_and_unknown_ones_are_refused():
    assert accessibility.encode(["hearing_loop", "wheelchair", "wheelchair"]) == (
        " wheelchair hearing_loop "
    )
    assert accessibility.decode(" wheelchair hearing_loop ") == ["wheelchair", "hearing_loop"]
    assert accessibility.encode([]) == ""
    with pytest.raises(ValueError):
        accessibility.encode(["wheelchair", "teleport"])


def test_occurrence_json_gives_the_venues_codes_and_its_own(client, make):
    venue = make.venue(accessibility=" wheelchair hearing_loop ")
    occurrence = make.occurrence(venue=venue, accessibility=" sign_language ")
    body = client.get(f"{API}/occurrences/{occurrence.id}").get_json()
    assert body["accessibility"] == ["wheelchair", "sign_language", "hearing_loop"]
    assert body["wheelchair_spaces"] == 0
    assert body["wheelchair_release_hours"] == 24
    assert body["wheelchair_spaces_left"] == 0
    venues = client.get(f"{API}/venues").get_json()
    assert next(v for v in venues if v["slug"] == venue.slug)["accessibility"] == [
        "wheelchair",
        "hearing_loop",
    ]


def test_organisers_set_codes_and_an_unknown_code_is_a_422(client, org):  # noqa: F811
    headers = bearer(org.token)
    response = client.post(
        f"{API}/venues",
        json={
            "name": "Salle LSF",
            "address": "1 rue",
            "city": "Valence",
            "accessibility": ["wheelchair", "hearing_loop"],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["accessibility"] == ["wheelchair", "hearing_loop"]
    bad = client.post(
        f"{API}/venues",
        json={
            "name": "Salle X",
            "address": "1 rue",
            "city": "Valence",
            "accessibility": ["teleport"],
        },
        headers=headers,
    )
    assert "accessibility.0" in assert_error(bad, 422, "unprocessable_entity")["errors"]

    slug = org.occurrence.event.slug
    body = new_occurrence(
        org, accessibility=["audio_description"], wheelchair_spaces=2, wheelchair_release_hours=48
    )
    created = client.post(f"{API}/events/{slug}/occurrences", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    data = created.get_json()
    assert data["accessibility"] == ["audio_description"]
    assert (data["wheelchair_spaces"], data["wheelchair_release_hours"]) == (2, 48)
    assert data["wheelchair_spaces_left"] == 2

    too_many = new_occurrence(org, capacity=3, wheelchair_spaces=5)
    refused = client.post(f"{API}/events/{slug}/occurrences", json=too_many, headers=headers)
    assert "wheelchair_spaces" in assert_error(refused, 422, "unprocessable_entity")["errors"]

    patched = client.patch(
        f"{API}/occurrences/{data['id']}", json={"accessibility": ["teleport"]}, headers=headers
    )
    assert_error(patched, 422, "unprocessable_entity")
    patched = client.patch(
        f"{API}/occurrences/{data['id']}", json={"accessibility": ["relaxed"]}, headers=headers
    )
    assert patched.get_json()["accessibility"] == ["relaxed"]


def test_the_access_filter_requires_every_code_everywhere(client, make):
    loop_hall = make.venue(accessibility=" wheelchair hearing_loop ")
    both = make.occurrence(venue=loop_hall, accessibility=" sign_language ")
    only_venue = make.occurrence(venue=loop_hall)
    neither = make.occurrence()

    def api(query):
        events = client.get(f"{API}/events?{query}").get_json()
        return {o["id"] for e in events for o in e["occurrences"]}

    assert api("access=wheelchair") == {both.id, only_venue.id}
    assert api("access=wheelchair&access=sign_language") == {both.id}
    assert neither.id in api("")
    assert_error(client.get(f"{API}/events?access=teleport"), 422, "unprocessable_entity")

    day = both.starts_at.astimezone(ZoneInfo("Europe/Paris")).date()
    monday = day - timedelta(days=day.weekday())
    month, week = f"/calendar/{day.year}/{day.month}", f"/calendar/week/{monday.isoformat()}"
    for path in ("/events", month, week, "/calendar.ics"):
        page = client.get(f"{path}?access=wheelchair&access=sign_language&lang=en")
        assert page.status_code == 200, path
        text = page.get_data(as_text=True)
        assert both.event.title in text, path
        assert only_venue.event.title not in text, path
        assert neither.event.title not in text, path
    feed = client.get("/calendar.ics?access=sign_language").get_data(as_text=True)
    assert "X-ACCESSIBILITY:wheelchair,sign_language,hearing_loop" in feed


def test_json_ld_tells_the_features_and_the_absent_hazards(make):
    assert accessibility.json_ld(["wheelchair", "sign_language", "relaxed"]) == {
        "accessibilityFeature": ["wheelchairAccessible", "signLanguage"],
        "accessibilityHazard": ["noFlashingHazard", "noSoundHazard"],
    }
    assert accessibility.json_ld([]) == {}


def test_atom_categories_carry_the_words(app):
    with app.test_request_context("/?lang=en"):
        categories = accessibility.atom_categories(["hearing_loop"])
    assert categories == [
        {"term": "hearing_loop", "scheme": accessibility.ATOM_SCHEME, "label": "Hearing loop"}
    ]


# --- held wheelchair places ---------------------------------------------------------------


def test_held_places_go_only_to_wheelchair_users_until_released(make):
    occurrence = make.occurrence(capacity=4, wheelchair_spaces=2)
    ask(occurrence, seats=2)
    with pytest.raises(OccurrenceFull):
        ask(occurrence)  # the two places left are held
    first = ask(occurrence, wheelchair=True)  # one held place
    assert first.status == BookingStatus.CONFIRMED
    with pytest.raises(OccurrenceFull):
        ask(occurrence, wheelchair=True, seats=2)  # one held place, no ordinary seat left
    second = ask(occurrence, wheelchair=True)
    assert second.status == BookingStatus.CONFIRMED
    assert rules.held_left(occurrence) == 0
    with pytest.raises(OccurrenceFull):
        ask(occurrence, wheelchair=True)


def test_a_held_place_given_back_by_a_wheelchair_user_is_held_again(make):
    occurrence = make.occurrence(capacity=4, wheelchair_spaces=1)
    taken = ask(occurrence, wheelchair=True)
    assert rules.held_left(occurrence) == 0
    rules.cancel_by_attendee(taken.id)
    assert rules.held_left(occurrence) == 1  # for the next wheelchair user, not anyone
    ask(occurrence, seats=3)
    with pytest.raises(OccurrenceFull):
        ask(occurrence)
    assert ask(occurrence, wheelchair=True).status == BookingStatus.CONFIRMED


def test_a_wheelchair_users_companions_take_ordinary_seats(make):
    occurrence = make.occurrence(capacity=5, wheelchair_spaces=2)
    party = ask(occurrence, wheelchair=True, seats=3)  # one held place and two ordinary
    assert party.status == BookingStatus.CONFIRMED
    # one held place left and one ordinary seat: an ordinary booking takes the last ordinary
    ask(occurrence)
    with pytest.raises(OccurrenceFull):
        ask(occurrence)
    ask(occurrence, wheelchair=True)


def test_held_places_are_released_that_many_hours_before_the_start(client, make):
    soon = utcnow().replace(microsecond=0) + timedelta(hours=10)
    occurrence = make.occurrence(
        capacity=2, wheelchair_spaces=2, wheelchair_release_hours=24, starts_at=soon
    )
    booking = ask(occurrence, seats=2)  # within 24 hours: everyone may take them
    assert booking.status == BookingStatus.CONFIRMED
    later = make.occurrence(capacity=3, wheelchair_spaces=2, wheelchair_release_hours=2)
    body = client.get(f"{API}/occurrences/{later.id}").get_json()
    assert (body["seats_left"], body["wheelchair_spaces_left"]) == (1, 2)
    ask(later)
    body = client.get(f"{API}/occurrences/{later.id}").get_json()
    assert (body["seats_left"], body["wheelchair_spaces_left"]) == (0, 2)
    assert body["booking_open"] is True  # a wheelchair user can still book


def test_the_api_takes_wheelchair_and_the_attendee_list_shows_it(client, org):  # noqa: F811
    occurrence = org.occurrence
    occurrence.wheelchair_spaces = 1
    occurrence.waitlist = False
    db.session.commit()
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    assert client.post(url, json=person(seats=3)).status_code == 201
    assert_error(client.post(url, json=person(email="b@example.org", seats=1)), 409, "full")
    taken = client.post(url, json=person(email="w@example.org", seats=1, wheelchair=True))
    assert taken.status_code == 201
    assert_error(
        client.post(url, json=person(email="x@example.org", wheelchair="yes")),
        422,
        "unprocessable_entity",
    )
    attendees = client.get(
        f"{API}/occurrences/{occurrence.id}/attendees", headers=bearer(org.token)
    ).get_json()
    assert sorted(a["wheelchair"] for a in attendees) == [False, True]


def test_waiting_wheelchair_users_are_promoted_into_held_places_only(make):
    occurrence = make.occurrence(capacity=3, wheelchair_spaces=1, waitlist=True)
    holder = ask(occurrence, seats=2)
    waiting = ask(occurrence)  # the third place is held
    assert waiting.status == BookingStatus.WAITLISTED
    rules.cancel_by_attendee(holder.id)
    assert db.session.get(Booking, waiting.id).status == BookingStatus.CONFIRMED
    late = ask(occurrence, wheelchair=True)
    assert late.status == BookingStatus.CONFIRMED


# --- import ------------------------------------------------------------------------------


def test_import_reads_x_accessibility_and_our_feed_writes_it(client, make):
    from .test_import import calendar, occurrence_by_uid, run, vevent

    organisation = make.organisation(slug="cinema-lsf", name="Cinéma")
    make.venue(name="Grande halle", accessibility=" wheelchair ")
    year = utcnow().year + 1

    def file(codes: str) -> bytes:
        return calendar(
            vevent(
                "lsf@example.org",
                "Projection en LSF",
                dtstart=f"DTSTART;TZID=Europe/Paris:{year}0614T183000",
                dtend=f"DTEND;TZID=Europe/Paris:{year}0614T200000",
                location="Grande halle",
                x_accessibility=codes,
            )
        )

    run(file("sign_language, subtitles,teleport"), organisation)
    occurrence = occurrence_by_uid("lsf@example.org")
    assert accessibility.decode(occurrence.accessibility) == ["sign_language", "subtitles"]
    assert accessibility.occurrence_codes(occurrence) == [
        "wheelchair",
        "sign_language",
        "subtitles",
    ]
    report = run(file("sign_language,audio_description"), organisation)
    assert report.occurrences_updated == 1
    occurrence = occurrence_by_uid("lsf@example.org")
    assert accessibility.decode(occurrence.accessibility) == ["sign_language", "audio_description"]


def test_the_event_page_says_what_to_expect_with_words_and_json_ld(client, make):
    venue = make.venue(accessibility=" wheelchair hearing_loop ", access="Entrée par la cour.")
    organisation = make.organisation(email="accueil@example.org")
    event = make.event(organisation=organisation, title="Séance relax")
    make.occurrence(event=event, venue=venue, accessibility=" relaxed ", wheelchair_spaces=2)
    html = client.get(f"/events/{event.slug}").get_data(as_text=True)
    assert "Accessibilité\u00a0: à quoi s\u2019attendre" in html
    assert "Boucle magnétique" in html and "position T" in html
    assert "Séance relax" in html and "Entrée par la cour." in html
    assert "2 places sont réservées aux personnes en fauteuil roulant" in html
    assert "mailto:accueil@example.org" in html
    assert '"accessibilityFeature": ["wheelchairAccessible", "inductionLoop"]' in html
    assert '"accessibilityHazard": ["noFlashingHazard", "noSoundHazard"]' in html
    assert 'name="wheelchair"' in html
    listing = client.get("/events").get_data(as_text=True)
    assert 'class="access-list is-compact"' in listing and "Boucle magnétique" in listing
