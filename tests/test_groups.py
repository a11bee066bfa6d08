"""Group requests: a class or an association asks for all its seats at once."""

from __future__ import annotations

from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import Booking, BookingStatus

from .test_api import API, assert_error, person
from .test_api_organisers import bearer, org  # noqa: F401 - fixture

CLASS = {"name": "CM1 de l'école Jean-Macé", "type": "school", "children": 24, "adults": 3}


def group_world(org, **options):  # noqa: F811
    occurrence = org.occurrence
    occurrence.capacity = 40
    occurrence.groups = True
    occurrence.max_group_size = 30
    occurrence.max_seats_per_booking = 4
    for name, value in options.items():
        setattr(occurrence, name, value)
    db.session.commit()
    return occurrence


def test_a_group_waits_for_approval_holding_no_seats_then_counts_as_one(client, org):  # noqa: F811
    occurrence = group_world(org)
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    body = {k: v for k, v in person().items() if k != "seats"}
    response = client.post(url, json={**body, "group": CLASS})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert (created["status"], created["seats"]) == ("pending", 27)  # above the maximum of 4
    seats_left = client.get(f"{API}/occurrences/{occurrence.id}").get_json()["seats_left"]
    assert seats_left == 40  # pending requests hold no seats

    headers = bearer(org.token)
    approved = client.post(f"{API}/bookings/{created['reference']}/approve", headers=headers)
    assert approved.status_code == 200 and approved.get_json()["status"] == "confirmed"
    assert client.get(f"{API}/occurrences/{occurrence.id}").get_json()["seats_left"] == 13
    attendees = client.get(f"{API}/occurrences/{occurrence.id}/attendees", headers=headers)
    group = attendees.get_json()[0]["group"]
    assert group == CLASS


def test_bad_groups_are_422_and_nothing_is_written(client, org):  # noqa: F811
    occurrence = group_world(org)
    url = f"{API}/occurrences/{occurrence.id}/bookings"
    before = db.session.scalar(select(func.count(Booking.id)))
    for group in (
        {**CLASS, "children": 40},  # above max_group_size
        {**CLASS, "type": "family"},
        {**CLASS, "children": 0, "adults": 0},
        {**CLASS, "name": ""},
        {**CLASS, "adults": -1},
        {**CLASS, "children": "24"},
    ):
        response = client.post(url, json=person(group=group))
        assert_error(response, 422, "unprocessable_entity")
    assert db.session.scalar(select(func.count(Booking.id))) == before

    occurrence.groups = False
    db.session.commit()
    refused = client.post(url, json=person(group=CLASS))
    assert "group" in assert_error(refused, 422, "unprocessable_entity")["errors"]


def test_approving_a_group_that_no_longer_fits_is_refused(client, org):  # noqa: F811
    occurrence = group_world(org, capacity=30)
    request = rules.BookingRequest(
        name="Mme Durand",
        email="durand@example.org",
        seats=0,
        group=rules.groups.GroupRequest(**CLASS),
    )
    pending = rules.book(occurrence.id, request).booking
    assert pending.status == BookingStatus.PENDING
    client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=person(seats=4))
    response = client.post(f"{API}/bookings/{pending.reference}/approve", headers=bearer(org.token))
    assert_error(response, 409, "full")


def test_the_form_takes_a_group_and_the_organiser_sees_it_apart(client, org):  # noqa: F811
    from .test_manage import log_in

    occurrence = group_world(org)
    slug = occurrence.event.slug
    page = client.get(f"/events/{slug}").get_data(as_text=True)
    assert 'name="group_request"' in page
    data = {
        "occurrence": occurrence.id,
        "name": "Mme Durand",
        "email": "durand@example.org",
        "seats": 1,
        "consent": "y",
        "group_request": "y",
        "group_name": "CM1 Jean-Macé",
        "group_type": "school",
        "group_children": "24",
        "group_adults": "3",
    }
    too_big = client.post(f"/events/{slug}", data={**data, "group_children": "40"})
    assert too_big.status_code == 422
    assert "30 personnes au maximum" in too_big.get_data(as_text=True)
    response = client.post(f"/events/{slug}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    booking = db.session.scalar(select(Booking))
    assert (booking.status, booking.seats, booking.group_children) == ("pending", 27, 24)

    log_in(client, org.user)
    listing = client.get(f"/manage/occurrences/{occurrence.id}").get_data(as_text=True)
    assert 'id="groups-title"' in listing and "CM1 Jean-Macé" in listing
    rules.approve(booking.id)
    door = client.get(f"/manage/occurrences/{occurrence.id}/check-in").get_data(as_text=True)
    assert 'id="groups-title"' in door and "24 enfants, 3 adultes" in door
