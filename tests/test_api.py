"""The JSON API's public side: reading, booking, one's own booking, the error shape."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_babel import refresh

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import Booking, BookingStatus, EventStatus
from calendrier.timeutil import utcnow

API = "/api/v1"


def person(**overrides) -> dict:
    body = {"name": "Ana Martin", "email": "ana@example.org", "seats": 2, "consent": True}
    body.update(overrides)
    return body


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    body = response.get_json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- reading --------------------------------------------------------------------


def test_event_with_its_occurrences_times_with_offset_and_places_left(client, make):
    occurrence = make.occurrence(capacity=12)
    event = occurrence.event
    make.occurrence(event=event, starts_at=utcnow() - timedelta(days=3))  # over: not listed

    response = client.get(f"{API}/events/{event.slug}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["slug"] == event.slug
    assert body["kind"] == "visit"
    assert body["organisation"] == event.organisation.slug
    assert body["url"] == f"https://agenda.example.org/events/{event.slug}"
    [shown] = body["occurrences"]
    assert shown["id"] == occurrence.id
    assert shown["venue"] == occurrence.venue.slug
    assert shown["capacity"] == 12
    assert shown["seats_left"] == 12
    assert shown["status"] == "scheduled"
    assert shown["booking_open"] is True
    # Paris time with its offset, the same instant as stored
    assert shown["starts_at"][-6:] in ("+01:00", "+02:00")
    from datetime import datetime

    assert datetime.fromisoformat(shown["starts_at"]) == occurrence.starts_at


def test_one_occurrence_and_what_is_left_after_a_booking(client, make):
    occurrence = make.occurrence(capacity=3)
    client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person(seats=3))
    body = client.get(f"{API}/occurrences/{occurrence.id}").get_json()
    assert body["seats_left"] == 0
    assert body["booking_open"] is False
    assert body["availability"] == "full"


def test_drafts_and_unknown_things_are_404_in_the_api_shape(client, make):
    draft = make.occurrence(event=make.event(status=EventStatus.DRAFT))
    assert_error(client.get(f"{API}/events/{draft.event.slug}"), 404, "not_found")
    assert_error(client.get(f"{API}/occurrences/{draft.id}"), 404, "not_found")
    assert_error(client.get(f"{API}/occurrences/999999"), 404, "not_found")
    assert_error(client.get(f"{API}/occurrences/99999999999999999999"), 404, "not_found")
    assert_error(client.get(f"{API}/events/%00"), 404, "not_found")
    assert_error(client.get(f"{API}/bookings/nope"), 404, "not_found")
    assert_error(client.get(f"{API}/no-such-thing"), 404, "not_found")


def test_public_reading_is_open_to_any_website_and_sets_no_cookie(client, make):
    occurrence = make.occurrence()
    for url in (
        f"{API}/events/{occurrence.event.slug}",
        f"{API}/occurrences/{occurrence.id}",
        f"{API}/occurrences/{occurrence.id}?lang=en",
        f"{API}/events/nope",
    ):
        response = client.get(url, headers={"Origin": "https://mairie.example.org"})
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Set-Cookie" not in response.headers
    booked = client.post(f"{API}/occurrences/{occurrence.id}/bookings?lang=en", json=person())
    assert "Set-Cookie" not in booked.headers


# --- booking ----------------------------------------------------------------------


def test_booking_is_confirmed_with_its_reference_token_and_email(client, make, smtp):
    occurrence = make.occurrence(capacity=10)
    response = client.post(
        f"{API}/occurrences/{occurrence.id}/bookings",
        json=person(phone="+33 6 12 34 56 78", locale="en"),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"reference", "status", "seats", "token", "manage_url"}
    assert body["status"] == "confirmed"
    assert body["seats"] == 2
    assert body["manage_url"] == f"https://agenda.example.org/bookings/{body['token']}"
    booking = db.session.scalar(db.select(Booking).where(Booking.reference == body["reference"]))
    assert booking.source == "api"
    assert booking.phone == "+33 6 12 34 56 78"
    assert booking.consent_at is not None

    assert outbox.deliver().sent == 1
    [message] = smtp.messages
    assert message["To"] == "ana@example.org"
    assert body["reference"] in message.get_body(("plain",)).get_content()


def test_booking_language_defaults_to_the_request_language(client, make):
    occurrence = make.occurrence()
    client.post(
        f"{API}/occurrences/{occurrence.id}/bookings",
        json=person(),
        headers={"Accept-Language": "en-GB,en;q=0.8"},
    )
    assert db.session.scalar(db.select(Booking.locale)) == "en"


def test_waitlisted_and_pending_statuses(client, make):
    full = make.occurrence(capacity=1, waitlist=True)
    client.post(f"{API}/occurrences/{full.id}/bookings", json=person(seats=1))
    second = client.post(
        f"{API}/occurrences/{full.id}/bookings", json=person(email="bo@example.org", seats=1)
    )
    assert second.status_code == 201
    assert second.get_json()["status"] == "waitlisted"

    training = make.occurrence(requires_approval=True)
    response = client.post(f"{API}/occurrences/{training.id}/bookings", json=person())
    assert response.get_json()["status"] == "pending"


def test_full_and_closed_are_409_with_their_reason(client, make):
    occurrence = make.occurrence(capacity=2)
    client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person(seats=2))
    full = client.post(
        f"{API}/occurrences/{occurrence.id}/bookings", json=person(email="bo@example.org")
    )
    assert_error(full, 409, "full")

    started = make.occurrence(starts_at=utcnow() - timedelta(minutes=5))
    closed = client.post(f"{API}/occurrences/{started.id}/bookings", json=person())
    assert_error(closed, 409, "closed")
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 1


def test_same_email_twice_never_hands_out_the_first_booking(client, make):
    occurrence = make.occurrence()
    first = client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person())
    again = client.post(
        f"{API}/occurrences/{occurrence.id}/bookings", json=person(email="ANA@Example.org")
    )
    body = assert_error(again, 409, "already_booked")
    assert first.get_json()["token"] not in again.get_data(as_text=True)
    assert "token" not in body


def test_idempotency_key_returns_the_first_booking_once(client, make):
    occurrence = make.occurrence(capacity=10)
    headers = {"Idempotency-Key": "3f1c7d2e-booking-1"}
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    first = client.post(url, json=person(), headers=headers)
    retry = client.post(url, json=person(), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 1

    other = make.occurrence()
    reused = client.post(
        f"{API}/occurrences/{other.id}/bookings",
        json=person(email="x@example.org"),
        headers=headers,
    )
    body = assert_error(reused, 409, "idempotency_key_reused")
    assert "Idempotency-Key" in body["errors"]


def test_more_seats_than_the_occurrence_allows_is_422_with_the_field(client, make):
    """Bad input, not the state of the date: a 422 like any other, and nothing written."""
    occurrence = make.occurrence(max_seats_per_booking=4)
    response = client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person(seats=5))
    body = assert_error(response, 422, "unprocessable_entity")
    assert body["errors"] == {"seats": ["4 places au maximum par réservation."]}
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 0
    english = client.post(
        f"{API}/occurrences/{occurrence.id}/bookings?lang=en", json=person(seats=5)
    )
    assert assert_error(english, 422, "unprocessable_entity")["errors"] == {
        "seats": ["At most 4 places per booking."]
    }
    # the state of the date keeps its 409
    full = make.occurrence(capacity=2, max_seats_per_booking=4)
    client.post(f"{API}/occurrences/{full.id}/bookings", json=person(email="x@example.org"))
    assert_error(client.post(f"{API}/occurrences/{full.id}/bookings", json=person()), 409, "full")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "A\x00B"}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"seats": 0}, "seats"),
        ({"seats": "2"}, "seats"),
        ({"seats": 2.5}, "seats"),
        ({"seats": 10**40}, "seats"),
        ({"consent": False}, "consent"),
        ({"consent": "yes"}, "consent"),
        ({"phone": "call me"}, "phone"),
        ({"locale": "de"}, "locale"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_booking_fields_are_422_with_field_errors(client, make, change, field):
    occurrence = make.occurrence()
    response = client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person(**change))
    body = assert_error(response, 422, "unprocessable_entity")
    assert field in body["errors"]
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 0


def test_missing_fields_malformed_json_and_wrong_content_type_are_never_500(client, make):
    url = f"{API}/occurrences/{make.occurrence().id}/bookings"
    missing = assert_error(client.post(url, json={}), 422, "unprocessable_entity")
    assert {"name", "email", "seats", "consent"} <= set(missing["errors"])
    broken = client.post(url, data='{"name": ', content_type="application/json")
    assert_error(broken, 400, "bad_request")
    as_form = client.post(url, data={"name": "Ana"})
    assert_error(as_form, 422, "unprocessable_entity")
    not_an_object = client.post(url, json=[1, 2])
    assert not_an_object.status_code in (400, 422)
    assert "error" in not_an_object.get_json()
    wrong_method = client.put(url, json=person())
    assert_error(wrong_method, 405, "method_not_allowed")


def test_booking_an_unknown_or_draft_occurrence_is_404(client, make):
    draft = make.occurrence(event=make.event(status=EventStatus.DRAFT))
    assert_error(
        client.post(f"{API}/occurrences/{draft.id}/bookings", json=person()), 404, "not_found"
    )
    assert_error(client.post(f"{API}/occurrences/424242/bookings", json=person()), 404, "not_found")


# --- one's own booking ------------------------------------------------------------


def test_read_and_cancel_ones_own_booking_by_token(client, make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    mine = client.post(url, json=person(seats=2)).get_json()
    waiting = client.post(url, json=person(email="bo@example.org", seats=1)).get_json()
    assert waiting["status"] == "waitlisted"

    read = client.get(f"{API}/bookings/{mine['token']}")
    assert read.status_code == 200
    body = read.get_json()
    assert body["reference"] == mine["reference"]
    assert body["status"] == "confirmed"
    assert body["can_cancel"] is True
    assert body["occurrence"]["id"] == occurrence.id
    assert "Set-Cookie" not in read.headers

    cancelled = client.delete(f"{API}/bookings/{mine['token']}")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["can_cancel"] is False
    # the waiting person got the places
    assert client.get(f"{API}/bookings/{waiting['token']}").get_json()["status"] == "confirmed"
    # cancelling again changes nothing
    again = client.delete(f"{API}/bookings/{mine['token']}")
    assert again.status_code == 200
    assert again.get_json()["status"] == "cancelled"


def test_cancelling_after_the_deadline_is_409(client, make):
    occurrence = make.occurrence(
        starts_at=utcnow() + timedelta(hours=5), cancellation_deadline_hours=24
    )
    token = client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person()).get_json()[
        "token"
    ]
    assert_error(client.delete(f"{API}/bookings/{token}"), 409, "cancellation_closed")
    status = db.session.scalar(db.select(Booking.status))
    assert status == BookingStatus.CONFIRMED


def test_anonymised_booking_is_gone(client, make):
    occurrence = make.occurrence()
    token = client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person()).get_json()[
        "token"
    ]
    booking = db.session.scalar(db.select(Booking))
    booking.anonymised_at = utcnow()
    db.session.commit()
    assert_error(client.get(f"{API}/bookings/{token}"), 404, "not_found")
    assert_error(client.delete(f"{API}/bookings/{token}"), 404, "not_found")


# --- limits ---------------------------------------------------------------------------


@pytest.fixture
def limited_app_config(app_config):
    app_config.update(RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="2 per minute")
    return app_config


def test_too_many_bookings_from_one_address_is_429_with_retry_after(database_uri, tmp_path):
    from calendrier import create_app
    from tests import factories
    from tests.conftest import clean_database, make_config

    app = create_app(
        make_config(
            database_uri, tmp_path, RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="2 per minute"
        )
    )
    with app.app_context():
        clean_database()
        occurrence = factories.occurrence(capacity=50)
        client = app.test_client()
        url = f"{API}/occurrences/{occurrence.id}/bookings"
        for n in range(2):
            assert client.post(url, json=person(email=f"p{n}@example.org")).status_code == 201
        response = client.post(url, json=person(email="p9@example.org"))
        assert_error(response, 429, "too_many_requests")
        assert int(response.headers["Retry-After"]) > 0
        db.session.remove()
        db.engine.dispose()


def test_absurd_bodies_are_client_errors(client, make):
    url = f"{API}/occurrences/{make.occurrence().id}/bookings"
    nested = client.post(url, data="[" * 100_000, content_type="application/json")
    assert_error(nested, 400, "bad_request")
    not_utf8 = client.post(url, data=b"\xff\xfe{", content_type="application/json")
    assert_error(not_utf8, 400, "bad_request")
    huge = client.post(url, data="x" * 1_000_000, content_type="application/json")
    assert_error(huge, 413, "request_entity_too_large")
    surrogate = client.post(
        url,
        data='{"name": "\\ud800", "email": "a@example.org", "seats": 1, "consent": true}',
        content_type="application/json",
    )
    assert_error(surrogate, 422, "unprocessable_entity")


def test_messages_speak_the_request_language_codes_stay_the_same(client, make):
    occurrence = make.occurrence(capacity=1)
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    client.post(url, json=person(seats=1))
    french = client.post(url, json=person(email="bo@example.org", seats=1))
    assert assert_error(french, 409, "full")["message"] == "Désolé, cette date est complète."
    refresh()  # the test's app context outlives requests: forget the language chosen
    english = client.post(
        url, json=person(email="cy@example.org", seats=1), headers={"Accept-Language": "en"}
    )
    assert assert_error(english, 409, "full")["message"] == "Sorry, this date is full."


def test_wrong_method_says_which_are_allowed(client, make):
    response = client.put(f"{API}/occurrences/{make.occurrence().id}")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"] and "PATCH" in response.headers["Allow"]


# --- lists --------------------------------------------------------------------------


def test_events_list_filters_like_the_events_page_and_pages(client, make):
    paris = make.venue(slug="salle-paris", city="Valence")
    soon = utcnow().replace(microsecond=0) + timedelta(days=2)
    visit = make.event(kind="visit", title="Visite des studios")
    talk = make.event(kind="talk", title="Rencontre avec une réalisatrice")
    make.occurrence(event=visit, starts_at=soon, venue=paris)
    make.occurrence(event=visit, starts_at=soon + timedelta(days=30))
    make.occurrence(event=talk, starts_at=soon + timedelta(days=1))
    make.occurrence(event=make.event(status=EventStatus.DRAFT), starts_at=soon)

    everything = client.get(f"{API}/events")
    assert everything.status_code == 200
    assert everything.headers["X-Total-Count"] == "2"
    assert everything.headers["Access-Control-Allow-Origin"] == "*"
    assert [e["slug"] for e in everything.get_json()] == [visit.slug, talk.slug]

    talks = client.get(f"{API}/events?kind=talk").get_json()
    assert [e["slug"] for e in talks] == [talk.slug]
    at_venue = client.get(f"{API}/events?venue=salle-paris").get_json()
    [only] = at_venue
    assert [o["venue"] for o in only["occurrences"]] == ["salle-paris"]
    words = client.get(f"{API}/events", query_string={"q": "realisatrice"}).get_json()
    assert [e["slug"] for e in words] == [talk.slug]

    day = soon.astimezone(ZoneInfo("Europe/Paris")).date().isoformat()
    window = client.get(f"{API}/events?from={day}&to={day}").get_json()
    assert visit.slug in [e["slug"] for e in window]
    assert all(len(e["occurrences"]) == 1 for e in window)

    first = client.get(f"{API}/events?per_page=1")
    assert len(first.get_json()) == 1
    assert 'rel="next"' in first.headers["Link"]
    assert "page=2" in first.headers["Link"]
    second = client.get(f"{API}/events?per_page=1&page=2")
    assert [e["slug"] for e in second.get_json()] == [talk.slug]
    assert 'rel="prev"' in second.headers["Link"]
    beyond = client.get(f"{API}/events?per_page=1&page=99")
    assert beyond.status_code == 200
    assert beyond.get_json() == []


def test_occurrences_list_in_start_order(client, make):
    soon = utcnow().replace(microsecond=0) + timedelta(days=2)
    later = make.occurrence(starts_at=soon + timedelta(days=1))
    first = make.occurrence(starts_at=soon)
    response = client.get(f"{API}/occurrences")
    assert response.status_code == 200
    assert [o["id"] for o in response.get_json()] == [first.id, later.id]
    assert response.headers["X-Total-Count"] == "2"
    assert [o["id"] for o in client.get(f"{API}/occurrences?available=true").get_json()] == [
        first.id,
        later.id,
    ]
    # once a date is full, "available" leaves it out
    for i in range(later.capacity):
        rules.book(
            later.id, rules.BookingRequest(name="P", email=f"p{i}@example.org", seats=1)
        )
    available = client.get(f"{API}/occurrences?available=true").get_json()
    assert [o["id"] for o in available] == [first.id]
    assert [o["id"] for o in client.get(f"{API}/occurrences").get_json()] == [first.id, later.id]


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-14T10:00:00",  # a time without its offset
        "from=tomorrow",
        "kind=concert",
        "venue=Salle%201",
        "q=%00",
        "page=0",
        "page=99999999999999999999",
        "per_page=1000",
        "available=maybe",
    ],
)
def test_bad_filters_are_422(client, query):
    for url in (f"{API}/events?{query}", f"{API}/occurrences?{query}"):
        body = assert_error(client.get(url), 422, "unprocessable_entity")
        assert body["errors"]


def test_far_dates_and_offsets_are_fine_as_filter_bounds(client, make):
    make.occurrence()
    inverted = client.get(f"{API}/events?from=2026-03-14&to=2026-03-01")
    assert inverted.status_code == 200
    assert inverted.get_json() == []
    for query in (
        "from=0001-01-01&to=9999-12-31",
        "from=0001-01-01T00:00:00%2B14:00",
        "to=9999-12-31T23:59:59-12:00",
        "from=2026-03-14T10:00:00Z",
    ):
        assert client.get(f"{API}/events?{query}").status_code == 200, query


@pytest.mark.parametrize(
    "query",
    ["q=%00", "venue=%00", "from=0001-01-01", "to=9999-12-31", "from=0001-01-01T00:00:00%2B14:00"],
)
def test_shared_filters_never_fail_on_what_sql_or_datetime_cannot_take(client, make, query):
    """domain/listing serves the pages, the feed and the API alike: none of them fails."""
    make.occurrence()
    for path in ("/events", "/calendar.ics", f"{API}/events", f"{API}/occurrences"):
        assert client.get(f"{path}?{query}").status_code < 500, (path, query)


def test_the_same_idempotency_key_sent_at_once_books_once(app, make):
    from concurrent.futures import ThreadPoolExecutor

    occurrence = make.occurrence(capacity=50)
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    headers = {"Idempotency-Key": "retry-storm-1"}
    db.session.commit()  # SQLite: end the test's own transaction before the threads write

    def attempt(_n):
        response = app.test_client().post(url, json=person(), headers=headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(attempt, range(6)))
    assert {status for status, _ in answers} == {201}
    assert len({body["reference"] for _, body in answers}) == 1
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count(Booking.id))) == 1
