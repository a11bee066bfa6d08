"""The JSON API's organiser side: Bearer tokens, scoped to the token's organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calendrier.accounts import issue_api_token
from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    Event,
    Occurrence,
    OutboxMessage,
    Venue,
)
from calendrier.timeutil import utcnow

from .test_api import API, assert_error, person

PARIS = ZoneInfo("Europe/Paris")


def paris_iso(days_ahead: int, hour: int, minute: int = 0, *, offset: bool = True) -> str:
    """A Paris wall-clock time ``days_ahead`` days from now, as the API writes it."""
    day = (utcnow().astimezone(PARIS) + timedelta(days=days_ahead)).date()
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)
    return moment.isoformat() if offset else moment.replace(tzinfo=None).isoformat()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def org(make):
    """An organisation with an occurrence, a token of its organiser, and a stranger's token."""

    class World:
        pass

    world = World()
    world.occurrence = make.occurrence(capacity=4, waitlist=True)
    organisation = world.occurrence.event.organisation
    world.user = make.user(organisation=organisation)
    world.token = issue_api_token(world.user)
    world.stranger_token = issue_api_token(make.user())
    world.admin_token = issue_api_token(make.user(is_admin=True, organisation=None))
    db.session.commit()
    return world


def book(occurrence: Occurrence, **overrides) -> Booking:
    return rules.book(
        occurrence.id, rules.BookingRequest(**{**person(), **overrides}, source="api")
    ).booking


def organiser_requests(world) -> list[tuple[str, str, dict | None]]:
    """Every organiser endpoint, aimed at the world's data."""
    booking = book(world.occurrence, email="door@example.org", seats=1)
    o, ref = world.occurrence.id, booking.reference
    slug = world.occurrence.event.slug
    return [
        ("POST", f"{API}/events/{slug}/occurrences", new_occurrence(world)),
        ("PATCH", f"{API}/occurrences/{o}", {"capacity": 6}),
        ("GET", f"{API}/occurrences/{o}/attendees", None),
        ("POST", f"{API}/bookings/{ref}/check-in", {}),
        ("POST", f"{API}/bookings/{ref}/approve", None),
        ("POST", f"{API}/bookings/{ref}/reject", None),
    ]


def new_occurrence(world, **overrides) -> dict:
    starts = utcnow().replace(microsecond=0) + timedelta(days=10)
    body = {
        "starts_at": starts.astimezone(PARIS).isoformat(),
        "ends_at": (starts + timedelta(hours=2)).astimezone(PARIS).isoformat(),
        "venue": world.occurrence.venue.slug,
        "capacity": 30,
    }
    body.update(overrides)
    return body


VENUE = {"name": "Cinéma Le Navire", "address": "9 boulevard d'Alsace", "city": "Valence"}
EVENT = {"title": "Ciné-goûter", "kind": "screening", "description": "Courts métrages."}


def test_every_organiser_endpoint_needs_a_valid_token(client, org):
    creations = [("POST", f"{API}/venues", VENUE), ("POST", f"{API}/events", EVENT)]
    for method, url, body in organiser_requests(org) + creations:
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Basic {org.token}"},
            {"Authorization": "Bearer " + "x" * 5000},
        ):
            response = client.open(url, method=method, json=body, headers=headers)
            assert_error(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Set-Cookie" not in response.headers


def test_a_revoked_token_or_inactive_user_is_refused(client, org):
    from calendrier.models import ApiToken
    from calendrier.timeutil import utcnow

    url = f"{API}/occurrences/{org.occurrence.id}/attendees"
    assert client.get(url, headers=bearer(org.token)).status_code == 200
    org.user.active = False
    db.session.commit()
    assert_error(client.get(url, headers=bearer(org.token)), 401, "unauthorized")
    org.user.active = True
    for row in db.session.scalars(db.select(ApiToken)):
        row.revoked_at = utcnow()
    db.session.commit()
    assert_error(client.get(url, headers=bearer(org.token)), 401, "unauthorized")


def test_another_organisations_token_gets_403_and_changes_nothing(client, org):
    for method, url, body in organiser_requests(org):
        response = client.open(url, method=method, json=body, headers=bearer(org.stranger_token))
        assert_error(response, 403, "forbidden")
    db.session.expire_all()
    assert org.occurrence.capacity == 4
    assert db.session.scalar(db.select(Booking.checked_in_at)) is None


def test_unknown_ids_are_404_even_with_a_token(client, org):
    for method, url, body in (
        ("PATCH", f"{API}/occurrences/999999", {"capacity": 6}),
        ("GET", f"{API}/occurrences/999999/attendees", None),
        ("POST", f"{API}/bookings/ZZZZ-ZZZZ/check-in", {}),
        ("POST", f"{API}/bookings/ZZZZ-ZZZZ/approve", None),
        ("POST", f"{API}/bookings/not-a-reference/reject", None),
    ):
        response = client.open(url, method=method, json=body, headers=bearer(org.token))
        assert_error(response, 404, "not_found")


def test_attendee_list_of_ones_own_occurrence(client, org):
    book(org.occurrence, email="ana@example.org", seats=3)
    book(org.occurrence, email="bo@example.org", seats=2)  # waitlisted
    response = client.get(
        f"{API}/occurrences/{org.occurrence.id}/attendees", headers=bearer(org.token)
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Access-Control-Allow-Origin" not in response.headers
    rows = {row["email"]: row for row in response.get_json()}
    assert rows["ana@example.org"]["status"] == "confirmed"
    assert rows["ana@example.org"]["seats"] == 3
    assert rows["bo@example.org"]["status"] == "waitlisted"
    assert rows["ana@example.org"]["checked_in_at"] is None


def test_an_admin_token_reaches_every_organisation(client, org):
    book(org.occurrence, email="ana@example.org", seats=2)
    response = client.get(
        f"{API}/occurrences/{org.occurrence.id}/attendees", headers=bearer(org.admin_token)
    )
    assert response.status_code == 200
    [row] = response.get_json()  # the admin sees the attendees, not an empty list
    assert (row["email"], row["seats"], row["status"]) == ("ana@example.org", 2, "confirmed")
    stranger = client.get(
        f"{API}/occurrences/{org.occurrence.id}/attendees", headers=bearer(org.stranger_token)
    )
    assert stranger.status_code == 403


def test_check_in_and_undo_through_the_booking_rules(client, org):
    booking = book(org.occurrence, seats=2)
    url = f"{API}/bookings/{booking.reference}/check-in"
    first = client.post(url, headers=bearer(org.token))
    assert first.status_code == 200
    arrived = first.get_json()["checked_in_at"]
    assert arrived is not None
    again = client.post(url, json={}, headers=bearer(org.token)).get_json()
    assert again["checked_in_at"] == arrived  # the first arrival time stays
    lower = client.post(
        f"{API}/bookings/{booking.reference.lower()}/check-in",
        json={"undo": True},
        headers=bearer(org.token),
    )
    assert lower.get_json()["checked_in_at"] is None
    actions = db.session.scalars(db.select(AuditEntry.action)).all()
    assert "booking.checked_in" in actions and "booking.check_in_undone" in actions
    assert (
        db.session.scalar(
            db.select(AuditEntry.user_id).where(AuditEntry.action == "booking.checked_in")
        )
        == org.user.id
    )
    bad = client.post(url, json={"undo": "yes"}, headers=bearer(org.token))
    assert "undo" in assert_error(bad, 422, "unprocessable_entity")["errors"]


def test_checking_in_a_booking_that_is_not_confirmed_is_409(client, org):
    full = book(org.occurrence, seats=4)
    waiting = book(org.occurrence, email="bo@example.org", seats=1)
    assert full.status == BookingStatus.CONFIRMED
    assert waiting.status == BookingStatus.WAITLISTED
    response = client.post(
        f"{API}/bookings/{waiting.reference}/check-in", headers=bearer(org.token)
    )
    assert_error(response, 409, "invalid_state")


def test_approve_and_reject_pending_requests(client, org, make):
    training = make.occurrence(event=org.occurrence.event, capacity=3, requires_approval=True)
    first = book(training, email="ana@example.org", seats=2)
    second = book(training, email="bo@example.org", seats=2)
    assert first.status == second.status == BookingStatus.PENDING

    approved = client.post(f"{API}/bookings/{first.reference}/approve", headers=bearer(org.token))
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "confirmed"
    no_room = client.post(f"{API}/bookings/{second.reference}/approve", headers=bearer(org.token))
    assert_error(no_room, 409, "full")
    rejected = client.post(f"{API}/bookings/{second.reference}/reject", headers=bearer(org.token))
    assert rejected.get_json()["status"] == "rejected"
    twice = client.post(f"{API}/bookings/{second.reference}/reject", headers=bearer(org.token))
    assert_error(twice, 409, "invalid_state")
    kinds = db.session.scalars(db.select(OutboxMessage.kind)).all()
    assert "approved" in kinds and "rejected" in kinds


def test_patch_capacity_promotes_the_waiting_list(client, org):
    book(org.occurrence, seats=4)
    waiting = book(org.occurrence, email="bo@example.org", seats=2)
    response = client.patch(
        f"{API}/occurrences/{org.occurrence.id}", json={"capacity": 6}, headers=bearer(org.token)
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["capacity"] == 6
    assert body["seats_left"] == 0
    db.session.expire_all()
    assert db.session.get(Booking, waiting.id).status == BookingStatus.CONFIRMED


def test_patch_capacity_below_confirmed_seats_is_a_field_error(client, org):
    book(org.occurrence, seats=3)
    response = client.patch(
        f"{API}/occurrences/{org.occurrence.id}", json={"capacity": 2}, headers=bearer(org.token)
    )
    assert "capacity" in assert_error(response, 422, "unprocessable_entity")["errors"]


def test_patch_status_cancelled_cancels_the_date_and_tells_attendees(client, org):
    booking = book(org.occurrence, seats=2)
    url = f"{API}/occurrences/{org.occurrence.id}"
    response = client.patch(
        url,
        json={"status": "cancelled", "cancel_reason": "Panne du projecteur"},
        headers=bearer(org.token),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "Panne du projecteur"
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.CANCELLED
    assert "occurrence_cancelled" in db.session.scalars(db.select(OutboxMessage.kind)).all()
    again = client.patch(url, json={"status": "cancelled"}, headers=bearer(org.token))
    assert again.status_code == 200  # already so: nothing more happens
    restore = client.patch(url, json={"status": "scheduled"}, headers=bearer(org.token))
    assert "status" in assert_error(restore, 422, "unprocessable_entity")["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"capacity": -1},
        {"capacity": "10"},
        {"capacity": 10**12},
        {"status": "postponed"},
        {"starts_at": "2026-12-01T20:00:00"},
        {"ends_at": "2020-01-01T10:00:00+01:00"},
        {"venue": "nowhere"},
        {"status": "cancelled", "cancel_reason": "\x00"},
        {"colour": "blue"},
    ],
)
def test_patch_refuses_bad_fields(client, org, body):
    response = client.patch(
        f"{API}/occurrences/{org.occurrence.id}", json=body, headers=bearer(org.token)
    )
    assert_error(response, 422, "unprocessable_entity")
    db.session.expire_all()
    assert org.occurrence.capacity == 4


def test_patch_needs_a_json_body(client, org):
    url = f"{API}/occurrences/{org.occurrence.id}"
    assert_error(client.patch(url, headers=bearer(org.token)), 422, "unprocessable_entity")
    as_form = client.patch(url, data={"capacity": "6"}, headers=bearer(org.token))
    assert_error(as_form, 422, "unprocessable_entity")


# --- building the programme ---------------------------------------------------------


def test_create_a_venue_an_event_and_its_date_then_the_public_sees_it(client, org):
    venue = client.post(f"{API}/venues", json=VENUE, headers=bearer(org.token))
    assert venue.status_code == 201
    venue_slug = venue.get_json()["slug"]
    assert venue_slug == "cinema-le-navire"
    assert venue.get_json()["organisation"] == org.occurrence.event.organisation.slug

    event = client.post(f"{API}/events", json=EVENT, headers=bearer(org.token))
    assert event.status_code == 201
    body = event.get_json()
    assert body["slug"] == "cine-gouter"
    assert body["status"] == "published"
    assert body["organisation"] == org.occurrence.event.organisation.slug

    starts = paris_iso(100, 15)
    created = client.post(
        f"{API}/events/cine-gouter/occurrences",
        json={
            "starts_at": starts,
            "ends_at": paris_iso(100, 16, 30),
            "venue": venue_slug,
            "capacity": 80,
            "waitlist": True,
        },
        headers=bearer(org.token),
    )
    assert created.status_code == 201, created.get_json()
    occurrence = created.get_json()
    assert occurrence["starts_at"] == starts
    assert occurrence["venue"] == venue_slug
    assert occurrence["max_seats_per_booking"] == 6
    assert occurrence["requires_approval"] is False

    public = client.get(f"{API}/events/cine-gouter").get_json()
    assert [o["id"] for o in public["occurrences"]] == [occurrence["id"]]
    actions = set(db.session.scalars(db.select(AuditEntry.action)))
    assert {"venue.created", "event.created", "occurrence.created"} <= actions
    assert {e.user_id for e in db.session.scalars(db.select(AuditEntry))} == {org.user.id}


def test_a_draft_event_stays_hidden_and_can_be_a_festivals_programme(client, org):
    festival = client.post(
        f"{API}/events",
        json={"title": "Festival du court", "kind": "festival", "status": "draft"},
        headers=bearer(org.token),
    ).get_json()
    assert festival["status"] == "draft"
    assert_error(client.get(f"{API}/events/{festival['slug']}"), 404, "not_found")
    child = client.post(
        f"{API}/events",
        json={**EVENT, "parent": festival["slug"], "slug": "ouverture"},
        headers=bearer(org.token),
    )
    assert child.status_code == 201
    assert child.get_json()["parent"] == festival["slug"]
    assert child.get_json()["slug"] == "ouverture"
    # dates may be added to a draft
    added = client.post(
        f"{API}/events/{festival['slug']}/occurrences",
        json=new_occurrence(org),
        headers=bearer(org.token),
    )
    assert added.status_code == 201


def test_creating_for_another_organisation_is_403(client, org, make):
    other = make.organisation()
    response = client.post(
        f"{API}/events", json={**EVENT, "organisation": other.slug}, headers=bearer(org.token)
    )
    assert_error(response, 403, "forbidden")
    as_admin = client.post(
        f"{API}/events", json={**EVENT, "organisation": other.slug}, headers=bearer(org.admin_token)
    )
    assert as_admin.status_code == 201
    assert as_admin.get_json()["organisation"] == other.slug
    someone_elses = make.event(organisation=other)
    response = client.post(
        f"{API}/events/{someone_elses.slug}/occurrences",
        json=new_occurrence(org),
        headers=bearer(org.token),
    )
    assert_error(response, 403, "forbidden")
    assert (
        db.session.scalar(
            db.select(db.func.count(Occurrence.id)).where(Occurrence.event_id == someone_elses.id)
        )
        == 0
    )
    assert (
        db.session.scalar(
            db.select(db.func.count(Event.id)).where(Event.organisation_id == other.id)
        )
        == 2
    )


def test_unknown_things_when_creating(client, org):
    missing = client.post(
        f"{API}/events/no-such-event/occurrences",
        json=new_occurrence(org),
        headers=bearer(org.token),
    )
    assert_error(missing, 404, "not_found")
    nowhere = client.post(
        f"{API}/events", json={**EVENT, "organisation": "nobody"}, headers=bearer(org.admin_token)
    )
    assert "organisation" in assert_error(nowhere, 422, "unprocessable_entity")["errors"]
    homeless = client.post(f"{API}/events", json=EVENT, headers=bearer(org.admin_token))
    assert "organisation" in assert_error(homeless, 422, "unprocessable_entity")["errors"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": paris_iso(100, 15, offset=False)}, "starts_at"),  # no offset
        ({"starts_at": "14/03/2027 15h"}, "starts_at"),
        ({"ends_at": "2020-01-01T00:00:00+00:00"}, "ends_at"),
        ({"venue": "nowhere"}, "venue"),
        ({"venue": None}, "venue"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": 10**30}, "capacity"),
        ({"capacity": "30"}, "capacity"),
        ({"waitlist": "yes"}, "waitlist"),
        ({"max_seats_per_booking": 0}, "max_seats_per_booking"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_occurrence_fields_are_422_and_write_nothing(client, org, change, field):
    before = db.session.scalar(db.select(db.func.count(Occurrence.id)))
    response = client.post(
        f"{API}/events/{org.occurrence.event.slug}/occurrences",
        json=new_occurrence(org, **change),
        headers=bearer(org.token),
    )
    assert field in assert_error(response, 422, "unprocessable_entity")["errors"]
    assert db.session.scalar(db.select(db.func.count(Occurrence.id))) == before


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/venues", {**VENUE, "name": ""}, "name"),
        ("/venues", {"name": "Salle"}, "address"),
        ("/venues", {**VENUE, "latitude": 91}, "latitude"),
        ("/venues", {**VENUE, "latitude": "44.9"}, "latitude"),
        ("/venues", {**VENUE, "timezone": "Mars/Olympus"}, "timezone"),
        ("/venues", {**VENUE, "slug": "Not A Slug"}, "slug"),
        ("/events", {**EVENT, "kind": "concert"}, "kind"),
        ("/events", {**EVENT, "title": "x" * 201}, "title"),
        ("/events", {**EVENT, "description": "a\x00b"}, "description"),
        ("/events", {**EVENT, "parent": "no-such-festival"}, "parent"),
        ("/events", {**EVENT, "status": "secret"}, "status"),
    ],
)
def test_bad_venue_and_event_fields_are_422(client, org, url, body, field):
    response = client.post(f"{API}{url}", json=body, headers=bearer(org.token))
    assert field in assert_error(response, 422, "unprocessable_entity")["errors"]
    assert db.session.scalar(db.select(db.func.count(Venue.id))) == 1


def test_slug_already_taken_is_a_field_error(client, org):
    taken = org.occurrence.event.slug
    response = client.post(
        f"{API}/events", json={**EVENT, "slug": taken}, headers=bearer(org.token)
    )
    assert "slug" in assert_error(response, 422, "unprocessable_entity")["errors"]


def test_moving_a_date_tells_its_attendees(client, org):
    book(org.occurrence, seats=1)
    moved = (org.occurrence.starts_at + timedelta(hours=1)).astimezone(PARIS)
    response = client.patch(
        f"{API}/occurrences/{org.occurrence.id}",
        json={
            "starts_at": moved.isoformat(),
            "ends_at": (moved + timedelta(hours=2)).isoformat(),
        },
        headers=bearer(org.token),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["starts_at"] == moved.isoformat()
    assert "occurrence_changed" in db.session.scalars(db.select(OutboxMessage.kind)).all()


def test_public_venue_list(client, org):
    response = client.get(f"{API}/venues")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert [v["slug"] for v in response.get_json()] == [org.occurrence.venue.slug]
