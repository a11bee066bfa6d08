"""What a security review found (issue 17), one test per finding, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage
from calendrier.timeutil import utcnow

API = "/api/v1"


def book(occurrence, email: str, seats: int = 1, **kwargs) -> Booking:
    request = rules.BookingRequest(name="Ana", email=email, seats=seats, consent=True)
    return rules.book(occurrence.id, request, **kwargs).booking


def api_book(client, occurrence, email: str, seats: int = 1):
    body = {"name": "Curieux", "email": email, "seats": seats, "consent": True}
    return client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=body)


def answer(response) -> tuple:
    body = response.get_json()
    return response.status_code, body.get("error"), body.get("message")


def bookings() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(Booking.id)))


# --- 2. the API does not tell whether an address holds a booking ---------------------


def test_a_past_date_answers_the_same_whether_the_address_booked_or_not(client, make):
    started = utcnow().replace(microsecond=0) - timedelta(days=2)
    occurrence = make.occurrence(capacity=10, starts_at=started)
    book(occurrence, "ana@example.org", now=started - timedelta(days=5))
    holder = api_book(client, occurrence, "ana@example.org")
    stranger = api_book(client, occurrence, "bob@example.org")
    assert answer(holder) == answer(stranger)
    assert answer(holder)[:2] == (409, "closed")


def test_a_full_date_answers_the_same_whether_the_address_booked_or_not(client, make):
    occurrence = make.occurrence(capacity=1)
    book(occurrence, "ana@example.org")
    holder = api_book(client, occurrence, "ana@example.org")
    stranger = api_book(client, occurrence, "bob@example.org")
    assert answer(holder) == answer(stranger)
    assert answer(holder)[:2] == (409, "full")
    assert bookings() == 1


def test_an_open_date_sends_the_link_to_the_holder_never_to_the_caller(client, make):
    occurrence = make.occurrence(capacity=10)
    booking = book(occurrence, "ana@example.org")
    response = api_book(client, occurrence, "ana@example.org")
    assert answer(response)[:2] == (409, "already_booked")
    assert booking.token not in response.get_data(as_text=True)
    db.session.rollback()
    resent = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind.like("%existing%"))
    ).all()
    assert [m.recipient for m in resent] == ["ana@example.org"]


# --- 3. the form's submission key returns only one's own booking -----------------------


def form_data(occurrence, email: str, submission: str, **extra) -> dict:
    data = {
        "occurrence": occurrence.id,
        "name": "Ana Martin",
        "email": email,
        "seats": "1",
        "consent": "y",
        "submission": submission,
    }
    return data | extra


def submission_of(page) -> str:
    return re.search(r'name="submission"[^>]*value="([^"]+)"', page.get_data(as_text=True))[1]


def test_a_repeated_submission_with_another_email_never_shows_that_booking(client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"/events/{occurrence.event.slug}"
    page = client.get(url)
    assert "no-store" in page.headers["Cache-Control"]  # Back does not show it from cache
    key = submission_of(page)
    first = client.post(url, data=form_data(occurrence, "ana@example.org", key))
    assert "/confirmation" in first.location
    ana = first.location.split("/bookings/")[1].split("/")[0]

    again = client.post(url, data=form_data(occurrence, "ana@example.org", key))
    assert again.location == first.location  # a double click: the same booking

    # the next person at the same computer, going Back to the same page
    other = client.post(url, data=form_data(occurrence, "bob@example.org", key))
    assert other.status_code == 422
    assert ana not in other.get_data(as_text=True)
    assert "déjà été envoyé" in other.get_data(as_text=True)
    assert submission_of(other) != key  # sending it again makes Bob's booking
    bob = client.post(url, data=form_data(occurrence, "bob@example.org", submission_of(other)))
    assert "/confirmation" in bob.location and ana not in bob.location


def test_a_submission_key_from_another_browser_names_another_request(app, client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"/events/{occurrence.event.slug}"
    key = submission_of(client.get(url))
    first = client.post(url, data=form_data(occurrence, "ana@example.org", key))
    elsewhere = app.test_client()
    elsewhere.get(url)
    copied = elsewhere.post(url, data=form_data(occurrence, "ana@example.org", key))
    assert copied.location != first.location  # the existing booking's link goes by email
    assert "/confirmation" not in copied.location


# --- 9. names are one line; confirmations per address are limited ---------------------


def test_the_booking_form_refuses_a_name_on_two_lines(client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"/events/{occurrence.event.slug}"
    data = form_data(occurrence, "ana@example.org", "", name="Ana\r\nBcc: x@example.org")
    assert client.post(url, data=data).status_code == 422
    assert bookings() == 0


@pytest.mark.config(BOOKINGS_PER_ADDRESS_PER_HOUR=3)
def test_an_address_gets_a_limited_number_of_confirmations_an_hour(client, make):
    event = make.event()
    dates = [make.occurrence(event=event, capacity=10) for _ in range(5)]
    for occurrence in dates[:3]:
        assert api_book(client, occurrence, "victim@example.org").status_code == 201
    refused = api_book(client, dates[3], "victim@example.org")
    assert answer(refused)[:2] == (429, "too_many_for_address")
    page = client.post(f"/events/{event.slug}", data=form_data(dates[4], "Victim@example.org", ""))
    assert page.status_code == 422
    assert "trop de" in page.get_data(as_text=True)
    assert bookings() == 3
    # another address is not concerned, nor an organiser booking by hand
    assert api_book(client, dates[3], "other@example.org").status_code == 201
    organiser = make.user(organisation=event.organisation)
    book(dates[4], "victim@example.org", actor=organiser)
    assert bookings() == 5
