"""The public booking path's rules, pinned where a mutation of domain/bookings.py went unseen.

Each test names what a person would notice if the rule broke: the state a date shows, the
places left, a booking's status, the emails queued, the audit log.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain import listing
from calendrier.extensions import db
from calendrier.models import EventStatus, OutboxMessage
from calendrier.timeutil import clock_set_to, utcnow


def book(occurrence, email, seats=1, **fields):
    request = rules.BookingRequest(name="Ana Martin", email=email, seats=seats, **fields)
    return rules.book(occurrence.id, request).booking


def emails_to(address: str) -> list[str]:
    return list(
        db.session.scalars(
            select(OutboxMessage.kind)
            .where(OutboxMessage.recipient == address)
            .order_by(OutboxMessage.id)
        )
    )


def shown(occurrence, taken=0, now=None, held=0) -> tuple:
    seen = rules.availability(occurrence, taken, now or utcnow(), held)
    return seen.state, seen.seats_left, seen.booking_open


# --- what a date shows ------------------------------------------------------------


def test_the_last_seats_are_announced_from_a_fifth_of_the_date_and_at_most_five(make):
    ten = make.occurrence(capacity=10)
    assert shown(ten, taken=7) == ("open", 3, True)
    assert shown(ten, taken=8) == ("last_places", 2, True)  # a fifth of ten
    assert shown(ten, taken=9) == ("last_places", 1, True)
    big = make.occurrence(capacity=50)
    assert shown(big, taken=44) == ("open", 6, True)
    assert shown(big, taken=45) == ("last_places", 5, True)
    small = make.occurrence(capacity=4)  # a fifth is under one seat: only the last one
    assert shown(small, taken=2) == ("open", 2, True)
    assert shown(small, taken=3) == ("last_places", 1, True)


def test_a_full_date_without_a_waiting_list_takes_no_request(make):
    occurrence = make.occurrence(capacity=3)
    seen = rules.availability(occurrence, 3, utcnow())
    assert (seen.state, seen.seats_left, seen.can_request) == ("full", 0, False)
    assert seen.booking_open is False
    queued = make.occurrence(capacity=3, waitlist=True)
    assert shown(queued, taken=3) == ("waitlist", 0, True)


def test_an_ordinary_date_shows_no_held_place_and_takes_bookings(make):
    occurrence = make.occurrence(capacity=10)
    seen = rules.availability(occurrence, 0)
    assert (seen.state, seen.seats_left, seen.booking_open) == ("open", 10, True)
    assert seen.wheelchair_left == 0
    assert rules.availability(occurrence, 10).state == "full"


def test_held_places_beyond_the_seats_left_are_not_shown(make):
    occurrence = make.occurrence(capacity=3, wheelchair_spaces=1)
    # every seat taken (an organiser squeezed a party in): nothing is left to hold
    seen = rules.availability(occurrence, 3, utcnow(), held=1)
    assert (seen.state, seen.booking_open, seen.wheelchair_left) == ("full", False, 0)
    seen = rules.availability(occurrence, 2, utcnow(), held=1)
    assert (seen.state, seen.booking_open, seen.wheelchair_left) == ("last_places", True, 1)


def test_a_date_is_past_from_the_minute_it_ends(make):
    occurrence = make.occurrence(capacity=10)
    assert shown(occurrence, now=occurrence.ends_at) == ("past", 10, False)
    assert shown(occurrence, now=occurrence.ends_at - timedelta(minutes=1))[0] == "closed"


def test_booking_opens_at_the_minute_announced_and_closes_at_the_one_set(make):
    starts = utcnow().replace(microsecond=0) + timedelta(days=7)
    occurrence = make.occurrence(
        capacity=10,
        starts_at=starts,
        booking_opens_at=starts - timedelta(days=3),
        booking_closes_at=starts - timedelta(days=1),
    )
    opens, closes = occurrence.booking_opens_at, occurrence.booking_closes_at
    assert shown(occurrence, now=opens - timedelta(minutes=1)) == ("not_yet_open", 10, False)
    assert shown(occurrence, now=opens) == ("open", 10, True)
    assert shown(occurrence, now=closes - timedelta(minutes=1)) == ("open", 10, True)
    assert shown(occurrence, now=closes) == ("closed", 10, False)


def test_a_draft_events_date_is_closed_to_the_public(make):
    occurrence = make.occurrence(capacity=10, event=make.event(status=EventStatus.DRAFT))
    assert shown(occurrence) == ("closed", 10, False)


# --- the attendee's own page --------------------------------------------------------


def test_the_attendee_may_cancel_until_the_deadline_not_at_it(make):
    occurrence = make.occurrence(capacity=5, cancellation_deadline_hours=24)
    booking = book(occurrence, "ana@example.org")
    deadline = occurrence.starts_at - timedelta(hours=24)
    assert rules.can_attendee_cancel(booking, now=deadline - timedelta(minutes=1)) is True
    assert rules.can_attendee_cancel(booking, now=deadline) is False


# --- held wheelchair places in lists -----------------------------------------------


def test_a_list_shows_held_places_until_their_release_and_none_after(make):
    holding = make.occurrence(capacity=10, wheelchair_spaces=2, wheelchair_release_hours=24)
    ordinary = make.occurrence(capacity=10)
    book(holding, "wheels@example.org", wheelchair=True)
    now = utcnow()
    seen = dict(listing.with_availability([holding, ordinary], now))
    assert seen[holding].wheelchair_left == 1
    assert seen[ordinary].wheelchair_left == 0
    released = rules.release_at(holding)
    seen = dict(listing.with_availability([holding, ordinary], released))
    assert seen[holding].wheelchair_left == 0
    assert rules.held_left_by_occurrence([holding, ordinary], released) == {}
    assert rules.held_left_by_occurrence([holding], released - timedelta(minutes=1)) == {
        holding.id: 1
    }


# --- the booking link sent again ---------------------------------------------------


def test_the_link_is_not_sent_again_for_a_cancelled_booking(make):
    occurrence = make.occurrence(capacity=5)
    booking = book(occurrence, "ana@example.org")
    rules.cancel_by_attendee(booking.id)
    assert rules.resend_booking_link(booking.id) is False
    assert "existing" not in emails_to("ana@example.org")


def test_the_link_goes_again_right_after_the_confirmation_and_once_per_booking(make):
    occurrence = make.occurrence(capacity=5)
    ana = book(occurrence, "ana@example.org")
    noe = book(occurrence, "noe@example.org")
    assert rules.resend_booking_link(ana.id) is True  # the confirmation is no resend
    assert rules.resend_booking_link(noe.id) is True  # nor is another booking's link
    assert rules.resend_booking_link(ana.id) is False
    assert emails_to("ana@example.org") == ["confirmed", "existing"]
    assert emails_to("noe@example.org") == ["confirmed", "existing"]


def test_the_link_goes_again_exactly_an_hour_after_the_last_one(make):
    occurrence = make.occurrence(capacity=5)
    booking = book(occurrence, "ana@example.org")
    first = occurrence.starts_at - timedelta(days=2)
    with clock_set_to(first):
        assert rules.resend_booking_link(booking.id) is True
    sent_at = db.session.scalar(
        select(OutboxMessage.created_at).where(OutboxMessage.kind == "existing")
    )
    assert rules.resend_booking_link(booking.id, now=sent_at + timedelta(minutes=59)) is False
    assert rules.resend_booking_link(booking.id, now=sent_at + timedelta(hours=1)) is True
    assert emails_to("ana@example.org").count("existing") == 2
