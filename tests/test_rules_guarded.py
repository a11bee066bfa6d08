"""Rules that a mutation of domain/bookings.py, attendees.py or privacy.py once changed unseen.

Each test names the behaviour a person would notice if the rule broke.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from calendrier.domain import attendees, privacy
from calendrier.domain import bookings as rules
from calendrier.domain.errors import (
    BookingClosed,
    CancellationClosed,
    CapacityBelowBookings,
    InvalidTransition,
)
from calendrier.extensions import db
from calendrier.models import Booking, BookingStatus, Occurrence, OccurrenceStatus, OutboxMessage
from calendrier.timeutil import clock_set_to


def book(occurrence, email, seats=1):
    request = rules.BookingRequest(name="Ana Martin", email=email, seats=seats)
    return rules.book(occurrence.id, request).booking


def status_of(booking) -> BookingStatus:
    db.session.expire_all()
    return db.session.get(Booking, booking.id).status


def emails_to(address: str) -> list[str]:
    return list(
        db.session.scalars(
            select(OutboxMessage.kind)
            .join(Booking, OutboxMessage.booking_id == Booking.id)
            .where(Booking.email == address)
            .order_by(OutboxMessage.id)
        )
    )


def full_with_one_waiting(make, capacity=1, waiting_seats=1):
    occurrence = make.occurrence(capacity=capacity, waitlist=True, max_seats_per_booking=4)
    first = book(occurrence, "first@example.org", seats=capacity)
    waiting = book(occurrence, "waiting@example.org", seats=waiting_seats)
    assert (status_of(first), status_of(waiting)) == ("confirmed", "waitlisted")
    return occurrence, first, waiting


def test_nobody_is_promoted_from_the_waiting_list_once_the_date_has_started(make):
    occurrence, first, waiting = full_with_one_waiting(make)
    started = occurrence.starts_at + timedelta(minutes=5)
    rules.cancel_by_organiser(first.id, now=started)
    assert status_of(waiting) == BookingStatus.WAITLISTED
    assert "promoted" not in emails_to("waiting@example.org")


def test_before_the_start_the_same_cancellation_promotes(make):
    occurrence, first, waiting = full_with_one_waiting(make)
    rules.cancel_by_organiser(first.id, now=occurrence.starts_at - timedelta(minutes=5))
    assert status_of(waiting) == BookingStatus.CONFIRMED
    assert emails_to("waiting@example.org")[-1] == "promoted"


def test_the_organiser_can_decline_someone_on_the_waiting_list(make):
    _occurrence, first, waiting = full_with_one_waiting(make)
    rules.reject(waiting.id)
    assert status_of(waiting) == BookingStatus.REJECTED
    assert emails_to("waiting@example.org")[-1] == "rejected"
    assert status_of(first) == BookingStatus.CONFIRMED


def test_seats_freed_outside_the_rules_go_to_the_queue_before_a_newcomer(make):
    occurrence, first, waiting = full_with_one_waiting(make, capacity=2, waiting_seats=2)
    # a change made straight in the database (a repair), which promoted nobody
    db.session.execute(
        update(Booking).where(Booking.id == first.id).values(status=BookingStatus.CANCELLED)
    )
    db.session.commit()
    # the seat counter still says 2: the repair ends with `flask seats check --fix`
    assert [m.occurrence_id for m in rules.fix_seat_counters()] == [occurrence.id]
    newcomer = book(occurrence, "newcomer@example.org", seats=1)
    assert status_of(waiting) == BookingStatus.CONFIRMED  # the queue first, though larger
    assert status_of(newcomer) == BookingStatus.WAITLISTED


def test_a_pending_request_cannot_be_approved_on_a_cancelled_date(make):
    occurrence = make.occurrence(capacity=5, requires_approval=True)
    pending = book(occurrence, "candidate@example.org")
    db.session.execute(
        update(Occurrence)
        .where(Occurrence.id == occurrence.id)
        .values(status=OccurrenceStatus.CANCELLED)
    )
    db.session.commit()
    with pytest.raises(BookingClosed):
        rules.approve(pending.id)
    assert status_of(pending) == BookingStatus.PENDING
    assert emails_to("candidate@example.org") == ["pending"]


def test_cancelling_the_date_ends_pending_requests_which_can_no_longer_be_approved(make):
    occurrence = make.occurrence(capacity=5, requires_approval=True)
    pending = book(occurrence, "candidate@example.org")
    rules.cancel_occurrence(occurrence.id, "Salle inondée")
    assert status_of(pending) == BookingStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        rules.approve(pending.id)


def test_a_negative_capacity_is_refused_and_changes_nothing(make):
    occurrence = make.occurrence(capacity=5)
    with pytest.raises(CapacityBelowBookings):
        rules.set_capacity(occurrence.id, -1)
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).capacity == 5


def test_a_booking_that_has_ended_cannot_be_cancelled_changed_or_checked_in(make):
    occurrence = make.occurrence(capacity=5, max_seats_per_booking=4)
    booking = book(occurrence, "ana@example.org", seats=3)
    rules.cancel_by_attendee(booking.id)
    sent = emails_to("ana@example.org")
    for attempt in (
        lambda: rules.cancel_by_attendee(booking.id),
        lambda: rules.cancel_by_organiser(booking.id),
        lambda: rules.change_seats(booking.id, 1),
        lambda: rules.change_seats(booking.id, 2, actor=make.user()),
        lambda: rules.check_in(booking.id),
    ):
        with pytest.raises(InvalidTransition):
            attempt()
    assert status_of(booking) == BookingStatus.CANCELLED
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).seats == 3
    assert emails_to("ana@example.org") == sent  # nobody was told anything twice


def test_once_the_date_is_over_the_attendee_can_neither_cancel_nor_reduce(make):
    occurrence = make.occurrence(capacity=5, max_seats_per_booking=4)
    booking = book(occurrence, "ana@example.org", seats=3)
    after = occurrence.ends_at + timedelta(hours=1)
    with pytest.raises(CancellationClosed):
        rules.cancel_by_attendee(booking.id, now=after)
    with pytest.raises(CancellationClosed):
        rules.change_seats(booking.id, 1, now=after)
    assert status_of(booking) == BookingStatus.CONFIRMED


def test_attendee_list_filters_arrived_not_arrived_and_cancelled(make):
    occurrence = make.occurrence(capacity=3, waitlist=True, max_seats_per_booking=4)
    arrived = book(occurrence, "arrived@example.org")
    book(occurrence, "absent@example.org")
    gone = book(occurrence, "gone@example.org")
    rules.check_in(arrived.id)
    rules.cancel_by_attendee(gone.id)
    book(occurrence, "third@example.org")  # takes the seat gone freed
    waiting = book(occurrence, "waiting@example.org")
    declined = book(occurrence, "declined@example.org")
    rules.reject(declined.id)

    def shown(show):
        return {b.email for b in attendees.attendee_list(occurrence.id, show=show)}

    assert shown("arrived") == {"arrived@example.org"}
    assert shown("not_arrived") == {"absent@example.org", "third@example.org"}
    assert shown("cancelled") == {"gone@example.org", "declined@example.org"}
    assert shown("waitlisted") == {waiting.email}
    assert shown("active") == {
        "arrived@example.org",
        "absent@example.org",
        "third@example.org",
        "waiting@example.org",
    }


def test_the_organisers_message_reaches_exactly_the_people_chosen(make):
    occurrence = make.occurrence(capacity=1, waitlist=True)
    book(occurrence, "confirmed@example.org")
    book(occurrence, "waiting@example.org")
    approval = make.occurrence(capacity=5, requires_approval=True, event=occurrence.event)
    book(approval, "pending@example.org")

    sent = attendees.message_attendees(
        occurrence.id, "La salle change.", statuses=("waitlisted", "pending")
    )
    assert sent == 1
    assert emails_to("waiting@example.org")[-1] == "message"
    assert "message" not in emails_to("confirmed@example.org")
    assert attendees.message_attendees(approval.id, "Bienvenue", statuses=("pending",)) == 1
    assert emails_to("pending@example.org")[-1] == "message"
    assert "message" not in emails_to("waiting@example.org")[:-1]


def test_the_audit_log_names_an_address_by_a_keyed_digest_of_its_normal_form(app):
    # HMAC-SHA256 of "ana.martin@example.org" under the key "test-secret", first 20 hex
    # digits, computed once outside the code under test.
    assert privacy.email_digest("  Ana.Martin@Example.ORG ") == "022c2824da46b14ea003"
    app.config["SECRET_KEY"] = "another-secret"
    assert privacy.email_digest("ana.martin@example.org") == "259574611a368196d52d"


def test_the_link_goes_out_again_at_most_once_an_hour_even_across_a_clock_hour(make):
    occurrence = make.occurrence(capacity=5)
    booking = book(occurrence, "ana@example.org")
    day = occurrence.starts_at - timedelta(days=2)
    before_the_hour = day.replace(hour=9, minute=59, second=0, microsecond=0)
    with clock_set_to(before_the_hour):
        assert rules.resend_booking_link(booking.id) is True
    with clock_set_to(before_the_hour + timedelta(minutes=2)):  # 10:01, another clock hour
        assert rules.resend_booking_link(booking.id) is False
    with clock_set_to(before_the_hour + timedelta(minutes=61)):
        assert rules.resend_booking_link(booking.id) is True
    assert emails_to("ana@example.org").count("existing") == 2


def test_a_held_place_released_by_the_clock_goes_to_the_waiting_list_before_a_newcomer(make):
    occurrence = make.occurrence(
        capacity=3, waitlist=True, wheelchair_spaces=1, wheelchair_release_hours=24
    )
    first = book(occurrence, "first@example.org", seats=2)
    waiting = book(occurrence, "waiting@example.org")  # the third place is held
    assert (status_of(first), status_of(waiting)) == ("confirmed", "waitlisted")
    # the held place is released by the clock: no rule runs then, nobody is promoted
    released = rules.release_at(occurrence) + timedelta(minutes=1)
    request = rules.BookingRequest(name="Noé Petit", email="newcomer@example.org", seats=1)
    newcomer = rules.book(occurrence.id, request, now=released).booking
    assert status_of(waiting) == BookingStatus.CONFIRMED
    assert status_of(newcomer) == BookingStatus.WAITLISTED
    assert emails_to("waiting@example.org")[-1] == "promoted"
