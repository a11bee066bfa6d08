"""The demo's past: dates that happened, with the bookings, check-ins and no-shows they had.

A new organiser opening the dashboard of the demo sees every chart and list filled: the
places booked each day of the last 30 days, the fill rate of the next dates (one of them
full, with people waiting), requests awaiting approval, and the no-show rate of past dates
where check-in was used. Every date is relative to the day the demo is loaded.

The bookings are written as history, the way an import would: no email leaves for these
people (``example.org`` addresses), no audit entry claims someone made them today. A fixed
random seed gives the same demo each time it is loaded.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..domain.bookings import new_reference, new_token
from ..extensions import db
from ..models import Booking, BookingStatus, Event, EventKind, Occurrence
from ..timeutil import utcnow

FIRST_NAMES = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Jade",
    "Louise",
    "Alice",
    "Lina",
    "Emma",
    "Zoé",
    "Juliette",
    "Sarah",
    "Nina",
    "Rose",
    "Hugo",
    "Lucas",
    "Louis",
    "Nathan",
    "Gabriel",
    "Jules",
    "Arthur",
    "Adam",
    "Raphaël",
    "Paul",
    "Tom",
    "Noah",
    "Léo",
    "Sacha",
    "Malik",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "Andre",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "Francois",
    "Legrand",
    "Gauthier",
    "Perrin",
    "Robin",
    "Clement",
]


@dataclass
class History:
    """Who books, when, how many, and who comes: the same each time (a fixed seed)."""

    now: datetime
    rng: random.Random
    people: int = 0

    def person(self) -> tuple[str, str]:
        self.people += 1
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{self.people}@example.org".lower()
        plain = unicodedata.normalize("NFKD", email).encode("ascii", "ignore").decode()
        return f"{first} {last}", plain

    def booking(
        self, occurrence: Occurrence, seats: int, status: BookingStatus, made: datetime
    ) -> Booking:
        name, email = self.person()
        booking = Booking(
            occurrence=occurrence,
            reference=new_reference(),
            token=new_token(),
            name=name,
            email=email,
            seats=seats,
            status=status,
            locale="en" if self.rng.random() < 0.1 else "fr",
            source=self.rng.choice(("web", "web", "web", "api", "manage")),
            consent_at=made,
            confirmed_at=made if status == BookingStatus.CONFIRMED else None,
            created_at=made,
            updated_at=made,
        )
        db.session.add(booking)
        return booking

    def made_before(self, starts_at: datetime, within_days: int) -> datetime:
        """A moment in the ``within_days`` before the date, never in the future."""
        latest = min(starts_at - timedelta(hours=2), self.now - timedelta(minutes=5))
        earliest = min(starts_at, self.now) - timedelta(days=within_days)
        seconds = int((latest - earliest).total_seconds())
        return (earliest + timedelta(seconds=self.rng.randint(0, seconds))).replace(microsecond=0)

    def fill(
        self,
        occurrence: Occurrence,
        share: float,
        *,
        waiting: int = 0,
        within_days: int = 21,
        came: float | None = None,
        status: BookingStatus = BookingStatus.CONFIRMED,
    ) -> None:
        """Book about ``share`` of the places (all of them, and ``waiting`` people on the
        waiting list, when ``waiting``), a few cancelled on the way; for a date that has
        happened, ``came`` is the share of confirmed parties checked in at the door."""
        target = occurrence.capacity if waiting else round(occurrence.capacity * share)
        top = min(occurrence.max_seats_per_booking or 6, 4)  # None: its default, not flushed yet
        taken = 0
        while taken < target:
            seats = min(self.rng.choice((1, 1, 2, 2, 2, 3, 4)), top, target - taken)
            booking = self.booking(
                occurrence, seats, status, self.made_before(occurrence.starts_at, within_days)
            )
            taken += seats
            if self.rng.random() < 0.08:  # changed their mind: the places went back
                booking.status = BookingStatus.CANCELLED
                booking.cancelled_at = min(booking.created_at + timedelta(days=1), self.now)
                taken -= seats
        for _n in range(waiting):
            self.booking(
                occurrence,
                self.rng.choice((1, 2)),
                BookingStatus.WAITLISTED,
                self.made_before(occurrence.starts_at, 3),
            )
        if came is not None and occurrence.starts_at < self.now:
            for booking in occurrence.bookings:
                if booking.status == BookingStatus.CONFIRMED and self.rng.random() < came:
                    arrival = self.rng.randint(-20, 5)
                    booking.checked_in_at = occurrence.starts_at + timedelta(minutes=arrival)


def build_history(b, today: date) -> None:
    """Past dates of each organisation, and the bookings of the dates to come.

    ``b`` is ``seed.Builder`` with the programme built (its organisations and venues).
    """
    history = History(now=utcnow(), rng=random.Random(20261201))  # noqa: S311 - demo data
    _past_dates(b, history, today)
    _bookings_to_come(history)


def _past_dates(b, history: History, today: date) -> None:
    events = {e.slug: e for e in db.session.scalars(select(Event))}  # flushes the programme
    visit = events["visite-guidee-du-site"]
    doc = events["cycle-documentaire-animation"]
    talk = events["midi-rencontre-metiers"]
    # The guided visit, each Friday of the last ten weeks: popular, often full in spring.
    last_friday = today - timedelta(days=(today.weekday() - 4) % 7 or 7)
    for week in range(10):
        day = last_friday - timedelta(weeks=week)
        occurrence = b.occurrence(
            visit, "grande-halle", day, 17, 30, 90, 25, waitlist=True, max_seats_per_booking=6
        )
        occurrence.created_at = occurrence.changed_at = history.now - timedelta(days=100)
        full = week in (1, 4)
        history.fill(
            occurrence,
            history.rng.uniform(0.55, 0.95),
            waiting=3 if full else 0,
            came=history.rng.uniform(0.75, 0.95),
        )
    # The documentary series, the two months before: fewer came than booked.
    last_thursday = today - timedelta(days=(today.weekday() - 3) % 7 or 7)
    for month in (1, 2):
        day = last_thursday - timedelta(weeks=4 * month - 3)
        venue = "cinema-romans" if month == 1 else "cinema-le-navire"
        occurrence = b.occurrence(doc, venue, day, 20, 0, 120, 150)
        occurrence.created_at = occurrence.changed_at = history.now - timedelta(days=100)
        history.fill(occurrence, history.rng.uniform(0.4, 0.7), within_days=30, came=0.7)
    # Lunchtime talks, every other week.
    last_tuesday = today - timedelta(days=(today.weekday() - 1) % 7 or 7)
    for fortnight in range(3):
        occurrence = b.occurrence(
            talk, "grande-halle", last_tuesday - timedelta(weeks=2 * fortnight), 12, 30, 60, 60
        )
        occurrence.created_at = occurrence.changed_at = history.now - timedelta(days=60)
        history.fill(occurrence, history.rng.uniform(0.5, 0.8), within_days=14, came=0.85)
    # The festival's preview of last year's selection, and a day of initiation at the school.
    preview = b.event(
        "festival",
        "avant-premiere-selection",
        EventKind.SCREENING,
        "Avant-première : la sélection de l'an dernier",
        "Les courts métrages primés l'an dernier, pour patienter jusqu'au festival.",
    )
    occurrence = b.occurrence(
        preview, "salle-projection", today - timedelta(days=12), 20, 0, 90, 120, waitlist=True
    )
    occurrence.created_at = occurrence.changed_at = history.now - timedelta(days=45)
    history.fill(occurrence, 1.0, waiting=4, within_days=25, came=0.9)
    workshop = b.event(
        "ecole",
        "initiation-animation-2d",
        EventKind.WORKSHOP,
        "Journée d'initiation à l'animation 2D",
        "Une journée pour découvrir l'animation image par image, sur tablette.",
    )
    occurrence = b.occurrence(
        workshop,
        "salle-formation",
        today - timedelta(days=19),
        9,
        30,
        7 * 60,
        16,
        requires_approval=True,
        max_seats_per_booking=1,
    )
    occurrence.created_at = occurrence.changed_at = history.now - timedelta(days=60)
    history.fill(occurrence, 0.9, within_days=30, came=0.8)


def _bookings_to_come(history: History) -> None:
    """The dates to come, booked over the last weeks: the next visit full with people
    waiting, the festival filling up, the training's requests waiting for approval."""
    now = history.now
    upcoming = list(
        db.session.scalars(
            select(Occurrence)
            .where(Occurrence.starts_at > now)
            .options(joinedload(Occurrence.event))
            .order_by(Occurrence.starts_at, Occurrence.id)
        )
    )
    visits = [o for o in upcoming if o.event.slug == "visite-guidee-du-site"]
    for rank, occurrence in enumerate(visits[:6]):
        if rank == 0:
            history.fill(occurrence, 1.0, waiting=4, within_days=20)
        else:
            history.fill(occurrence, max(0.15, 0.8 - rank * 0.12), within_days=25)
    for occurrence in upcoming:
        slug = occurrence.event.slug
        if slug == "competition-courts-metrages":
            history.fill(occurrence, history.rng.uniform(0.3, 0.6), within_days=30)
        elif slug == "seance-jeune-public":
            history.fill(occurrence, history.rng.uniform(0.4, 0.7), within_days=30)
        elif slug == "portes-ouvertes-des-studios":
            history.fill(occurrence, history.rng.uniform(0.5, 0.9), within_days=30)
        elif slug in ("cycle-documentaire-animation", "midi-rencontre-metiers"):
            history.fill(occurrence, history.rng.uniform(0.2, 0.4), within_days=30)
        elif slug == "formation-storyboard":
            history.fill(occurrence, 0.35, within_days=30)  # approved already
            history.fill(occurrence, 0.35, within_days=10, status=BookingStatus.PENDING)
