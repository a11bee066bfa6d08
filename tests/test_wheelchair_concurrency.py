"""Ordinary and wheelchair bookings racing for the last places, on both databases.

Held places never go to someone who did not ask for one, and no seat is sold twice.
"""

from __future__ import annotations

from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain.errors import OccurrenceFull
from calendrier.extensions import db
from calendrier.models import Booking, BookingStatus, OutboxMessage

from .test_concurrency import THREADS, run_at_once


def confirmed(occurrence_id: int, *, wheelchair: bool) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(Booking.seats), 0)).where(
            Booking.occurrence_id == occurrence_id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.wheelchair.is_(wheelchair),
        )
    )


def test_a_rush_of_ordinary_and_wheelchair_bookings_keeps_the_held_places(app, make):
    # 8 places, 3 held: at most 5 ordinary seats, and the 3 held ones only for wheelchairs.
    occurrence = make.occurrence(capacity=8, wheelchair_spaces=3)
    occurrence_id = occurrence.id

    def book(i):
        wheelchair = i % 4 == 0  # 6 wheelchair users among 24
        request = rules.BookingRequest(
            name=f"P{i}", email=f"p{i}@example.org", seats=1, wheelchair=wheelchair
        )
        return wheelchair, rules.book(occurrence_id, request).booking.status

    outcomes, errors = run_at_once(app, book, THREADS)
    assert all(isinstance(e, OccurrenceFull) for e in errors), errors[:3]
    assert len(outcomes) + len(errors) == THREADS
    ordinary = confirmed(occurrence_id, wheelchair=False)
    users = confirmed(occurrence_id, wheelchair=True)
    assert ordinary + users == rules.seats_taken(occurrence_id) <= 8  # no seat sold twice
    assert ordinary <= 8 - 3  # held places never went to people who did not ask
    assert users >= 3  # each held place went to a wheelchair user
    assert ordinary + users == 8  # and every place found someone
    assert rules.held_left(occurrence) == 0
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == ordinary + users


def test_parties_racing_for_the_last_places_with_companions(app, make):
    # 6 places, 2 held. Parties of two: a wheelchair user's party takes one held place
    # and one ordinary seat, an ordinary party two ordinary seats.
    occurrence = make.occurrence(capacity=6, wheelchair_spaces=2, max_seats_per_booking=2)
    occurrence_id = occurrence.id

    def book(i):
        request = rules.BookingRequest(
            name=f"P{i}", email=f"p{i}@example.org", seats=2, wheelchair=i % 3 == 0
        )
        return rules.book(occurrence_id, request).booking.status

    outcomes, errors = run_at_once(app, book, 12)
    assert all(isinstance(e, OccurrenceFull) for e in errors), errors[:3]
    ordinary = confirmed(occurrence_id, wheelchair=False)
    users = confirmed(occurrence_id, wheelchair=True)
    assert ordinary + users == rules.seats_taken(occurrence_id) <= 6
    wheelchair_bookings = db.session.scalar(
        select(func.count(Booking.id)).where(
            Booking.occurrence_id == occurrence_id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.wheelchair.is_(True),
        )
    )
    # the seats taken and the places still held never add up to more than the capacity
    assert ordinary + users + max(2 - wheelchair_bookings, 0) <= 6
    assert rules.held_left(occurrence) == max(2 - wheelchair_bookings, 0)
    assert outcomes.count("confirmed") * 2 == ordinary + users
