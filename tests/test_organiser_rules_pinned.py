"""Organiser-side rules that a mutation of domain/bookings.py once changed unseen.

Each test names what an organiser or an attendee would notice if the rule broke: who is
confirmed from the waiting list and when, what the audit log says and in whose name,
which emails go out, what ``flask seats check`` reports.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from calendrier.accounts import issue_api_token
from calendrier.domain import bookings as rules
from calendrier.domain.deadlines import cancellation_deadline
from calendrier.domain.errors import CancellationClosed, CapacityBelowBookings, OccurrenceFull
from calendrier.domain.outbox import render
from calendrier.extensions import db
from calendrier.models import AuditEntry, Booking, BookingStatus, Occurrence, OutboxMessage
from calendrier.timeutil import utcnow

API = "/api/v1"


def book(occurrence, email, seats=1, **kw):
    request = rules.BookingRequest(
        name="Ana Martin", email=email, seats=seats, wheelchair=kw.pop("wheelchair", False)
    )
    return rules.book(occurrence.id, request, **kw).booking


def status_of(booking) -> BookingStatus:
    db.session.expire_all()
    return db.session.get(Booking, booking.id).status


def emails() -> list[tuple[str, str]]:
    """(kind, recipient) of every email queued, in order."""
    rows = db.session.execute(
        select(OutboxMessage.kind, OutboxMessage.recipient).order_by(OutboxMessage.id)
    )
    return [(kind, recipient) for kind, recipient in rows]


def entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def logged(action: str) -> list[tuple[int | None, dict]]:
    """The audit log's rows for ``action``: who (user id) and the details shown."""
    return [(e.user_id, e.details) for e in entries(action)]


def promoted_by(actor_id: int | None) -> list[tuple[int | None, str, int, str]]:
    return [
        (e.user_id, e.details["by"], e.details["seats"], e.details["reference"])
        for e in entries("booking.promoted")
        if e.user_id == actor_id
    ]


def line_after(text: str, start: str) -> str:
    """The email's next line of text after the one that holds ``start``."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[next(i for i, line in enumerate(lines) if start in line) + 1]


# --- the waiting list after an organiser's change ---------------------------------------


def test_people_confirmed_from_the_queue_after_an_organisers_change_are_logged_in_their_name(
    make,
):
    occurrence = make.occurrence(capacity=3, waitlist=True, max_seats_per_booking=4)
    organiser = make.user(organisation=occurrence.event.organisation)
    group = book(occurrence, "group@example.org", seats=3)
    first = book(occurrence, "first@example.org")
    second = book(occurrence, "second@example.org")
    pair = book(occurrence, "pair@example.org", seats=2)

    rules.change_seats(group.id, 2, actor=organiser)
    assert status_of(first) == BookingStatus.CONFIRMED
    rules.set_capacity(occurrence.id, 4, actor=organiser)
    assert status_of(second) == BookingStatus.CONFIRMED
    rules.cancel_by_organiser(group.id, actor=organiser, reason="Doublon")
    assert status_of(pair) == BookingStatus.CONFIRMED
    rules.cancel_by_organiser(first.id, actor=organiser)  # no reason given

    who = organiser.id
    assert promoted_by(who) == [
        (who, "waiting list", 1, first.reference),
        (who, "waiting list", 1, second.reference),
        (who, "waiting list", 2, pair.reference),
    ]
    assert [(u, d["by"], d["before"], d["after"]) for u, d in logged("booking.seats_changed")] == [
        (who, "organiser", 3, 2)
    ]
    capacity = logged("occurrence.capacity_changed")
    assert [(u, d["by"], d["before"], d["after"]) for u, d in capacity] == [
        (who, "organiser", 3, 4)
    ]
    cancelled = logged("booking.cancelled")
    assert [(u, d["by"], d["seats"], d["reason"], d["reference"]) for u, d in cancelled] == [
        (who, "organiser", 2, "Doublon", group.reference),
        (who, "organiser", 1, "", first.reference),
    ]
    assert emails()[4:] == [
        ("seats_changed", "group@example.org"),
        ("promoted", "first@example.org"),
        ("promoted", "second@example.org"),
        ("cancelled_by_organiser", "group@example.org"),
        ("promoted", "pair@example.org"),
        ("cancelled_by_organiser", "first@example.org"),
    ]
    # confirmed from the queue, then cancelled: the date leaves their calendar
    assert db.session.scalars(
        select(OutboxMessage.ics_method).where(
            OutboxMessage.recipient == "first@example.org",
            OutboxMessage.kind == "cancelled_by_organiser",
        )
    ).all() == ["CANCEL"]
    told = {
        m.recipient: render(m).text
        for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "cancelled_by_organiser")
        )
    }
    lead = "l'organisateur a annulé votre réservation"
    assert line_after(told["group@example.org"], lead) == "Doublon"
    # no reason given: no words of the organiser's, the lead goes on with the date
    assert line_after(told["first@example.org"], lead) == occurrence.event.title


def test_from_the_start_of_the_date_no_organisers_change_confirms_anyone_from_the_queue(make):
    occurrence = make.occurrence(capacity=3, waitlist=True, max_seats_per_booking=4)
    organiser = make.user(organisation=occurrence.event.organisation)
    pair = book(occurrence, "pair@example.org", seats=2)
    single = book(occurrence, "single@example.org")
    waiting = book(occurrence, "waiting@example.org")
    declined = book(occurrence, "declined@example.org")
    started = occurrence.starts_at  # from the very minute it starts

    rules.change_seats(pair.id, 1, actor=organiser, now=started)  # a seat frees up
    assert status_of(waiting) == BookingStatus.WAITLISTED
    rules.reject(declined.id, actor=organiser, now=started)
    assert status_of(waiting) == BookingStatus.WAITLISTED
    rules.set_capacity(occurrence.id, 4, actor=organiser, now=started)
    assert status_of(waiting) == BookingStatus.WAITLISTED
    # a seat freed straight in the database, then `flask seats check --fix`
    db.session.execute(
        update(Booking).where(Booking.id == single.id).values(status=BookingStatus.CANCELLED)
    )
    db.session.commit()
    assert [m.occurrence_id for m in rules.fix_seat_counters(now=started)] == [occurrence.id]
    assert status_of(waiting) == BookingStatus.WAITLISTED
    assert ("promoted", "waiting@example.org") not in emails()
    assert entries("booking.promoted") == []


def held_place_date(make, **overrides):
    """A date that holds one place for wheelchair users until a day before it starts."""
    values = {
        "capacity": 2,
        "waitlist": True,
        "max_seats_per_booking": 4,
        "wheelchair_spaces": 1,
        "wheelchair_release_hours": 24,
    }
    values.update(overrides)
    occurrence = make.occurrence(**values)
    return occurrence, occurrence.starts_at - timedelta(hours=12)  # released by then


def test_a_held_place_released_by_the_clock_goes_to_the_queue_when_the_organiser_declines_someone(
    make,
):
    occurrence, released = held_place_date(make)
    organiser = make.user(organisation=occurrence.event.organisation)
    book(occurrence, "first@example.org")
    waiting = book(occurrence, "waiting@example.org")  # the free place is held
    declined = book(occurrence, "declined@example.org")
    assert status_of(waiting) == BookingStatus.WAITLISTED

    rules.reject(declined.id, actor=organiser, now=released)
    assert status_of(waiting) == BookingStatus.CONFIRMED
    assert status_of(declined) == BookingStatus.REJECTED
    assert emails()[-2:] == [
        ("rejected", "declined@example.org"),
        ("promoted", "waiting@example.org"),
    ]
    assert [(u, d["by"], d["reference"]) for u, d in logged("booking.rejected")] == [
        (organiser.id, "organiser", declined.reference)
    ]
    assert promoted_by(organiser.id) == [(organiser.id, "waiting list", 1, waiting.reference)]


def test_someone_added_by_hand_after_a_held_place_is_released_queues_behind_whom_it_went_to(
    make,
):
    occurrence, released = held_place_date(make)
    organiser = make.user(organisation=occurrence.event.organisation)
    book(occurrence, "first@example.org")
    waiting = book(occurrence, "waiting@example.org")  # the free place is held
    added = book(occurrence, "added@example.org", actor=organiser, now=released)
    assert status_of(waiting) == BookingStatus.CONFIRMED  # the released place, first
    assert status_of(added) == BookingStatus.WAITLISTED
    assert emails()[-2:] == [
        ("promoted", "waiting@example.org"),
        ("waitlisted", "added@example.org"),
    ]


def test_the_queue_is_served_in_the_order_people_asked_not_the_order_rows_were_written(make):
    occurrence = make.occurrence(capacity=1, waitlist=True)
    first = book(occurrence, "first@example.org")
    later = book(occurrence, "later@example.org")
    # asked before "later" did, written after (a slow request)
    earlier = book(occurrence, "earlier@example.org", now=later.created_at - timedelta(minutes=1))
    rules.cancel_by_organiser(first.id)
    assert status_of(earlier) == BookingStatus.CONFIRMED
    assert status_of(later) == BookingStatus.WAITLISTED


def queue(make, capacity, first_seats, parties):
    """A date holding two places for wheelchair users, full for everyone else, and its
    queue: ``parties`` are (email, seats, wheelchair)."""
    occurrence = make.occurrence(
        capacity=capacity,
        waitlist=True,
        max_seats_per_booking=4,
        wheelchair_spaces=2,
        wheelchair_release_hours=24,
    )
    first = book(occurrence, "first@example.org", seats=first_seats)
    waiting = [book(occurrence, e, seats=s, wheelchair=w) for e, s, w in parties]
    assert {status_of(b) for b in waiting} == {BookingStatus.WAITLISTED}
    return first, waiting


def test_held_places_stay_for_wheelchair_users_while_the_queue_moves_on(make):
    # 4 places, 2 held: once the first party goes, 4 are free of which 2 are held
    first, (one, pair, wheelchair, last) = queue(
        make,
        4,
        2,
        [
            ("one@example.org", 1, False),
            ("pair@example.org", 2, False),  # needs a held place: waits
            ("wheelchair@example.org", 2, True),  # one held place and one seat
            ("last@example.org", 1, False),  # only a held place is left: waits
        ],
    )
    rules.cancel_by_organiser(first.id)
    assert [status_of(b) for b in (one, pair, wheelchair, last)] == [
        "confirmed",
        "waitlisted",
        "confirmed",
        "waitlisted",
    ]
    # 5 places, 2 held: a wheelchair user's party takes one, the other stays held
    first, (one, wheelchair, last) = queue(
        make,
        5,
        3,
        [
            ("one@example.org", 1, False),
            ("wheelchair@example.org", 2, True),
            ("last@example.org", 1, False),  # the seat left beside the one still held
        ],
    )
    rules.cancel_by_organiser(first.id)
    assert [status_of(b) for b in (one, wheelchair, last)] == ["confirmed"] * 3
    occurrence = db.session.get(Occurrence, first.occurrence_id)
    assert rules.held_left(occurrence) == 1  # "1 place held for wheelchair users"


# --- approvals ---------------------------------------------------------------------------


def test_an_approved_wheelchair_request_takes_the_held_place_and_once_released_anyones_can(make):
    occurrence, released = held_place_date(make, requires_approval=True, waitlist=False)
    wheelchair = book(occurrence, "wheelchair@example.org", seats=2, wheelchair=True)
    rules.approve(wheelchair.id)  # one held place and one ordinary seat
    assert status_of(wheelchair) == BookingStatus.CONFIRMED

    other, released = held_place_date(make, requires_approval=True, waitlist=False)
    party = book(other, "party@example.org", seats=2)
    with pytest.raises(OccurrenceFull):
        rules.approve(party.id)  # one of the two places is held
    rules.approve(party.id, now=released)
    assert status_of(party) == BookingStatus.CONFIRMED


def test_an_approved_request_cancelled_later_takes_the_date_out_of_the_persons_calendar(app, make):
    occurrence = make.occurrence(capacity=4, requires_approval=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence, "candidate@example.org")
    rules.approve(booking.id, actor=organiser)  # as the organiser area does: no time given
    rules.cancel_by_organiser(booking.id, actor=organiser, reason="Annulé")
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.booking_id == booking.id)
        .order_by(OutboxMessage.id)
    )
    assert [(m.kind, m.ics_method) for m in rows] == [
        ("pending", None),
        ("approved", "PUBLISH"),
        ("cancelled_by_organiser", "CANCEL"),
    ]
    assert [(u, d["by"], d["override_capacity"]) for u, d in logged("booking.approved")] == [
        (organiser.id, "organiser", False)
    ]


def test_the_attendee_list_tells_when_each_person_was_approved_declined_or_cancelled(
    app, make, client
):
    occurrence = make.occurrence(capacity=4, requires_approval=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    headers = {"Authorization": f"Bearer {issue_api_token(organiser)}"}
    approved = book(occurrence, "approved@example.org")
    declined = book(occurrence, "declined@example.org")
    left = book(occurrence, "left@example.org")
    pending = book(occurrence, "pending@example.org")
    before = utcnow() - timedelta(seconds=1)

    for reference, action in ((approved.reference, "approve"), (declined.reference, "reject")):
        response = client.post(f"{API}/bookings/{reference}/{action}", headers=headers)
        assert response.status_code == 200, response.json
    rules.approve(left.id, actor=organiser)
    rules.cancel_by_organiser(left.id, actor=organiser, reason="Erreur")  # as the form does
    response = client.patch(
        f"{API}/occurrences/{occurrence.id}",
        json={"status": "cancelled", "cancel_reason": "Salle inondée"},
        headers=headers,
    )
    assert response.status_code == 200, response.json

    listed = client.get(f"{API}/occurrences/{occurrence.id}/attendees", headers=headers).json
    shown = {a["email"]: a for a in listed}

    def moment(email: str, key: str) -> datetime:
        value = datetime.fromisoformat(shown[email][key])
        assert before <= value <= utcnow(), (email, key, value)
        return value

    moment("approved@example.org", "confirmed_at")
    moment("left@example.org", "confirmed_at")
    for email in ("approved@example.org", "declined@example.org", "left@example.org"):
        moment(email, "cancelled_at")
    moment(pending.email, "cancelled_at")  # ended by the date's cancellation
    assert {a["email"]: a["status"] for a in listed} == {
        "approved@example.org": "cancelled",
        "declined@example.org": "rejected",
        "left@example.org": "cancelled",
        "pending@example.org": "cancelled",
    }


# --- capacity ---------------------------------------------------------------------------


def test_capacity_may_come_down_to_zero_or_to_exactly_the_seats_confirmed(make):
    nobody_yet = make.occurrence(capacity=5)
    assert rules.set_capacity(nobody_yet.id, 0).capacity == 0  # no more bookings here
    with pytest.raises(CapacityBelowBookings) as error:
        rules.set_capacity(nobody_yet.id, -1)
    assert error.value.confirmed == 0  # "0 places are already confirmed"

    occurrence = make.occurrence(capacity=5, max_seats_per_booking=4)
    book(occurrence, "a@example.org", seats=3)
    assert rules.set_capacity(occurrence.id, 3).capacity == 3
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).capacity == 3
    assert [(d["before"], d["after"]) for _u, d in logged("occurrence.capacity_changed")] == [
        (5, 0),
        (5, 3),
    ]


def test_a_lower_capacity_is_checked_against_seats_booked_meanwhile_by_others(app, make):
    occurrence = make.occurrence(capacity=4, max_seats_per_booking=4)
    oid = occurrence.id
    book(occurrence, "a@example.org")  # this session now holds the date as it saw it

    def someone_else_books():
        with app.app_context():
            try:
                rules.book(oid, rules.BookingRequest(name="B", email="b@example.org", seats=2))
            finally:
                db.session.remove()

    worker = threading.Thread(target=someone_else_books)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    with pytest.raises(CapacityBelowBookings) as error:
        rules.set_capacity(oid, 2)
    assert error.value.confirmed == 3  # "3 places are already confirmed"


def test_an_organisers_change_does_not_wait_for_a_booking_being_written_on_the_date(
    app, make, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite has no row locks: every writer waits for the database's")
    oid = make.occurrence(capacity=4).id
    holder = db.engine.connect()
    # the lock a booking's insert takes on its date (the foreign key), until it commits
    holder.execute(text("SELECT id FROM occurrence WHERE id = :id FOR KEY SHARE"), {"id": oid})
    done: list[int] = []

    def raise_the_capacity():
        with app.app_context():
            try:
                done.append(rules.set_capacity(oid, 6).capacity)
            finally:
                db.session.remove()

    worker = threading.Thread(target=raise_the_capacity)
    try:
        worker.start()
        # the booking's lock is held until the end of the test: a change that waited for it
        # would never finish, so a generous deadline tells the two apart on a busy machine
        worker.join(timeout=60)
        assert not worker.is_alive(), "the change waited for the booking"
        assert done == [6]
    finally:
        holder.rollback()
        holder.close()
        worker.join(timeout=30)


# --- seats changed by the organiser or the attendee ---------------------------------------


def test_an_organiser_adding_seats_never_takes_a_held_place_until_it_is_released(make):
    occurrence, released = held_place_date(make, capacity=3, waitlist=False)
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence, "a@example.org")
    with pytest.raises(OccurrenceFull):
        rules.change_seats(booking.id, 3, actor=organiser)  # the third place is held
    assert rules.change_seats(booking.id, 3, actor=organiser, now=released).seats == 3
    assert status_of(booking) == BookingStatus.CONFIRMED


def test_the_attendee_cannot_reduce_at_the_very_moment_the_deadline_falls(make):
    occurrence = make.occurrence(capacity=5, max_seats_per_booking=4, cancellation_deadline_hours=2)
    booking = book(occurrence, "a@example.org", seats=3)
    deadline = cancellation_deadline(occurrence)
    with pytest.raises(CancellationClosed):
        rules.change_seats(booking.id, 2, now=deadline)
    assert rules.change_seats(booking.id, 2, now=deadline - timedelta(seconds=1)).seats == 2


def test_the_audit_log_tells_an_attendees_own_change_from_an_organisers_and_names_the_date(
    make,
):
    occurrence = make.occurrence(capacity=5, max_seats_per_booking=4)
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence, "a@example.org", seats=3)
    rules.change_seats(booking.id, 2)  # from their own page
    rules.change_seats(booking.id, 4, actor=organiser)  # on the phone to the organiser
    changes = entries("booking.seats_changed")
    assert [
        (e.user_id, e.organisation_id, e.details["by"], e.details["occurrence_id"]) for e in changes
    ] == [
        (None, occurrence.event.organisation_id, "attendee", occurrence.id),
        (organiser.id, occurrence.event.organisation_id, "organiser", occurrence.id),
    ]


# --- check-in --------------------------------------------------------------------------


def test_arrivals_and_their_undoing_are_logged_in_the_organisers_name(make):
    occurrence = make.occurrence()
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = book(occurrence, "a@example.org")
    rules.check_in(booking.id, actor=organiser)
    rules.check_in(booking.id, actor=organiser, undo=True)
    for action in ("booking.checked_in", "booking.check_in_undone"):
        assert [(u, d["by"], d["reference"]) for u, d in logged(action)] == [
            (organiser.id, "organiser", booking.reference)
        ]


# --- cancelling a date ------------------------------------------------------------------


def test_cancelling_a_moved_date_tells_everyone_in_booking_order_and_logs_why(make):
    occurrence = make.occurrence(capacity=1, waitlist=True, sequence=2)  # moved twice
    organiser = make.user(organisation=occurrence.event.organisation)
    book(occurrence, "first@example.org")
    book(occurrence, "waiting@example.org")
    book(occurrence, "squeezed@example.org", actor=organiser, override_capacity=True)
    sent = len(emails())

    rules.cancel_occurrence(occurrence.id, "Salle inondée", actor=organiser)
    assert emails()[sent:] == [
        ("occurrence_cancelled", "first@example.org"),
        ("occurrence_cancelled", "waiting@example.org"),
        ("occurrence_cancelled", "squeezed@example.org"),
    ]
    first = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "occurrence_cancelled")
    ).first()
    email = render(first)
    assert "Salle inondée" in email.text
    assert "SEQUENCE:3" in email.ics  # replaces the version calendars hold
    assert [
        (u, d["by"], d["reason"], d["bookings_cancelled"])
        for u, d in logged("occurrence.cancelled")
    ] == [(organiser.id, "organiser", "Salle inondée", 3)]


def test_a_date_cancelled_without_a_reason_states_none(make, client):
    occurrence = make.occurrence(capacity=3)
    organiser = make.user(organisation=occurrence.event.organisation)
    book(occurrence, "a@example.org")
    rules.cancel_occurrence(occurrence.id, "", actor=organiser)

    page = client.get(f"/events/{occurrence.event.slug}").get_data(as_text=True)
    row = page.split(f'id="occurrence-{occurrence.id}"', 1)[1].split("</li>", 1)[0]
    assert "is-cancelled" in page and '<p class="note">' not in row
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "occurrence_cancelled")
    ).one()
    lead = render(message).text.splitlines()[2]
    assert line_after(render(message).text, lead) == occurrence.event.title
    assert [(u, d["by"], d["reason"]) for u, d in logged("occurrence.cancelled")] == [
        (organiser.id, "organiser", "")
    ]


# --- flask seats check ------------------------------------------------------------------


def test_seats_check_looks_at_each_date_apart_and_the_fix_is_in_the_audit_log(make, runner):
    event = make.event()
    wrong, right, also_wrong = (
        make.occurrence(capacity=4, event=event, max_seats_per_booking=4) for _ in range(3)
    )
    book(also_wrong, "c@example.org", seats=2)
    book(right, "b@example.org", seats=2)
    book(wrong, "a@example.org", seats=3)  # the date changed last
    result = runner.invoke(args=["seats", "check"])
    assert result.exit_code == 0, result.output  # each date's counter is its own bookings'

    db.session.execute(
        update(Booking).where(Booking.email.in_(["a@example.org", "c@example.org"])).values(seats=1)
    )
    db.session.commit()
    result = runner.invoke(args=["seats", "check", "--fix"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [  # in the dates' order, whatever changed last
        f"occurrence {wrong.id}: counter 3, confirmed bookings 1, capacity 4 (fixed)",
        f"occurrence {also_wrong.id}: counter 2, confirmed bookings 1, capacity 4 (fixed)",
        "2 occurrence(s) with a wrong seat counter",
    ]
    result = runner.invoke(args=["seats", "check"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Occurrence, wrong.id).seats_taken == 1
    assert [(e.user_id, e.object_id, e.details) for e in entries("occurrence.seats_fixed")] == [
        (None, wrong.id, {"by": "seats check", "before": 3, "after": 1}),
        (None, also_wrong.id, {"by": "seats check", "before": 2, "after": 1}),
    ]
