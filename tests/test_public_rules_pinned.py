"""The public booking path's rules, pinned where a mutation of domain/bookings.py went unseen.

Each test names what a person would notice if the rule broke: the state a date shows, the
places left, a booking's status, the emails queued, the audit log.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import listing, questions
from calendrier.domain.errors import (
    BookingClosed,
    CancellationClosed,
    InvalidInput,
    NotFound,
    OccurrenceFull,
    TooManySeats,
)
from calendrier.extensions import db
from calendrier.models import AuditEntry, Booking, BookingStatus, EventStatus, OutboxMessage
from calendrier.timeutil import clock_set_to, utcnow

from .interleave import meanwhile


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


def read_back(booking) -> Booking:
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def audit_of(booking, action: str) -> list[dict]:
    return [
        entry.details
        for entry in db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.object_id == booking.id)
            .order_by(AuditEntry.id)
        )
    ]


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
    with pytest.raises(CancellationClosed):
        rules.cancel_by_attendee(booking.id, now=deadline)
    assert read_back(booking).status == BookingStatus.CONFIRMED


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


def test_two_requests_for_the_link_at_the_same_instant_send_it_once(app, make, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite serialises every writer: the second request sees the first's email")
    occurrence = make.occurrence(capacity=5)
    booking = book(occurrence, "ana@example.org")
    now = utcnow()
    # the other request checks, writes and commits after this one checked

    def again():
        return rules.resend_booking_link(booking.id, now=now)

    with meanwhile(app, "INSERT INTO outbox", again) as other:
        late = rules.resend_booking_link(booking.id, now=now)
    assert (other, late) == ([True], False)
    db.session.expire_all()
    assert emails_to("ana@example.org") == ["confirmed", "existing"]


# --- held wheelchair places when booking ---------------------------------------------


def held_date(make, capacity, **fields):
    return make.occurrence(
        capacity=capacity,
        wheelchair_spaces=1,
        wheelchair_release_hours=24,
        max_seats_per_booking=4,
        **fields,
    )


def test_the_held_place_goes_to_a_wheelchair_user_never_to_an_ordinary_party(make):
    occurrence = held_date(make, 3)
    book(occurrence, "first@example.org", seats=2)  # the two ordinary seats
    with pytest.raises(OccurrenceFull):
        book(occurrence, "ordinary@example.org")
    wheels = book(occurrence, "wheels@example.org", wheelchair=True)
    assert read_back(wheels).status == BookingStatus.CONFIRMED
    [(_, seen)] = listing.with_availability([occurrence])
    assert (seen.state, seen.seats_left, seen.wheelchair_left) == ("full", 0, 0)


def test_a_wheelchair_users_party_takes_one_held_place_and_only_the_seats_free(make):
    occurrence = held_date(make, 5, waitlist=True)
    book(occurrence, "first@example.org", seats=2)  # three left, one of them held
    too_many = book(occurrence, "four@example.org", seats=4, wheelchair=True)
    assert read_back(too_many).status == BookingStatus.WAITLISTED
    three = book(occurrence, "three@example.org", seats=3, wheelchair=True)
    assert read_back(three).status == BookingStatus.CONFIRMED
    assert rules.held_left(occurrence) == 0


def test_once_the_held_place_is_taken_a_wheelchair_user_gets_only_ordinary_seats(make):
    occurrence = held_date(make, 3, waitlist=True)
    book(occurrence, "wheels@example.org", wheelchair=True)  # the held place
    party = book(occurrence, "party@example.org", seats=3, wheelchair=True)
    assert read_back(party).status == BookingStatus.WAITLISTED  # two seats are free
    assert emails_to("party@example.org") == ["waitlisted"]
    two = book(occurrence, "two@example.org", seats=2, wheelchair=True)
    assert read_back(two).status == BookingStatus.CONFIRMED


def test_a_booking_made_after_the_release_may_take_the_place_that_was_held(make):
    occurrence = held_date(make, 2, waitlist=True)
    book(occurrence, "first@example.org")
    released = rules.release_at(occurrence)
    request = rules.BookingRequest(name="Noé Petit", email="late@example.org", seats=1)
    late = rules.book(occurrence.id, request, now=released).booking
    assert read_back(late).status == BookingStatus.CONFIRMED
    assert read_back(late).confirmed_at == released


def test_an_attendee_cancelling_after_the_release_lets_the_queue_into_the_held_place(make):
    occurrence = held_date(make, 2, waitlist=True)
    first = book(occurrence, "first@example.org")
    waiting = book(occurrence, "waiting@example.org", seats=2)  # one seat is held
    assert read_back(waiting).status == BookingStatus.WAITLISTED
    released = rules.release_at(occurrence) + timedelta(minutes=5)
    rules.cancel_by_attendee(first.id, now=released)
    gone, promoted = read_back(first), read_back(waiting)
    assert (gone.status, gone.cancelled_at) == (BookingStatus.CANCELLED, released)
    assert (promoted.status, promoted.confirmed_at) == (BookingStatus.CONFIRMED, released)
    assert emails_to("first@example.org") == ["confirmed", "cancelled"]
    assert emails_to("waiting@example.org") == ["waitlisted", "promoted"]
    [details] = audit_of(first, "booking.cancelled")
    assert (details["seats"], details["by"]) == (1, "attendee")


# --- taking a booking ----------------------------------------------------------------


def test_a_booking_keeps_what_was_typed_tidied_and_says_so_in_the_log(make):
    occurrence = make.occurrence(capacity=10)
    now = utcnow().replace(microsecond=0)
    request = rules.BookingRequest(
        name="  Ana Martin ",
        email=" Ana.Martin@Example.ORG ",
        seats=2,
        phone=" 06 12 34 56 78 ",
        locale="de",
        source="api",
        idempotency_key="",
    )
    result = rules.book(occurrence.id, request, now=now)
    assert result.created is True
    booking = read_back(result.booking)
    assert (booking.name, booking.email, booking.phone) == (
        "Ana Martin",
        "ana.martin@example.org",
        "06 12 34 56 78",
    )
    assert (booking.seats, booking.status, booking.locale, booking.source) == (
        2,
        BookingStatus.CONFIRMED,
        "fr",
        "api",
    )
    assert booking.idempotency_key is None
    assert (booking.consent_at, booking.created_at, booking.confirmed_at) == (now, now, now)
    assert (booking.cancelled_at, booking.checked_in_at, booking.anonymised_at) == (None,) * 3
    assert (booking.note, booking.wheelchair, booking.group_name) == ("", False, None)
    assert rules.availability(occurrence, occurrence.seats_taken).seats_left == 8
    assert emails_to("ana.martin@example.org") == ["confirmed"]
    assert audit_of(booking, "booking.created") == [
        {
            "status": "confirmed",
            "seats": 2,
            "source": "api",
            "override_capacity": False,
            "by": "attendee",
            "reference": booking.reference,
            "occurrence_id": occurrence.id,
        }
    ]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "booking.created"))
    assert (entry.object_id, entry.organisation_id, entry.user_id) == (
        booking.id,
        occurrence.event.organisation_id,
        None,
    )


def test_an_english_booking_without_consent_is_written_so(make):
    occurrence = make.occurrence(capacity=10)
    request = rules.BookingRequest(
        name="Ann", email="ann@example.org", seats=1, locale="en", consent=False
    )
    booking = read_back(rules.book(occurrence.id, request).booking)
    assert (booking.locale, booking.consent_at, booking.source) == ("en", None, "web")
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == booking.id))
    assert (message.kind, message.recipient) == ("confirmed", "ann@example.org")
    assert message.locale == "en"


def test_the_last_seat_is_taken_and_the_next_person_is_refused_or_queued(make):
    occurrence = make.occurrence(capacity=3, max_seats_per_booking=4)
    book(occurrence, "two@example.org", seats=2)
    with pytest.raises(OccurrenceFull):
        book(occurrence, "pair@example.org", seats=2)
    last = book(occurrence, "last@example.org")
    assert read_back(last).status == BookingStatus.CONFIRMED
    with pytest.raises(OccurrenceFull):
        book(occurrence, "late@example.org")
    assert emails_to("late@example.org") == emails_to("pair@example.org") == []
    assert db.session.scalar(select(func.count(Booking.id))) == 2


def test_a_party_larger_than_the_seats_left_joins_the_queue_without_taking_any(make):
    occurrence = make.occurrence(capacity=3, waitlist=True, max_seats_per_booking=4)
    book(occurrence, "two@example.org", seats=2)
    now = utcnow().replace(microsecond=0)
    request = rules.BookingRequest(name="Ana", email="pair@example.org", seats=2)
    pair = read_back(rules.book(occurrence.id, request, now=now).booking)
    assert (pair.status, pair.confirmed_at, pair.created_at) == ("waitlisted", None, now)
    assert rules.availability(occurrence, occurrence.seats_taken).seats_left == 1
    assert emails_to("pair@example.org") == ["waitlisted"]
    [details] = audit_of(pair, "booking.created")
    assert (details["status"], details["seats"]) == ("waitlisted", 2)
    last = book(occurrence, "last@example.org")
    assert read_back(last).status == BookingStatus.CONFIRMED


def test_a_request_needing_approval_holds_no_seat(make):
    occurrence = make.occurrence(capacity=2, requires_approval=True)
    pending = read_back(book(occurrence, "candidate@example.org", seats=2))
    assert (pending.status, pending.confirmed_at) == (BookingStatus.PENDING, None)
    assert shown(occurrence, taken=occurrence.seats_taken)[:2] == ("open", 2)
    assert emails_to("candidate@example.org") == ["pending"]
    assert audit_of(pending, "booking.created")[0]["status"] == "pending"


def test_the_number_of_seats_is_one_to_the_maximum_except_for_the_organiser(make):
    occurrence = make.occurrence(capacity=10, max_seats_per_booking=3)
    for seats in (0, 4):
        with pytest.raises(TooManySeats) as refused:
            book(occurrence, f"s{seats}@example.org", seats=seats)
        assert refused.value.maximum == 3
    assert read_back(book(occurrence, "three@example.org", seats=3)).seats == 3
    request = rules.BookingRequest(name="Group", email="group@example.org", seats=5)
    organiser = make.user(organisation=occurrence.event.organisation)
    by_hand = rules.book(occurrence.id, request, actor=organiser).booking
    assert read_back(by_hand).status == BookingStatus.CONFIRMED
    assert audit_of(by_hand, "booking.created")[0]["by"] == "organiser"
    assert rules.availability(occurrence, occurrence.seats_taken).seats_left == 2


def test_the_same_address_twice_gets_its_booking_back_until_it_is_cancelled(make):
    occurrence = make.occurrence(capacity=10, max_seats_per_booking=4)
    first = rules.book(occurrence.id, rules.BookingRequest("Ana", "ana@example.org", 1))
    again = rules.book(occurrence.id, rules.BookingRequest("Ana", " ANA@example.org", 3))
    assert (again.created, again.booking.id, read_back(first.booking).seats) == (
        False,
        first.booking.id,
        1,
    )
    retried = rules.BookingRequest("Ana", "ana@example.org", 1, idempotency_key="fresh")
    assert rules.book(occurrence.id, retried).booking.id == first.booking.id
    assert emails_to("ana@example.org") == ["confirmed"]
    rules.cancel_by_attendee(first.booking.id)
    later = rules.book(occurrence.id, rules.BookingRequest("Ana", "ana@example.org", 2))
    assert later.created is True and later.booking.id != first.booking.id
    assert rules.find_active_booking(occurrence.id, "Ana@Example.org ").id == later.booking.id


def test_one_address_may_book_several_dates_each_its_own_booking(make):
    first = make.occurrence(capacity=10)
    second = make.occurrence(capacity=10, event=first.event, requires_approval=True)
    third = make.occurrence(capacity=1, event=first.event, waitlist=True)
    book(third, "noe@example.org")
    bookings = [
        rules.book(o.id, rules.BookingRequest("Ana", "ana@example.org", 1))
        for o in (first, second, third)
    ]
    assert [b.created for b in bookings] == [True, True, True]
    assert [read_back(b.booking).status for b in bookings] == [
        "confirmed",
        "pending",
        "waitlisted",
    ]
    assert emails_to("ana@example.org") == ["confirmed", "pending", "waitlisted"]


def test_a_booking_added_by_an_organiser_is_logged_as_theirs(make):
    occurrence = make.occurrence(capacity=10)
    organiser = make.user(organisation=occurrence.event.organisation)
    request = rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    booking = rules.book(occurrence.id, request, actor=organiser).booking
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == booking.id))
    assert (entry.action, entry.user_id, entry.details["by"]) == (
        "booking.created",
        organiser.id,
        "organiser",
    )
    assert read_back(booking).status == BookingStatus.CONFIRMED


def test_a_retried_request_is_answered_with_its_booking_even_once_the_date_is_full(make):
    occurrence = make.occurrence(capacity=2, max_seats_per_booking=4)
    request = rules.BookingRequest("Ana", "ana@example.org", 2, idempotency_key="k-1")
    first = rules.book(occurrence.id, request)
    retry = rules.book(occurrence.id, request)
    assert (first.created, retry.created, retry.booking.id) == (True, False, first.booking.id)
    assert read_back(first.booking).idempotency_key == "k-1"
    other = rules.BookingRequest("Ana", "other@example.org", 1, idempotency_key="k-1")
    assert rules.book(occurrence.id, other).booking.id == first.booking.id  # the key decides
    assert emails_to("ana@example.org") == ["confirmed"]
    assert emails_to("other@example.org") == []
    for key in (None, "k-2"):
        with pytest.raises(OccurrenceFull):
            rules.book(occurrence.id, rules.BookingRequest("Noé", "noe@example.org", 1, key))
    assert emails_to("noe@example.org") == []


def test_booking_opens_and_closes_at_the_minute_set_and_never_after_the_start(make):
    starts = utcnow().replace(microsecond=0) + timedelta(days=7)
    occurrence = make.occurrence(
        capacity=10,
        starts_at=starts,
        booking_opens_at=starts - timedelta(days=3),
        booking_closes_at=starts + timedelta(hours=1),  # after the start: the start wins
    )
    assert rules.booking_window(occurrence) == (starts - timedelta(days=3), starts)

    def attempt(email, now):
        request = rules.BookingRequest(name="Ana", email=email, seats=1)
        return rules.book(occurrence.id, request, now=now).booking

    with pytest.raises(BookingClosed):
        attempt("early@example.org", starts - timedelta(days=3, minutes=1))
    assert read_back(attempt("opening@example.org", starts - timedelta(days=3))).status == (
        BookingStatus.CONFIRMED
    )
    assert read_back(attempt("last@example.org", starts - timedelta(minutes=1))).status == (
        BookingStatus.CONFIRMED
    )
    with pytest.raises(BookingClosed):
        attempt("start@example.org", starts)
    assert shown(occurrence, taken=2, now=starts)[0] == "closed"
    assert rules.is_booking_open(occurrence, starts - timedelta(minutes=1)) is True
    assert rules.is_booking_open(occurrence, starts) is False


def test_a_booking_asked_for_at_the_start_is_refused_whatever_the_date_allows(make):
    occurrence = make.occurrence(capacity=10, waitlist=True, max_seats_per_booking=20)
    for seats in (1, 20):  # seats free, or a party for the queue
        request = rules.BookingRequest(name="Ana", email=f"s{seats}@example.org", seats=seats)
        with pytest.raises(BookingClosed):
            rules.book(occurrence.id, request, now=occurrence.starts_at)
    assert db.session.scalar(select(func.count(Booking.id))) == 0


def test_a_date_that_does_not_exist_is_not_found(make):
    occurrence = make.occurrence()
    request = rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    with pytest.raises(NotFound):
        rules.book(occurrence.id + 1, request)
    assert db.session.scalar(select(func.count(Booking.id))) == 0


def test_a_request_approved_after_the_release_may_take_the_place_that_was_held(make):
    occurrence = held_date(make, 2, requires_approval=True)
    pending = book(occurrence, "pair@example.org", seats=2)
    with pytest.raises(OccurrenceFull):  # one of the two places is held
        rules.approve(pending.id, now=rules.release_at(occurrence) - timedelta(minutes=1))
    released = rules.release_at(occurrence)
    approved = read_back(rules.approve(pending.id, now=released))
    assert (approved.status, approved.confirmed_at) == (BookingStatus.CONFIRMED, released)
    assert emails_to("pair@example.org") == ["pending", "approved"]


def test_a_place_released_by_the_clock_goes_to_the_queue_before_a_larger_newcomer(make):
    occurrence = held_date(make, 2, waitlist=True)
    book(occurrence, "first@example.org")
    waiting = book(occurrence, "waiting@example.org")  # the second place is held
    released = rules.release_at(occurrence) + timedelta(minutes=1)
    request = rules.BookingRequest(name="Noé Petit", email="pair@example.org", seats=2)
    pair = rules.book(occurrence.id, request, now=released).booking
    promoted = read_back(waiting)
    assert (promoted.status, promoted.confirmed_at) == (BookingStatus.CONFIRMED, released)
    assert read_back(pair).status == BookingStatus.WAITLISTED
    assert emails_to("waiting@example.org") == ["waitlisted", "promoted"]


def test_an_organiser_adding_a_booking_after_the_release_may_give_the_held_place(make):
    occurrence = held_date(make, 2)
    book(occurrence, "first@example.org")
    organiser = make.user(organisation=occurrence.event.organisation)
    request = rules.BookingRequest(name="Noé Petit", email="guest@example.org", seats=1)
    with pytest.raises(OccurrenceFull):  # still held for a wheelchair user
        rules.book(occurrence.id, request, actor=organiser)
    released = rules.release_at(occurrence)
    guest = rules.book(occurrence.id, request, actor=organiser, now=released).booking
    assert read_back(guest).status == BookingStatus.CONFIRMED
    assert emails_to("guest@example.org") == ["confirmed"]


def test_answers_are_kept_and_only_an_organiser_may_leave_a_required_one_out(make):
    occurrence = make.occurrence(capacity=10)
    question = questions.create_question(
        occurrence.event_id, label="Employeur", type="text", required=True
    )
    key = str(question.id)
    with pytest.raises(InvalidInput):
        book(occurrence, "ana@example.org")
    ana = book(occurrence, "ana@example.org", answers={key: "Folimage"})
    organiser = make.user(organisation=occurrence.event.organisation)

    def by_hand(email, **fields):
        request = rules.BookingRequest(name="Noé", email=email, seats=1, **fields)
        return rules.book(occurrence.id, request, actor=organiser).booking

    noe = by_hand("noe@example.org", answers={key: "Atelier"})
    lea = by_hand("lea@example.org")
    answered = {
        b.email: [a["value"] for a in questions.as_json(read_back(b))] for b in (ana, noe, lea)
    }
    assert answered == {
        "ana@example.org": ["Folimage"],
        "noe@example.org": ["Atelier"],
        "lea@example.org": [],
    }
    assert emails_to("ana@example.org") == emails_to("noe@example.org") == ["confirmed"]
