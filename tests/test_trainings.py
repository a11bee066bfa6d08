"""Trainings: sittings, attendance per sitting, hours attended (domain, API, organiser pages)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from calendrier.accounts import issue_api_token
from calendrier.domain import bookings as rules
from calendrier.domain import catalogue, trainings
from calendrier.domain.errors import InvalidInput, InvalidTransition
from calendrier.extensions import db
from calendrier.models import Attendance, Booking, Occurrence

from .ical_parsers import PARSERS_BY_NAME, libical_restriction_errors, utc
from .test_api import API
from .test_manage import PASSWORD

PARIS = ZoneInfo("Europe/Paris")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def next_monday(weeks: int = 2) -> datetime:
    today = datetime.now(PARIS).date()
    monday = today + timedelta(days=7 * weeks - today.weekday())
    return datetime.combine(monday, time(0, 0))


def five_days(make, **overrides) -> Occurrence:
    """A Monday-to-Friday training in half-days, through the catalogue's rules."""
    monday = next_monday()
    venue = overrides.pop("venue", None) or make.venue()
    event = overrides.pop("event", None) or make.event(kind="training")
    sittings = trainings.by_rule(
        monday.date(),
        (monday + timedelta(days=4)).date(),
        {0, 1, 2, 3, 4},
        trainings.parse_time_slots("9:00-12:30, 14:00-17:30"),
    )
    return catalogue.create_occurrence(
        event.id,
        starts_at=monday.replace(hour=9),
        ends_at=(monday + timedelta(days=4)).replace(hour=17, minute=30),
        venue=venue.slug,
        capacity=overrides.pop("capacity", 12),
        sittings=sittings,
        **overrides,
    )


def book(occurrence, email="ana@example.org", name="Ana Martin", **kw) -> Booking:
    return rules.book(
        occurrence.id, rules.BookingRequest(name=name, email=email, seats=1, **kw)
    ).booking


def move_into_the_past(occurrence: Occurrence, days: int = 28) -> None:
    """Test set-up: the whole date (and its sittings) `days` earlier, as if it were over."""
    shift = timedelta(days=days)
    occurrence = db.session.get(Occurrence, occurrence.id)
    occurrence.starts_at -= shift
    occurrence.ends_at -= shift
    for sitting in occurrence.sittings:
        sitting.starts_at -= shift
        sitting.ends_at -= shift
    db.session.commit()
    db.session.expire_all()


# --- sittings -----------------------------------------------------------------------


def test_a_rule_makes_ten_half_days_in_order_in_paris_time(make):
    occurrence = five_days(make)
    assert len(occurrence.sittings) == 10
    assert [s.position for s in occurrence.sittings] == list(range(10))
    first = occurrence.sittings[0].starts_at.astimezone(PARIS)
    assert (first.weekday(), first.hour, first.minute) == (0, 9, 0)
    last = occurrence.sittings[-1].ends_at.astimezone(PARIS)
    assert (last.weekday(), last.hour, last.minute) == (4, 17, 30)
    assert trainings.hours_planned(occurrence) == 35


@pytest.mark.clock
def test_sittings_one_by_one_from_lines():
    given = trainings.parse_lines("2030-03-04 9:00-12:30, 14h00-17h30\n2030-03-05 09:00-12:00")
    assert [(s["starts_at"].hour, s["ends_at"].hour) for s in given] == [(9, 12), (14, 17), (9, 12)]
    with pytest.raises(ValueError, match="lundi"):
        trainings.parse_lines("lundi 9:00-12:00")


@pytest.mark.parametrize(
    "sittings",
    [
        [{"starts_at": "x", "ends_at": "y"}],
        "not a list",
    ],
)
def test_unreadable_sittings_are_a_field_error_and_nothing_is_written(make, sittings):
    event = make.event(kind="training")
    venue = make.venue()
    monday = next_monday()
    with pytest.raises(InvalidInput) as error:
        catalogue.create_occurrence(
            event.id,
            starts_at=monday.replace(hour=9),
            ends_at=monday.replace(hour=18),
            venue=venue.slug,
            capacity=5,
            sittings=sittings,
        )
    assert "sittings" in error.value.errors
    assert db.session.scalar(select(Occurrence).where(Occurrence.event_id == event.id)) is None


def test_overlapping_or_outside_sittings_are_refused(make):
    event, venue, monday = make.event(kind="training"), make.venue(), next_monday()

    def create(*slots):
        return catalogue.create_occurrence(
            event.id,
            starts_at=monday.replace(hour=9),
            ends_at=monday.replace(hour=18),
            venue=venue.slug,
            capacity=5,
            sittings=[
                {"starts_at": monday.replace(hour=a), "ends_at": monday.replace(hour=b)}
                for a, b in slots
            ],
        )

    with pytest.raises(InvalidInput, match="chevauchent"):
        create((9, 12), (11, 13))
    with pytest.raises(InvalidInput, match="entre le début"):
        create((8, 12))
    with pytest.raises(InvalidInput, match="finir après"):
        create((12, 9))
    assert len(create((9, 12), (14, 17)).sittings) == 2


# --- attendance -----------------------------------------------------------------------


def test_attendance_per_sitting_gives_the_hours_attended_and_can_be_undone(make):
    occurrence = five_days(make)
    booking = book(occurrence)
    for position in (0, 1, 2):
        trainings.mark(booking.id, position)
    trainings.mark(booking.id, 2)  # twice: still once
    assert trainings.present_at(booking) == {0, 1, 2}
    assert trainings.hours_attended(booking) == 10.5
    assert booking.checked_in_at is not None
    trainings.mark(booking.id, 2, present=False)
    assert trainings.present_at(booking) == {0, 1}
    for position in (0, 1):
        trainings.mark(booking.id, position, present=False)
    db.session.refresh(booking)
    assert booking.checked_in_at is None  # present nowhere: not checked in
    assert db.session.scalar(select(Attendance)) is None


def test_a_date_without_sittings_is_one_sitting_its_check_in(make):
    occurrence = make.occurrence()
    booking = book(occurrence)
    assert len(trainings.slots(occurrence)) == 1
    trainings.mark(booking.id, 0)
    db.session.refresh(booking)
    assert booking.checked_in_at is not None
    assert trainings.hours_attended(booking) == 1.5
    with pytest.raises(InvalidInput):
        trainings.mark(booking.id, 1)


def test_only_confirmed_bookings_are_marked(make):
    occurrence = five_days(make, capacity=1, waitlist=True)
    book(occurrence)
    waiting = book(occurrence, email="waiting@example.org")
    with pytest.raises(InvalidTransition):
        trainings.mark(waiting.id, 0)


def test_sittings_with_attendance_keep_their_times_later_ones_may_change(make):
    occurrence = five_days(make)
    trainings.mark(book(occurrence).id, 0)
    kept = [{"starts_at": s.starts_at, "ends_at": s.ends_at} for s in occurrence.sittings]
    with pytest.raises(InvalidInput, match="présence est relevée"):
        catalogue.update_occurrence(occurrence.id, sittings=kept[1:])
    changed = catalogue.update_occurrence(occurrence.id, sittings=kept[:-1])
    assert len(changed.sittings) == 9


def test_the_sitting_under_way_is_the_default(make):
    occurrence = five_days(make)
    second = occurrence.sittings[1]
    assert trainings.current_position(occurrence, second.starts_at + timedelta(minutes=5)) == 1
    # between two sittings: the next one
    assert trainings.current_position(occurrence, second.starts_at - timedelta(minutes=30)) == 1
    assert trainings.current_position(occurrence, second.starts_at + timedelta(days=30)) == 9


# --- API ------------------------------------------------------------------------------


@pytest.fixture
def organiser(make):
    occurrence = five_days(make)
    user = make.user(organisation=occurrence.event.organisation)
    token = issue_api_token(user)
    stranger = issue_api_token(make.user())
    db.session.commit()
    return occurrence, token, stranger


def test_api_lists_sittings_and_creates_them_with_the_date(client, make, organiser):
    occurrence, token, _ = organiser
    shown = client.get(f"{API}/occurrences/{occurrence.id}").get_json()
    assert len(shown["sittings"]) == 10
    assert shown["sittings"][0]["position"] == 0
    assert shown["sittings"][0]["starts_at"].endswith(("+01:00", "+02:00"))

    monday = next_monday(3).replace(tzinfo=PARIS)
    body = {
        "starts_at": monday.replace(hour=9).isoformat(),
        "ends_at": monday.replace(hour=17).isoformat(),
        "venue": occurrence.venue.slug,
        "capacity": 8,
        "sittings": [
            {
                "starts_at": monday.replace(hour=9).isoformat(),
                "ends_at": monday.replace(hour=12).isoformat(),
            },
            {
                "starts_at": monday.replace(hour=14).isoformat(),
                "ends_at": monday.replace(hour=17).isoformat(),
            },
        ],
    }
    slug = occurrence.event.slug
    created = client.post(f"{API}/events/{slug}/occurrences", json=body, headers=bearer(token))
    assert created.status_code == 201, created.get_json()
    assert [s["position"] for s in created.get_json()["sittings"]] == [0, 1]
    new_id = created.get_json()["id"]

    patched = client.patch(
        f"{API}/occurrences/{new_id}",
        json={"sittings": body["sittings"][:1]},
        headers=bearer(token),
    )
    assert patched.status_code == 200 and len(patched.get_json()["sittings"]) == 1
    bad = client.patch(
        f"{API}/occurrences/{new_id}",
        json={"sittings": [{"starts_at": body["starts_at"]}]},
        headers=bearer(token),
    )
    assert bad.status_code == 422
    assert any(key.startswith("sittings") for key in bad.get_json()["errors"])
    naive = {  # times without their offset
        "starts_at": monday.replace(hour=9, tzinfo=None).isoformat(),
        "ends_at": monday.replace(hour=12, tzinfo=None).isoformat(),
    }
    bad = client.patch(
        f"{API}/occurrences/{new_id}", json={"sittings": [naive]}, headers=bearer(token)
    )
    assert bad.status_code == 422

    plain = client.get(f"{API}/occurrences/{make.occurrence().id}").get_json()
    assert len(plain["sittings"]) == 1  # one sitting: the date itself
    assert plain["sittings"][0]["starts_at"] == plain["starts_at"]


def test_api_attendance_per_sitting(client, organiser):
    occurrence, token, stranger = organiser
    booking = book(occurrence)
    url = f"{API}/bookings/{booking.reference}/attendance"
    answer = client.post(url, json={"sitting": 3, "present": True}, headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["sittings_present"] == [3] and body["hours_attended"] == 3.5
    assert body["hours_planned"] == 35 and body["checked_in_at"] is not None
    client.post(url, json={"sitting": 4}, headers=bearer(token))
    undone = client.post(url, json={"sitting": 3, "present": False}, headers=bearer(token))
    assert undone.get_json()["sittings_present"] == [4]

    assert client.post(url, json={"sitting": 10}, headers=bearer(token)).status_code == 422
    assert client.post(url, json={"sitting": "1"}, headers=bearer(token)).status_code == 422
    assert client.post(url, json={}, headers=bearer(token)).status_code == 422
    # another organisation's reference is not found, as a missing one (issue 17)
    assert client.post(url, json={"sitting": 0}, headers=bearer(stranger)).status_code == 404
    assert client.post(url, json={"sitting": 0}).status_code == 401


def test_api_check_in_of_a_date_in_sittings_marks_the_sitting_under_way(client, organiser):
    occurrence, token, _ = organiser
    booking = book(occurrence)
    answer = client.post(f"{API}/bookings/{booking.reference}/check-in", headers=bearer(token))
    assert answer.status_code == 200
    assert trainings.present_at(booking) == {0}  # before the training: its first sitting


# --- organiser pages ---------------------------------------------------------------------


def log_in(client, make, organisation):
    user = make.user(password=PASSWORD, organisation=organisation)
    response = client.post("/manage/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return user


def test_check_in_page_asks_which_sitting_and_marks_it(client, make):
    occurrence = five_days(make)
    booking = book(occurrence)
    log_in(client, make, occurrence.event.organisation)
    page = client.get(f"/manage/occurrences/{occurrence.id}/check-in?sitting=2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="sitting"' in html and "Ana Martin" in html
    marked = client.post(
        f"/manage/bookings/{booking.reference}/check-in",
        data={"sitting": "2"},
    )
    assert marked.status_code == 302
    assert trainings.present_at(booking) == {2}
    client.post(
        f"/manage/bookings/{booking.reference}/check-in", data={"sitting": "2", "undo": "1"}
    )
    assert trainings.present_at(booking) == set()
    bad = client.post(f"/manage/bookings/{booking.reference}/check-in", data={"sitting": "99"})
    assert bad.status_code == 302 and trainings.present_at(booking) == set()


def test_sign_in_sheet_is_one_page_per_sitting_with_a_signature_column(client, make):
    occurrence = five_days(make)
    book(occurrence)
    log_in(client, make, occurrence.event.organisation)
    html = client.get(f"/manage/occurrences/{occurrence.id}/sign-in-sheet").get_data(as_text=True)
    assert html.count('class="sheet"') == 10
    assert html.count("Ana Martin") == 10
    assert "Signature" in html


def test_occurrence_form_takes_sittings_by_rule(client, make):
    event = make.event(kind="training")
    venue = make.venue()
    log_in(client, make, event.organisation)
    monday = next_monday(3)
    friday = monday + timedelta(days=4)
    answer = client.post(
        f"/manage/events/{event.id}/occurrences/new",
        data={
            "starts_at": monday.replace(hour=9).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": friday.replace(hour=17, minute=30).strftime("%Y-%m-%dT%H:%M"),
            "venue": venue.slug,
            "capacity": "12",
            "max_seats_per_booking": "1",
            "cancellation_deadline_hours": "0",
            "sitting_days": ["0", "1", "2", "3", "4"],
            "sitting_times": "9:00-12:30, 14:00-17:30",
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    occurrence = db.session.scalar(select(Occurrence).where(Occurrence.event_id == event.id))
    assert len(occurrence.sittings) == 10


# --- feeds ------------------------------------------------------------------------------


@pytest.mark.parametrize("parser", ["ical.js", "libical", "icalendar"])
def test_feeds_keep_the_date_one_vevent_listing_its_sittings(client, make, parser):
    """One VEVENT per date (one UID per booking, its SEQUENCE and CANCEL stay whole), from
    the first sitting's start to the last one's end, its sittings in the description."""
    occurrence = five_days(make)
    body = client.get(f"/events/{occurrence.event.slug}.ics").data
    [seen] = PARSERS_BY_NAME[parser](body)["events"]
    assert seen["uid"] == occurrence.uid
    assert seen["start"]["utc"] == utc(occurrence.sittings[0].starts_at)
    assert seen["end"]["utc"] == utc(occurrence.sittings[-1].ends_at)
    assert "En 10 séances" in seen["description"]
    assert seen["description"].count("\n- ") == 10
    assert "12 h 30" in seen["description"]


def test_feeds_and_booking_files_of_a_date_in_sittings_pass_libicals_restrictions(client, make):
    occurrence = five_days(make)
    booking = book(occurrence)
    for path in (
        f"/events/{occurrence.event.slug}.ics",
        "/calendar.ics",
        f"/bookings/{booking.token}.ics",
    ):
        body = client.get(path).data
        assert b"En 10 s" in body.replace(b"\r\n ", b"")
        assert libical_restriction_errors(body) == [], path


def test_the_event_page_lists_the_sittings_of_each_date(client, make):
    occurrence = five_days(make)
    html = client.get(f"/events/{occurrence.event.slug}").get_data(as_text=True)
    assert "10 séances" in html
    assert html.count("<li><time") >= 10
    assert "12 h 30" in html and "17 h 30" in html
    english = client.get(f"/events/{occurrence.event.slug}?lang=en").get_data(as_text=True)
    assert "10 sittings" in english
