"""The organiser side of the booking rules: approvals, cancelling, seats, capacity, check-in."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain.errors import (
    BookingClosed,
    CancellationClosed,
    CapacityBelowBookings,
    InvalidSeats,
    InvalidTransition,
    NotFound,
    OccurrenceFull,
    TooManySeats,
)
from calendrier.domain.outbox import render
from calendrier.extensions import db
from calendrier.models import AuditEntry, Booking, Occurrence, OutboxMessage
from calendrier.timeutil import utcnow


def request(email="ana@example.org", seats=1, **kw):
    return rules.BookingRequest(name="Ana Martin", email=email, seats=seats, **kw)


def book(occurrence, email="ana@example.org", seats=1, **kw):
    return rules.book(occurrence.id, request(email, seats), **kw).booking


def kinds(booking=None):
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if booking is not None:
        query = query.where(OutboxMessage.booking_id == booking.id)
    return [m.kind for m in db.session.scalars(query)]


def methods(booking):
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.booking_id == booking.id)
        .order_by(OutboxMessage.id)
    )
    return [(m.kind, m.ics_method) for m in rows]


def actions():
    return [a.action for a in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def status(booking):
    db.session.expire_all()
    return db.session.get(Booking, booking.id).status


# --- approvals -------------------------------------------------------------


def test_request_on_an_approval_occurrence_is_pending_and_holds_no_seat(make):
    occurrence = make.occurrence(capacity=2, requires_approval=True)
    booking = book(occurrence, seats=2)
    assert booking.status == "pending"
    assert rules.seats_taken(occurrence.id) == 0
    assert methods(booking) == [("pending", None)]  # not in the calendar yet


def test_approval_confirms_tells_the_person_and_records_who(make):
    occurrence = make.occurrence(capacity=2, requires_approval=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence, seats=2)
    rules.approve(booking.id, actor=organiser)
    assert status(booking) == "confirmed"
    assert rules.seats_taken(occurrence.id) == 2
    assert methods(booking) == [("pending", None), ("approved", "PUBLISH")]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "booking.approved")
    ).one()
    assert entry.user_id == organiser.id
    assert entry.organisation_id == occurrence.event.organisation_id
    assert entry.object_id == booking.id


def test_approval_checks_the_capacity_unless_the_organiser_overrides(make):
    occurrence = make.occurrence(capacity=3, requires_approval=True)
    first = book(occurrence, "a@example.org", seats=2)
    second = book(occurrence, "b@example.org", seats=2)
    rules.approve(first.id)
    with pytest.raises(OccurrenceFull):
        rules.approve(second.id)
    assert status(second) == "pending"
    assert kinds(second) == ["pending"]  # nothing written by the refused approval
    rules.approve(second.id, override_capacity=True)
    assert status(second) == "confirmed"
    assert rules.seats_taken(occurrence.id) == 4


def test_only_pending_requests_can_be_approved(make):
    occurrence = make.occurrence()
    booking = book(occurrence)
    with pytest.raises(InvalidTransition):
        rules.approve(booking.id)
    with pytest.raises(NotFound):
        rules.approve(999_999)


def test_rejection_tells_the_person_and_frees_the_email(make):
    occurrence = make.occurrence(requires_approval=True)
    booking = book(occurrence)
    rules.reject(booking.id)
    assert status(booking) == "rejected"
    assert methods(booking) == [("pending", None), ("rejected", None)]
    with pytest.raises(InvalidTransition):
        rules.reject(booking.id)
    again = rules.book(occurrence.id, request())  # may ask again
    assert again.created and again.booking.status == "pending"


# --- cancellations ---------------------------------------------------------


def test_attendee_cannot_cancel_after_the_deadline(make):
    occurrence = make.occurrence(
        starts_at=utcnow() + timedelta(hours=10), cancellation_deadline_hours=24
    )
    booking = book(occurrence)
    assert not rules.can_attendee_cancel(booking)
    with pytest.raises(CancellationClosed):
        rules.cancel_by_attendee(booking.id)
    assert status(booking) == "confirmed"
    # the organiser is not bound by it
    rules.cancel_by_organiser(booking.id, reason="Travaux")
    assert status(booking) == "cancelled"


def test_cancel_by_organiser_sends_a_cancelling_calendar_file_and_promotes(make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    first = book(occurrence, "a@example.org", seats=2)
    waiting = book(occurrence, "b@example.org", seats=2)
    rules.cancel_by_organiser(first.id, actor=organiser, reason="Doublon")
    assert status(first) == "cancelled" and status(waiting) == "confirmed"
    assert methods(first) == [("confirmed", "PUBLISH"), ("cancelled_by_organiser", "CANCEL")]
    assert methods(waiting) == [("waitlisted", None), ("promoted", "PUBLISH")]
    cancel = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "cancelled_by_organiser")
    ).one()
    text = render(cancel).text
    assert "Doublon" in text
    assert "l'organisateur a annulé votre réservation" in text  # in French
    assert "booking.cancelled" in actions() and "booking.promoted" in actions()
    with pytest.raises(InvalidTransition):
        rules.cancel_by_organiser(first.id)


def test_a_waiting_person_who_cancels_gets_no_calendar_file(make):
    occurrence = make.occurrence(capacity=1, waitlist=True)
    book(occurrence, "a@example.org")
    waiting = book(occurrence, "b@example.org")
    rules.cancel_by_attendee(waiting.id)
    assert methods(waiting) == [("waitlisted", None), ("cancelled", None)]


def test_cancelling_an_occurrence_tells_every_live_attendee(make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    confirmed = book(occurrence, "a@example.org", seats=2)
    waiting = book(occurrence, "b@example.org")
    gone = book(occurrence, "c@example.org")
    rules.cancel_by_attendee(gone.id)
    sequence = occurrence.sequence

    rules.cancel_occurrence(occurrence.id, "Intempéries", actor=organiser)
    db.session.expire_all()
    occurrence = db.session.get(Occurrence, occurrence.id)
    assert occurrence.status == "cancelled"
    assert occurrence.cancelled_at is not None
    assert occurrence.cancel_reason == "Intempéries"
    assert occurrence.sequence == sequence + 1
    assert status(confirmed) == "cancelled" and status(waiting) == "cancelled"
    assert methods(confirmed)[-1] == ("occurrence_cancelled", "CANCEL")
    assert methods(waiting)[-1] == ("occurrence_cancelled", None)
    assert kinds(gone) == ["waitlisted", "cancelled"]  # already gone: not told again
    cancelled = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "occurrence_cancelled")
    ).all()
    emails = [render(m) for m in cancelled]
    assert all("Intempéries" in e.text and "Intempéries" in e.html for e in emails)
    ics = next(e.ics for e in emails if e.ics)
    assert "STATUS:CANCELLED" in ics and f"SEQUENCE:{sequence + 1}" in ics
    assert actions().count("occurrence.cancelled") == 1
    with pytest.raises(InvalidTransition):
        rules.cancel_occurrence(occurrence.id, "again")
    with pytest.raises(BookingClosed):
        rules.book(occurrence.id, request("d@example.org"), actor=organiser)


# --- seats and capacity ----------------------------------------------------


def test_attendee_reduces_seats_and_the_freed_seat_goes_to_the_waiting_list(make):
    occurrence = make.occurrence(capacity=3, waitlist=True)
    first = book(occurrence, "a@example.org", seats=3)
    waiting = book(occurrence, "b@example.org", seats=1)
    rules.change_seats(first.id, 2)
    assert rules.seats_taken(occurrence.id) == 3
    assert status(waiting) == "confirmed"
    assert methods(first) == [("confirmed", "PUBLISH"), ("seats_changed", "PUBLISH")]
    assert actions()[-2:] == ["booking.seats_changed", "booking.promoted"]


def test_attendee_may_only_reduce_and_only_before_the_deadline(make):
    occurrence = make.occurrence(capacity=10)
    booking = book(occurrence, seats=2)
    with pytest.raises(InvalidSeats):
        rules.change_seats(booking.id, 3)
    with pytest.raises(InvalidSeats):
        rules.change_seats(booking.id, 0)
    late = make.occurrence(starts_at=utcnow() + timedelta(hours=2), cancellation_deadline_hours=6)
    late_booking = book(late, seats=2)
    with pytest.raises(CancellationClosed):
        rules.change_seats(late_booking.id, 1)
    rules.change_seats(booking.id, 2)  # no change: no email
    assert kinds(booking) == ["confirmed"]


def test_organiser_adds_seats_only_within_capacity(make):
    occurrence = make.occurrence(capacity=4)
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence, seats=2)
    book(occurrence, "b@example.org", seats=1)
    with pytest.raises(OccurrenceFull):
        rules.change_seats(booking.id, 4, actor=organiser)
    rules.change_seats(booking.id, 3, actor=organiser)
    assert rules.seats_taken(occurrence.id) == 4


def test_capacity_increase_promotes_and_decrease_below_bookings_is_refused(make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    book(occurrence, "a@example.org", seats=2)
    big = book(occurrence, "b@example.org", seats=3)
    small = book(occurrence, "c@example.org", seats=1)
    rules.set_capacity(occurrence.id, 3, actor=organiser)
    # the party of three does not fit yet; the person behind it who fits goes in
    assert status(big) == "waitlisted" and status(small) == "confirmed"
    rules.set_capacity(occurrence.id, 6, actor=organiser)
    assert status(big) == "confirmed"
    with pytest.raises(CapacityBelowBookings) as error:
        rules.set_capacity(occurrence.id, 5, actor=organiser)
    assert error.value.confirmed == 6
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).capacity == 6
    assert actions().count("occurrence.capacity_changed") == 2


# --- organiser bookings and check-in ---------------------------------------


def test_organiser_adds_a_booking_by_hand_outside_the_window_but_within_capacity(make):
    occurrence = make.occurrence(
        capacity=5,
        max_seats_per_booking=2,
        requires_approval=True,
        booking_closes_at=utcnow() - timedelta(hours=1),
    )
    organiser = make.user(organisation=occurrence.event.organisation)
    with pytest.raises(BookingClosed):
        rules.book(occurrence.id, request(seats=4))
    booking = rules.book(occurrence.id, request(seats=4, source="manage"), actor=organiser).booking
    assert booking.status == "confirmed"  # the organiser is the one who approves
    with pytest.raises(OccurrenceFull):
        rules.book(occurrence.id, request("b@example.org", seats=2), actor=organiser)
    squeezed = rules.book(
        occurrence.id,
        request("b@example.org", seats=2),
        actor=organiser,
        override_capacity=True,
    ).booking
    assert squeezed.status == "confirmed"
    assert rules.seats_taken(occurrence.id) == 6
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_id == squeezed.id)).one()
    assert entry.user_id == organiser.id and entry.details["override_capacity"] is True


def test_organiser_adding_a_booking_for_exactly_the_seats_left_fills_the_date(make):
    occurrence = make.occurrence(capacity=5, waitlist=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    book(occurrence, "a@example.org", seats=3)
    by_hand = rules.book(occurrence.id, request(seats=2), actor=organiser).booking
    assert by_hand.status == "confirmed"  # not sent to the waiting list with two seats free
    assert rules.seats_taken(occurrence.id) == 5
    assert book(occurrence, "c@example.org").status == "waitlisted"


def test_seat_count_below_one_is_refused_even_for_organisers(make):
    occurrence = make.occurrence()
    organiser = make.user(organisation=occurrence.event.organisation)
    with pytest.raises(TooManySeats):
        rules.book(occurrence.id, request(seats=0), actor=organiser)


def test_check_in_and_undo(make):
    occurrence = make.occurrence()
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence)
    rules.check_in(booking.id, actor=organiser)
    db.session.expire_all()
    first = db.session.get(Booking, booking.id).checked_in_at
    assert first is not None
    rules.check_in(booking.id, actor=organiser)  # twice: the first arrival time stays
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).checked_in_at == first
    rules.check_in(booking.id, actor=organiser, undo=True)
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).checked_in_at is None
    assert actions().count("booking.checked_in") == 1
    assert actions().count("booking.check_in_undone") == 1
    rules.cancel_by_attendee(booking.id)
    with pytest.raises(InvalidTransition):
        rules.check_in(booking.id, actor=organiser)
