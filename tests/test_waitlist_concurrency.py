"""Cancellations, seat changes and bookings at the same instant move the waiting list exactly."""

from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage

from .test_concurrency import run_at_once


def book(occurrence_id, email, seats=1, **kw):
    request = rules.BookingRequest(name=email.split("@")[0], email=email, seats=seats, **kw)
    return rules.book(occurrence_id, request).booking


def statuses(emails):
    db.session.expire_all()
    rows = db.session.execute(
        select(Booking.email, Booking.status).where(Booking.email.in_(emails))
    )
    found = dict(rows.all())
    return [found[e] for e in emails]


def promoted_emails():
    return db.session.scalar(
        select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "promoted")
    )


def test_concurrent_cancellations_promote_exactly_the_first_in_line(app, make):
    occurrence_id = make.occurrence(capacity=8, waitlist=True).id
    holders = [book(occurrence_id, f"holder{i}@example.org") for i in range(8)]
    queue = [f"queue{i}@example.org" for i in range(10)]
    for email in queue:
        assert book(occurrence_id, email).status == "waitlisted"
    holder_ids = [b.id for b in holders]

    outcomes, errors = run_at_once(app, lambda i: rules.cancel_by_attendee(holder_ids[i]).status, 6)
    assert errors == [] and outcomes == ["cancelled"] * 6
    assert statuses(queue) == ["confirmed"] * 6 + ["waitlisted"] * 4
    assert rules.seats_taken(occurrence_id) == 8
    assert promoted_emails() == 6  # each promoted person told once


def test_cancellations_racing_new_bookings_never_let_newcomers_jump_the_queue(app, make):
    occurrence_id = make.occurrence(capacity=6, waitlist=True).id
    holder_ids = [book(occurrence_id, f"holder{i}@example.org").id for i in range(6)]
    queue = [f"queue{i}@example.org" for i in range(4)]
    for email in queue:
        book(occurrence_id, email)

    def work(i):
        if i % 2 == 0:
            return rules.cancel_by_attendee(holder_ids[i // 2]).status
        return book(occurrence_id, f"late{i}@example.org").status

    outcomes, errors = run_at_once(app, work, 8)  # 4 cancellations, 4 newcomers
    assert errors == []
    assert outcomes.count("cancelled") == 4
    assert statuses(queue) == ["confirmed"] * 4  # the queue first
    assert outcomes.count("waitlisted") == 4  # newcomers behind it
    assert rules.seats_taken(occurrence_id) == 6


def test_concurrent_seat_reductions_and_a_capacity_rise_fill_exactly_the_capacity(app, make):
    occurrence = make.occurrence(capacity=10, waitlist=True, max_seats_per_booking=5)
    occurrence_id = occurrence.id
    organiser = make.user(organisation=occurrence.event.organisation)
    organiser_id = organiser.id
    holder_ids = [book(occurrence_id, f"holder{i}@example.org", seats=5).id for i in range(2)]
    queue = [f"queue{i}@example.org" for i in range(8)]
    for email in queue:
        book(occurrence_id, email, seats=2)

    def work(i):
        if i < 2:
            return rules.change_seats(holder_ids[i], 1).seats  # frees 4 + 4
        from calendrier.models import User

        actor = db.session.get(User, organiser_id)
        return rules.set_capacity(occurrence_id, 14, actor=actor).capacity  # frees 4 more

    outcomes, errors = run_at_once(app, work, 3)
    assert errors == [] and sorted(outcomes) == [1, 1, 14]
    assert rules.seats_taken(occurrence_id) == 14  # 1 + 1 + six parties of 2
    assert statuses(queue) == ["confirmed"] * 6 + ["waitlisted"] * 2


def test_a_double_submitted_form_creates_one_booking(app, make):
    occurrence = make.occurrence(capacity=10)
    slug, occurrence_id = occurrence.event.slug, occurrence.id
    # One browser's page: the submission key is tied to its session cookie (issue 17).
    browser = app.test_client()
    browser.get(f"/events/{slug}")
    cookie = browser.get_cookie("session").value

    def post(i):
        client = app.test_client()
        client.set_cookie("session", cookie)
        response = client.post(
            f"/events/{slug}",
            data={
                "occurrence": occurrence_id,
                "name": "Ana Martin",
                "email": "ana@example.org",
                "seats": 2,
                "consent": "y",
                "submission": "one-page-sent-six-times",
            },
        )
        return response.status_code

    outcomes, errors = run_at_once(app, post, 6)
    assert errors == [] and outcomes == [302] * 6
    assert db.session.scalar(select(func.count(Booking.id))) == 1
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1
    assert rules.seats_taken(occurrence_id) == 2


def test_retried_requests_with_one_idempotency_key_create_one_booking(app, make):
    occurrence_id = make.occurrence(capacity=10).id

    def retry(i):
        # a client retrying with different spellings of the same person and one key
        return book(occurrence_id, f"ana{i}@example.org", idempotency_key="key-1").id

    outcomes, errors = run_at_once(app, retry, 6)
    assert errors == [] and len(set(outcomes)) == 1
    assert db.session.scalar(select(func.count(Booking.id))) == 1
