"""The occurrence's seat counter: kept by the booking rules, refused by the database when
it would overbook, compared with the bookings by ``flask seats check``."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import IntegrityError

from calendrier.domain import bookings as rules
from calendrier.domain import privacy, questions
from calendrier.domain.errors import BookingClosed, OccurrenceFull
from calendrier.extensions import db
from calendrier.models import Answer, AuditEntry, Booking, Occurrence, OutboxMessage

from .interleave import meanwhile


def person(n: int, seats: int = 1) -> rules.BookingRequest:
    return rules.BookingRequest(name=f"P{n}", email=f"p{n}@example.org", seats=seats)


def counter(occurrence_id: int) -> tuple[int, int]:
    db.session.expire_all()
    occurrence = db.session.get(Occurrence, occurrence_id)
    return occurrence.seats_taken, occurrence.seats_over_capacity


def assert_counts(occurrence_id: int, taken: int, over: int = 0) -> None:
    assert counter(occurrence_id) == (taken, over)
    assert rules.seats_taken(occurrence_id) == taken  # the bookings say the same
    assert rules.seat_mismatches() == []


def test_every_rule_that_moves_seats_moves_the_counter(app, make):
    occurrence = make.occurrence(capacity=4, waitlist=True, max_seats_per_booking=4)
    oid = occurrence.id
    first = rules.book(oid, person(1, 2)).booking
    second = rules.book(oid, person(2, 2)).booking
    waiting = rules.book(oid, person(3, 1)).booking
    assert waiting.status == "waitlisted"
    assert_counts(oid, 4)

    rules.change_seats(first.id, 1)  # a seat freed: the waiting person takes it
    assert db.session.get(Booking, waiting.id).status == "confirmed"
    assert_counts(oid, 4)

    rules.cancel_by_attendee(second.id)
    assert_counts(oid, 2)
    organiser = make.user(organisation=occurrence.event.organisation)
    rules.change_seats(first.id, 3, actor=organiser)
    assert_counts(oid, 4)
    with pytest.raises(OccurrenceFull):
        rules.change_seats(first.id, 4, actor=organiser)
    assert_counts(oid, 4)

    rules.set_capacity(oid, 6)
    late = rules.book(oid, person(4, 2)).booking
    assert late.status == "confirmed"
    assert_counts(oid, 6)

    rules.cancel_by_organiser(late.id, actor=organiser)
    assert_counts(oid, 4)
    rules.cancel_occurrence(oid, "Storm")
    assert_counts(oid, 0)


def test_approvals_take_seats_only_when_approved(app, make):
    occurrence = make.occurrence(capacity=3, requires_approval=True)
    oid = occurrence.id
    asked = rules.book(oid, person(1, 2)).booking
    other = rules.book(oid, person(2, 2)).booking
    assert_counts(oid, 0)
    rules.approve(asked.id)
    assert_counts(oid, 2)
    with pytest.raises(OccurrenceFull):
        rules.approve(other.id)
    rules.approve(other.id, override_capacity=True)
    assert_counts(oid, 4, over=1)
    rules.reject(rules.book(oid, person(3)).booking.id)
    assert_counts(oid, 4, over=1)


def test_seats_squeezed_in_by_an_organiser_are_the_first_to_go(app, make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    oid = occurrence.id
    rules.book(oid, person(1, 2))
    organiser = make.user(organisation=occurrence.event.organisation)
    squeezed = rules.book(oid, person(2, 3), actor=organiser, override_capacity=True).booking
    assert_counts(oid, 5, over=3)
    waiting = rules.book(oid, person(3, 1)).booking
    assert waiting.status == "waitlisted"
    rules.change_seats(squeezed.id, 2, actor=organiser)  # still beyond the capacity
    assert db.session.get(Booking, waiting.id).status == "waitlisted"
    assert_counts(oid, 4, over=2)
    rules.set_capacity(oid, 5)  # one seat free at last: it goes to the waiting person
    assert db.session.get(Booking, waiting.id).status == "confirmed"
    assert_counts(oid, 5)


def test_erasure_frees_the_seats_of_the_person(app, make):
    occurrence = make.occurrence(capacity=3, waitlist=True, max_seats_per_booking=3)
    oid = occurrence.id
    rules.book(oid, person(1, 3))
    waiting = rules.book(oid, person(2, 2)).booking
    privacy.erase("p1@example.org")
    assert db.session.get(Booking, waiting.id).status == "confirmed"
    assert_counts(oid, 2)


def test_the_database_refuses_an_overbooking(app, make):
    occurrence = make.occurrence(capacity=2)
    with pytest.raises(IntegrityError):
        db.session.execute(
            update(Occurrence).where(Occurrence.id == occurrence.id).values(seats_taken=3)
        )
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(
            update(Occurrence).where(Occurrence.id == occurrence.id).values(seats_taken=-1)
        )
    db.session.rollback()


def test_seats_check_reports_and_fixes_a_wrong_counter(app, make, runner):
    occurrence = make.occurrence(capacity=4, waitlist=True, max_seats_per_booking=4)
    oid = occurrence.id
    rules.book(oid, person(1, 4))
    waiting = rules.book(oid, person(2, 1)).booking
    other = make.occurrence(capacity=5).id  # another date's bookings are not this one's
    rules.book(other, person(3, 1))
    result = runner.invoke(args=["seats", "check"])
    assert result.exit_code == 0, result.output
    assert "every seat counter matches" in result.output

    # a bug, or a hand-made change in the database: the counter says 4, the bookings 2
    db.session.execute(update(Booking).where(Booking.email == "p1@example.org").values(seats=2))
    db.session.commit()
    result = runner.invoke(args=["seats", "check"])
    assert result.exit_code == 1
    assert f"occurrence {oid}: counter 4, confirmed bookings 2, capacity 4" in result.output

    result = runner.invoke(args=["seats", "check", "--fix"])
    assert "(fixed)" in result.output
    assert db.session.get(Booking, waiting.id).status == "confirmed"  # a freed seat goes on
    assert_counts(oid, 3)
    assert_counts(other, 1)
    assert runner.invoke(args=["seats", "check"]).exit_code == 0


def statements_of(work) -> list[str]:
    """The SQL statements ``work`` sends, in order (the test's own engine)."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()).upper())

    def commit(_conn):
        sent.append("COMMIT")

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", commit)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "commit", commit)
    return sent


def test_a_booking_in_a_rush_holds_the_lock_for_one_statement_and_the_commit(
    app, make, is_postgres
):
    oid = make.occurrence(capacity=5).id
    db.session.commit()
    sent = statements_of(lambda: rules.book(oid, person(1)))
    assert not any("FOR UPDATE" in s or "FOR NO KEY UPDATE" in s for s in sent), sent
    updates = [i for i, s in enumerate(sent) if "UPDATE OCCURRENCE" in s]
    assert len(updates) == 1
    # the seats are taken by the last statement, then the commit
    assert sent[updates[0] + 1 :] == ["COMMIT"], sent
    assert "SEATS_TAKEN + " in sent[updates[0]] and "<= OCCURRENCE.CAPACITY" in sent[updates[0]]
    if is_postgres:
        # one read, then the seats, the booking, its email and its audit entry in one
        # statement whose first part takes the seats: nothing is written if they do not fit
        assert len(sent) == 3 and sent[0].startswith("SELECT"), sent
        write = sent[1]
        assert write.startswith("WITH TAKEN AS (UPDATE OCCURRENCE"), write
        for table in ("BOOKING", "OUTBOX", "AUDIT_LOG"):
            assert f"INSERT INTO {table} " in write
    else:
        # the inserts come first, side by side with everyone else's
        inserts = [s.split()[2] for s in sent[: updates[0]] if s.startswith("INSERT")]
        assert sorted(inserts) == ["AUDIT_LOG", "BOOKING", "OUTBOX"], sent
    assert_counts(oid, 1)
    booking = db.session.scalars(select(Booking).where(Booking.occurrence_id == oid)).one()
    assert booking.status == "confirmed" and booking.email == "p1@example.org"
    email = db.session.scalars(select(OutboxMessage).where(OutboxMessage.booking_id == booking.id))
    assert [(m.kind, m.recipient, m.ics_method) for m in email] == [
        ("confirmed", "p1@example.org", "PUBLISH")
    ]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.object_id == booking.id)).one()
    assert (entry.action, entry.details["reference"]) == ("booking.created", booking.reference)


def test_a_full_date_is_a_409_from_one_read(app, make):
    oid = make.occurrence(capacity=1).id
    rules.book(oid, person(1))
    db.session.commit()
    refused = []

    def book_on_a_full_date():
        try:
            rules.book(oid, person(2))
        except OccurrenceFull:
            refused.append(True)

    sent = statements_of(book_on_a_full_date)
    assert refused == [True]
    # the date, read without a lock (the address's count and the questions' presence are
    # columns of that read); no write
    reads = [s for s in sent if s.startswith("SELECT")]
    assert len(reads) == 1 and "FROM OCCURRENCE" in reads[0], sent
    assert not any(s.startswith(("INSERT", "UPDATE")) or "FOR UPDATE" in s for s in sent)
    assert_counts(oid, 1)


def test_a_full_date_answers_without_waiting_for_its_lock(app, make, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has no row locks: every writer waits for the database's")
    occurrence = make.occurrence(capacity=1)
    oid = occurrence.id
    rules.book(oid, person(1))
    db.session.commit()
    holder = db.engine.connect()
    holder.execute(text("SELECT id FROM occurrence WHERE id = :id FOR UPDATE"), {"id": oid})
    outcome: list[object] = []

    def attempt():
        with app.app_context():
            try:
                rules.book(oid, person(2))
            except OccurrenceFull as error:
                outcome.append(error)
            finally:
                db.session.remove()

    worker = threading.Thread(target=attempt)
    try:
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the full date waited for the lock"
        assert isinstance(outcome[0], OccurrenceFull)
    finally:
        holder.rollback()
        holder.close()
        worker.join(timeout=30)


def test_seats_taken_between_the_read_and_the_write_leave_nothing_half_written(
    app, make, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite serialises every writer: no booking comes between the two")
    oid = make.occurrence(capacity=1, waitlist=True).id
    db.session.commit()
    # the last seat goes to another person after this booking read the date as free
    with meanwhile(app, "WITH taken", lambda: rules.book(oid, person(2))) as other:
        late = rules.book(oid, person(1))
    assert other[0].booking.status == "confirmed"
    assert late.booking.status == "waitlisted"  # decided again under the lock
    assert_counts(oid, 1)
    db.session.expire_all()
    emails = db.session.execute(
        select(OutboxMessage.recipient, OutboxMessage.kind).order_by(OutboxMessage.id)
    ).all()
    assert emails == [("p2@example.org", "confirmed"), ("p1@example.org", "waitlisted")]
    entries = db.session.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "booking.created")
    ).all()
    assert sorted(e["status"] for e in entries) == ["confirmed", "waitlisted"]


def test_seats_taken_before_a_booking_with_answers_takes_them_send_it_to_the_waiting_list(
    app, make, is_postgres
):
    """A booking with answers is written by the ORM, then takes its seats by the conditional
    UPDATE: when the last seat went meanwhile, that UPDATE takes nothing and the booking is
    decided again under the lock, not refused by the database's CHECK."""
    if not is_postgres:
        pytest.skip("SQLite serialises every writer: no booking comes between the two")
    occurrence = make.occurrence(capacity=1, waitlist=True)
    employer = questions.create_question(occurrence.event_id, label="Employeur", type="text")
    oid = occurrence.id
    db.session.commit()
    request = person(1)
    request.answers = {str(employer.id): "Studio Folimage"}
    # the last seat goes to another person after this booking was written
    with meanwhile(app, "UPDATE occurrence", lambda: rules.book(oid, person(2))) as other:
        late = rules.book(oid, request)
    assert other[0].booking.status == "confirmed"
    assert late.booking.status == "waitlisted"
    assert_counts(oid, 1)
    db.session.expire_all()
    kept = db.session.scalars(select(Answer.value).where(Answer.booking_id == late.booking.id))
    assert list(kept) == ["Studio Folimage"]


def test_a_date_cancelled_before_a_booking_with_answers_takes_its_seats_refuses_it(
    app, make, is_postgres
):
    """The same moment, but the organiser cancelled the date: the UPDATE takes no seat on a
    cancelled date, and the booking is refused as closed with nothing of it kept."""
    if not is_postgres:
        pytest.skip("SQLite serialises every writer: no change comes between the two")
    occurrence = make.occurrence(capacity=5)
    employer = questions.create_question(occurrence.event_id, label="Employeur", type="text")
    oid = occurrence.id
    db.session.commit()
    request = person(1)
    request.answers = {str(employer.id): "Studio Folimage"}

    def cancel():
        return rules.cancel_occurrence(oid, "Salle inondée")

    with meanwhile(app, "UPDATE occurrence", cancel), pytest.raises(BookingClosed):
        rules.book(oid, request)
    assert_counts(oid, 0)
    db.session.expire_all()
    assert db.session.scalars(select(Booking).where(Booking.occurrence_id == oid)).all() == []


def test_the_same_person_booking_twice_at_once_is_answered_with_the_one_booking(
    app, make, is_postgres
):
    """Two submissions of the same form (a double tap on two connections): the second was
    checked for an existing booking before the first was written, and the unique index
    refuses its row. It is answered with the first one's booking, not an error."""
    if not is_postgres:
        pytest.skip("SQLite serialises every writer: no booking comes between the two")
    oid = make.occurrence(capacity=5).id
    db.session.commit()
    with meanwhile(app, "WITH taken", lambda: rules.book(oid, person(1))) as other:
        again = rules.book(oid, person(1))
    first = other[0]
    assert first.created and not again.created
    assert again.booking.id == first.booking.id
    assert again.booking.email == "p1@example.org" and again.booking.status == "confirmed"
    assert_counts(oid, 1)
    db.session.expire_all()
    assert db.session.scalars(select(OutboxMessage.recipient)).all() == ["p1@example.org"]
