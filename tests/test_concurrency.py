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
