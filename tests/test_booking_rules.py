"""The booking rules, called directly (every door uses these)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain.errors import BookingClosed, OccurrenceFull, TooManySeats
from calendrier.domain.outbox import render
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage
from calendrier.timeutil import utcnow


def request(email="ana@example.org", seats=1, **kw):
    return rules.BookingRequest(name="Ana Martin", email=email, seats=seats, **kw)


def test_booking_confirms_seats_and_queues_its_email_in_the_same_transaction(make):
    occurrence = make.occurrence(capacity=10)
    result = rules.book(occurrence.id, request(seats=2))
    assert result.created
    assert result.booking.status == "confirmed"
    assert rules.seats_taken(occurrence.id) == 2
    outbox = db.session.scalars(select(OutboxMessage)).all()
    assert [(m.kind, m.recipient) for m in outbox] == [("confirmed", "ana@example.org")]
    assert "BEGIN:VEVENT" in render(outbox[0]).ics  # rendered when sent


def test_reference_is_readable_and_token_is_long(make):
    occurrence = make.occurrence()
    booking = rules.book(occurrence.id, request()).booking
    assert len(booking.reference) == 9 and booking.reference[4] == "-"
    assert not set(booking.reference.replace("-", "")) & set("01OI")
    assert len(booking.token) >= 40


def test_never_more_seats_than_capacity(make):
    occurrence = make.occurrence(capacity=3)
    rules.book(occurrence.id, request("a@example.org", seats=2))
    with pytest.raises(OccurrenceFull):
        rules.book(occurrence.id, request("b@example.org", seats=2))
    assert rules.seats_taken(occurrence.id) == 2
    assert db.session.scalar(select(db.func.count(Booking.id))) == 1
    assert db.session.scalar(select(db.func.count(OutboxMessage.id))) == 1


def test_maximum_seats_per_booking(make):
    occurrence = make.occurrence(capacity=50, max_seats_per_booking=4)
    with pytest.raises(TooManySeats) as error:
        rules.book(occurrence.id, request(seats=5))
    assert error.value.maximum == 4
    assert db.session.scalar(select(db.func.count(Booking.id))) == 0


@pytest.mark.parametrize(
    ("opens", "closes"),
    [(timedelta(days=1), None), (None, -timedelta(hours=1))],
    ids=["not yet open", "already closed"],
)
def test_only_inside_the_booking_window(make, opens, closes):
    now = utcnow()
    occurrence = make.occurrence(
        booking_opens_at=now + opens if opens else None,
        booking_closes_at=now + closes if closes else None,
    )
    with pytest.raises(BookingClosed):
        rules.book(occurrence.id, request())
    assert db.session.scalar(select(db.func.count(Booking.id))) == 0


def test_no_booking_once_the_occurrence_has_started(make):
    occurrence = make.occurrence(starts_at=utcnow() - timedelta(minutes=5))
    with pytest.raises(BookingClosed):
        rules.book(occurrence.id, request())


def test_no_booking_on_a_draft_event(make):
    occurrence = make.occurrence(event=make.event(status="draft"))
    with pytest.raises(BookingClosed):
        rules.book(occurrence.id, request())


def test_same_email_gets_its_existing_booking_back(make):
    occurrence = make.occurrence()
    first = rules.book(occurrence.id, request("Ana@Example.org", seats=2))
    again = rules.book(occurrence.id, request("ana@example.org ", seats=3))
    assert not again.created
    assert again.booking.id == first.booking.id
    assert rules.seats_taken(occurrence.id) == 2


def test_full_occurrence_with_waiting_list_takes_waitlisted_bookings(make):
    occurrence = make.occurrence(capacity=1, waitlist=True)
    rules.book(occurrence.id, request("a@example.org"))
    second = rules.book(occurrence.id, request("b@example.org"))
    assert second.booking.status == "waitlisted"
    assert rules.seats_taken(occurrence.id) == 1


def test_cancelling_frees_the_seats_for_the_waiting_list(make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    first = rules.book(occurrence.id, request("a@example.org", seats=2)).booking
    waiting = rules.book(occurrence.id, request("b@example.org", seats=2)).booking
    rules.cancel_by_attendee(first.id)
    db.session.refresh(waiting)
    assert waiting.status == "confirmed"
    kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds == ["confirmed", "waitlisted", "cancelled", "promoted"]


def test_availability_states(make):
    occurrence = make.occurrence(capacity=20)
    assert rules.availability(occurrence, 0).state == "open"
    assert rules.availability(occurrence, 17).state == "last_places"
    assert rules.availability(occurrence, 20).state == "full"
    assert rules.availability(occurrence, 20).seats_left == 0
