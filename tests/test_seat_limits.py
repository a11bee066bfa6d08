"""More places than a date allows per booking is bad input, at every door.

The API answers 422 with a field error on ``seats`` (409 stays for the state of the date:
``full``, ``closed``); the booking form shows the error on its ``seats`` field. Nothing is
written either way.
"""

from __future__ import annotations

import re

from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage

from .test_api import API, person


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count(model.id)))


def test_the_api_answers_422_on_seats_and_409_only_for_the_date(client, make):
    occurrence = make.occurrence(capacity=3, max_seats_per_booking=2)
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    response = client.post(url, json=person(seats=3))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "unprocessable_entity"
    assert body["errors"] == {"seats": ["2 places au maximum par réservation."]}
    assert (count(Booking), count(OutboxMessage)) == (0, 0)
    assert client.post(url, json=person(email="a@example.org", seats=2)).status_code == 201
    full = client.post(url, json=person(email="b@example.org", seats=2))
    assert (full.status_code, full.get_json()["error"]) == (409, "full")


def test_the_booking_form_shows_the_error_on_seats(client, make):
    occurrence = make.occurrence(max_seats_per_booking=2)
    response = client.post(
        f"/events/{occurrence.event.slug}?lang=en",
        data={
            "occurrence": occurrence.id,
            "name": "Ana",
            "email": "ana@example.org",
            "seats": 3,
            "consent": "y",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    [seats] = re.findall(r'<input[^>]*name="seats"[^>]*>', html)
    assert 'aria-invalid="true"' in seats and "seats-error" in seats
    assert re.search(r'id="seats-error">At most 2 places per booking\.<', html)
    assert (count(Booking), count(OutboxMessage)) == (0, 0)
