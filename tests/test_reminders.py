"""`flask mail reminders`: one reminder per confirmed booking starting within a day, never twice."""

from datetime import timedelta

from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox, reminders
from calendrier.extensions import db
from calendrier.models import OutboxMessage
from calendrier.timeutil import utcnow

from .test_concurrency import run_at_once


def book(occurrence, email, seats=1):
    request = rules.BookingRequest(name="Ana", email=email, seats=seats)
    return rules.book(occurrence.id, request).booking


def reminded():
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
    return sorted(m.recipient for m in rows)


def soon(make, hours=20, **kw):
    return make.occurrence(starts_at=utcnow().replace(microsecond=0) + timedelta(hours=hours), **kw)


def test_only_confirmed_bookings_starting_within_a_day_are_reminded(make):
    tomorrow = soon(make, capacity=1, waitlist=True)
    book(tomorrow, "confirmed@example.org")
    book(tomorrow, "waiting@example.org")
    cancelled = book(soon(make), "cancelled@example.org")
    rules.cancel_by_attendee(cancelled.id)
    book(soon(make, requires_approval=True), "pending@example.org")
    book(soon(make, hours=30), "later@example.org")
    dropped = soon(make)
    book(dropped, "dropped@example.org")
    rules.cancel_occurrence(dropped.id, "")
    started = make.occurrence(starts_at=utcnow() + timedelta(hours=2))
    book(started, "started@example.org")

    # two hours later the second one has started: it is not reminded
    count = reminders.queue_reminders(now=utcnow() + timedelta(hours=2, minutes=1))
    assert count == 1
    assert reminded() == ["confirmed@example.org"]


def test_a_second_run_queues_nothing_and_the_command_says_so(runner, make):
    tomorrow = soon(make)
    book(tomorrow, "a@example.org")
    book(tomorrow, "b@example.org")
    first = runner.invoke(args=["mail", "reminders"])
    assert first.exit_code == 0 and "queued 2 reminder(s)" in first.output
    second = runner.invoke(args=["mail", "reminders"])
    assert "queued 0 reminder(s)" in second.output
    assert reminded() == ["a@example.org", "b@example.org"]


def test_even_after_delivery_a_reminder_is_never_sent_twice(smtp, make):
    book(soon(make), "a@example.org")
    reminders.queue_reminders()
    outbox.deliver_all()
    assert reminders.queue_reminders() == 0
    outbox.deliver_all()
    assert [m["Subject"].split(" :")[0] for m in smtp.messages] == [
        "Réservation confirmée",
        "Rappel",
    ]


def test_someone_promoted_later_is_reminded_on_the_next_run(make):
    tomorrow = soon(make, capacity=1, waitlist=True)
    first = book(tomorrow, "first@example.org")
    book(tomorrow, "second@example.org")
    reminders.queue_reminders()
    rules.cancel_by_attendee(first.id)
    assert reminders.queue_reminders() == 1
    assert reminded() == ["second@example.org"]  # the cancelled one's reminder was dropped


def test_reminder_runs_at_the_same_time_queue_each_reminder_once(app, make):
    tomorrow = soon(make, capacity=30)
    for i in range(12):
        book(tomorrow, f"p{i}@example.org")

    outcomes, errors = run_at_once(app, lambda i: reminders.queue_reminders(), 4)
    assert errors == []
    assert sum(outcomes) == 12
    assert (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "reminder")
        )
        == 12
    )
