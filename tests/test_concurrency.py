"""Many people press "book" on the last places at the same instant."""

import threading

from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain.errors import OccurrenceFull
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage

THREADS = 24


def run_at_once(app, work, count):
    db.session.commit()  # the test's own session must not hold a transaction meanwhile
    barrier = threading.Barrier(count)
    outcomes, errors = [], []

    def worker(i):
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(work(i))
            except Exception as error:  # collected and checked by the test
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running after two minutes: {stuck}"
    assert len(outcomes) + len(errors) == count, (outcomes, errors)  # every one came back
    return outcomes, errors


def test_threads_booking_the_last_seats_confirm_exactly_the_capacity(app, make):
    occurrence = make.occurrence(capacity=7)
    occurrence_id = occurrence.id

    def book(i):
        request = rules.BookingRequest(name=f"P{i}", email=f"p{i}@example.org", seats=1)
        return rules.book(occurrence_id, request).booking.status

    outcomes, errors = run_at_once(app, book, THREADS)
    assert outcomes.count("confirmed") == 7, errors[:3]
    assert len(errors) == THREADS - 7
    assert all(isinstance(e, OccurrenceFull) for e in errors), errors
    assert rules.seats_taken(occurrence_id) == 7
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 7


def test_threads_posting_the_form_never_overbook(app, make):
    occurrence = make.occurrence(capacity=5, max_seats_per_booking=2)
    slug, occurrence_id = occurrence.event.slug, occurrence.id

    def post(i):
        response = app.test_client().post(
            f"/events/{slug}",
            data={
                "occurrence": occurrence_id,
                "name": f"Personne {i}",
                "email": f"personne{i}@example.org",
                "seats": 2,
                "consent": "y",
            },
        )
        return response.status_code

    outcomes, errors = run_at_once(app, post, 12)
    assert errors == []
    assert outcomes.count(302) == 2  # 2 + 2 seats; a third pair would exceed 5
    assert set(outcomes) <= {302, 422}
    assert rules.seats_taken(occurrence_id) == 4
    assert db.session.scalar(select(func.count(Booking.id))) == 2


def test_one_email_pressing_book_from_several_devices_gets_one_booking(app, make):
    occurrence_id = make.occurrence(capacity=10).id

    def book(i):
        request = rules.BookingRequest(name="Ana", email=" Ana@Example.org", seats=2)
        result = rules.book(occurrence_id, request)
        return result.booking.id, result.created

    outcomes, errors = run_at_once(app, book, 6)
    assert errors == []
    assert len({booking_id for booking_id, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False] * 5 + [True]
    assert rules.seats_taken(occurrence_id) == 2
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1


def test_a_rush_racing_organiser_changes_neither_deadlocks_nor_overbooks(app, make):
    occurrence = make.occurrence(capacity=6, max_seats_per_booking=2)
    occurrence_id = occurrence.id
    organiser_id = make.user(organisation=occurrence.event.organisation).id
    early = [
        rules.book(
            occurrence_id, rules.BookingRequest(name=f"E{i}", email=f"e{i}@example.org", seats=1)
        ).booking.id
        for i in range(2)
    ]

    def work(i):
        from calendrier.models import User

        actor = db.session.get(User, organiser_id)
        if i == 0:
            return rules.set_capacity(occurrence_id, 9, actor=actor).capacity
        if i < 3:
            return rules.cancel_by_organiser(early[i - 1], actor=actor).status
        request = rules.BookingRequest(name=f"P{i}", email=f"p{i}@example.org", seats=1)
        return rules.book(occurrence_id, request).booking.status

    outcomes, errors = run_at_once(app, work, THREADS)
    assert all(isinstance(e, OccurrenceFull) for e in errors), errors  # no deadlock, no 500
    assert outcomes.count("cancelled") == 2
    # whatever the order: never more than the capacity, and every seat is someone's answer
    assert rules.seats_taken(occurrence_id) == outcomes.count("confirmed") <= 9
