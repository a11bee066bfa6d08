"""``flask seed-demo``: a programme that feels like the cluster's own."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import Event, EventKind, Occurrence, Organisation, User, Venue
from ..timeutil import localize
from .seed_history import build_history

ORGANISATIONS = [
    (
        "cartoucherie",
        "La Cartoucherie — pôle de l'image animée",
        "Le site, ses studios et ses écoles, dans une ancienne cartoucherie.",
    ),
    (
        "festival",
        "Festival des images animées",
        "Une semaine de projections, d'ateliers et de rencontres professionnelles.",
    ),
    (
        "patrimoine",
        "Service patrimoine de l'agglomération",
        "Visites guidées du site et de son histoire industrielle.",
    ),
    (
        "ecole",
        "École des métiers de l'animation",
        "Formations professionnelles courtes : storyboard, animation 2D, pipeline.",
    ),
    (
        "cinemas",
        "Réseau des cinémas partenaires",
        "Les salles du territoire qui accueillent le cycle documentaire.",
    ),
]

VENUES = [
    (
        "grande-halle",
        "Grande halle",
        "Rue de Chabeuil",
        "26500",
        "Bourg-lès-Valence",
        44.9480,
        4.8940,
        400,
        "Accès de plain-pied. Parking vélos à l'entrée du site.",
    ),
    (
        "salle-projection",
        "Salle de projection",
        "Rue de Chabeuil",
        "26500",
        "Bourg-lès-Valence",
        44.9482,
        4.8936,
        120,
        "Salle accessible en fauteuil (4 places réservées). Boucle magnétique.",
    ),
    (
        "espace-vr",
        "Espace réalité virtuelle",
        "Rue de Chabeuil",
        "26500",
        "Bourg-lès-Valence",
        44.9479,
        4.8944,
        12,
        "Casques fournis. Déconseillé avant 12 ans.",
    ),
    (
        "studio-a",
        "Studio A — bâtiment des studios",
        "Rue de Chabeuil",
        "26500",
        "Bourg-lès-Valence",
        44.9477,
        4.8947,
        20,
        "Étage accessible par ascenseur.",
    ),
    (
        "salle-formation",
        "Salle de formation",
        "Rue de Chabeuil",
        "26500",
        "Bourg-lès-Valence",
        44.9484,
        4.8939,
        16,
        "",
    ),
    (
        "cinema-le-navire",
        "Cinéma Le Navire",
        "9 boulevard d'Alsace",
        "26000",
        "Valence",
        44.9320,
        4.8920,
        180,
        "Tram et bus : arrêt Préfecture.",
    ),
    (
        "cinema-romans",
        "Cinéma de Romans",
        "2 place Jean-Jaurès",
        "26100",
        "Romans-sur-Isère",
        45.0430,
        5.0510,
        150,
        "",
    ),
]

USERS = [
    ("admin@cartoucherie.example", "cartoucherie", True, "Admin du pôle"),
    ("festival@cartoucherie.example", "festival", False, "Équipe du festival"),
    ("patrimoine@cartoucherie.example", "patrimoine", False, "Service patrimoine"),
    ("formation@cartoucherie.example", "ecole", False, "Coordination formation"),
    ("cinemas@cartoucherie.example", "cinemas", False, "Programmation cinémas"),
]


class Builder:
    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self.orgs: dict[str, Organisation] = {}
        self.venues: dict[str, Venue] = {}

    def places(self, organisations, venues) -> None:
        """The demo's organisations ``(slug, name, description)`` and venues
        ``(slug, name, address, postcode, city, latitude, longitude, capacity, access)``."""
        for slug, name, description in organisations:
            self.orgs[slug] = Organisation(slug=slug, name=name, description=description)
            db.session.add(self.orgs[slug])
        for slug, name, address, postcode, city, lat, lon, capacity, access in venues:
            self.venues[slug] = Venue(
                slug=slug,
                name=name,
                address=address,
                postcode=postcode,
                city=city,
                latitude=lat,
                longitude=lon,
                capacity=capacity,
                access=access,
            )
            db.session.add(self.venues[slug])

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return localize(datetime.combine(day, time(hour, minute)), self.tz)

    def event(
        self,
        org: str,
        slug: str,
        kind: EventKind,
        title: str,
        summary: str,
        description: str = "",
        parent: Event | None = None,
    ) -> Event:
        event = Event(
            organisation=self.orgs[org],
            slug=slug,
            kind=kind,
            title=title,
            summary=summary,
            description=description or summary,
            parent=parent,
        )
        db.session.add(event)
        return event

    def occurrence(
        self,
        event: Event,
        venue: str,
        day: date,
        hour: int,
        minute: int,
        minutes: int,
        capacity: int,
        **options,
    ) -> Occurrence:
        starts = self.at(day, hour, minute)
        occurrence = Occurrence(
            event=event,
            venue=self.venues[venue],
            starts_at=starts,
            ends_at=starts + timedelta(minutes=minutes),
            capacity=capacity,
            **options,
        )
        db.session.add(occurrence)
        return occurrence


def next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7 or 7)


def build_programme(today: date) -> dict[str, str]:
    b = Builder(ZoneInfo(current_app.config["TIMEZONE"]))
    b.places(ORGANISATIONS, VENUES)

    # The guided visit of the site, every Friday at 17:30 for three months.
    visit = b.event(
        "patrimoine",
        "visite-guidee-du-site",
        EventKind.VISIT,
        "Visite guidée du site",
        "De la cartoucherie aux studios : 1h30 pour découvrir l'histoire du site.",
        "Une médiatrice du patrimoine vous fait découvrir les bâtiments de l'ancienne "
        "cartoucherie et les studios d'animation qui s'y sont installés. Départ devant "
        "la grande halle. Chaussures confortables conseillées.",
    )
    friday = next_weekday(today, 4)
    for week in range(12):
        b.occurrence(
            visit,
            "grande-halle",
            friday + timedelta(weeks=week),
            17,
            30,
            90,
            25,
            waitlist=True,
            max_seats_per_booking=6,
            cancellation_deadline_hours=2,
        )

    # The festival: a week with screenings, a VR space, studio tours and talks.
    start = next_weekday(today, 0) + timedelta(weeks=3)
    festival = b.event(
        "festival",
        "festival-des-images-animees",
        EventKind.FESTIVAL,
        "Festival des images animées",
        "Une semaine de courts métrages, de réalité virtuelle et de rencontres.",
    )
    b.occurrence(festival, "grande-halle", start, 10, 0, 7 * 24 * 60 - 14 * 60, 400)
    competition = b.event(
        "festival",
        "competition-courts-metrages",
        EventKind.SCREENING,
        "Compétition courts métrages",
        "Huit films en compétition, en présence des équipes.",
        parent=festival,
    )
    jeune = b.event(
        "festival",
        "seance-jeune-public",
        EventKind.SCREENING,
        "Séance jeune public",
        "Des courts métrages pour les 4 à 8 ans.",
        parent=festival,
    )
    vr = b.event(
        "festival",
        "espace-realite-virtuelle",
        EventKind.WORKSHOP,
        "Espace réalité virtuelle",
        "Cinq œuvres immersives en 30 minutes.",
        parent=festival,
    )
    tour = b.event(
        "festival",
        "portes-ouvertes-des-studios",
        EventKind.VISIT,
        "Portes ouvertes des studios",
        "Visitez un studio en production avec l'équipe.",
        parent=festival,
    )
    wip = b.event(
        "festival",
        "work-in-progress",
        EventKind.TALK,
        "Work in progress",
        "Un long métrage en cours de fabrication présenté par son équipe.",
        parent=festival,
    )
    for offset in range(7):
        day = start + timedelta(days=offset)
        b.occurrence(competition, "salle-projection", day, 20, 30, 100, 120, waitlist=True)
        if day.weekday() in (2, 5, 6):
            b.occurrence(jeune, "salle-projection", day, 10, 30, 50, 120, waitlist=True)
        for hour in (14, 15, 16, 17):
            b.occurrence(vr, "espace-vr", day, hour, 0, 30, 12, max_seats_per_booking=2)
        if offset < 5:
            b.occurrence(
                tour, "studio-a", day, 11, 0, 60, 15, waitlist=True, max_seats_per_booking=4
            )
            b.occurrence(wip, "grande-halle", day, 17, 0, 75, 200)

    # The documentary series in partner cinemas: one Thursday a month.
    doc = b.event(
        "cinemas",
        "cycle-documentaire-animation",
        EventKind.SCREENING,
        "Cycle documentaire : l'animation au réel",
        "Un documentaire animé par mois, suivi d'une discussion.",
    )
    thursday = next_weekday(today, 3)
    for month in range(4):
        venue = "cinema-le-navire" if month % 2 == 0 else "cinema-romans"
        b.occurrence(doc, venue, thursday + timedelta(weeks=4 * month), 20, 0, 120, 150)

    # A five-day professional training: one registration, approved by the school.
    training = b.event(
        "ecole",
        "formation-storyboard",
        EventKind.TRAINING,
        "Formation : du scénario au storyboard",
        "Cinq jours pour les professionnels : découpage, cadrage, animatique.",
        "Formation professionnelle de 35 heures, éligible aux financements. Chaque "
        "candidature est étudiée par l'équipe pédagogique.",
    )
    monday = next_weekday(today, 0) + timedelta(weeks=5)
    b.occurrence(
        training,
        "salle-formation",
        monday,
        9,
        0,
        4 * 24 * 60 + 8 * 60,
        12,
        requires_approval=True,
        max_seats_per_booking=1,
        cancellation_deadline_hours=72,
    )

    # A lunchtime talk.
    talk = b.event(
        "cartoucherie",
        "midi-rencontre-metiers",
        EventKind.TALK,
        "Midi-rencontre : les métiers de l'animation",
        "Une heure pour découvrir les métiers des studios, sandwich bienvenu.",
    )
    tuesday = next_weekday(today, 1) + timedelta(weeks=1)
    b.occurrence(talk, "grande-halle", tuesday, 12, 30, 60, 60)

    build_history(b, today)  # past dates, bookings, check-ins and no-shows (seed_history.py)

    passwords = {}
    for email, org, admin, name in USERS:
        password = secrets.token_urlsafe(12)
        user = User(email=email, organisation=b.orgs[org], is_admin=admin, name=name)
        user.set_password(password)
        db.session.add(user)
        passwords[email] = password
    return passwords


@click.command("seed-demo")
def seed_demo():
    """Load the demo programme (does nothing if it is already there)."""
    exists = db.session.scalar(select(Organisation).where(Organisation.slug == "cartoucherie"))
    if exists:
        click.echo("The demo programme is already loaded.")
        return
    passwords = build_programme(date.today())  # noqa: DTZ011 - a local calendar day
    seed_training_sittings(date.today())  # noqa: DTZ011 - a local calendar day
    db.session.commit()
    click.echo("Demo programme loaded. Organiser accounts (passwords shown once):")
    for email, password in passwords.items():
        click.echo(f"  {email}  {password}")


# --- trainings: sittings, attendance, feedback (the past session filled in) ------------

TRAINEES = [
    ("Camille Laurent", "camille.laurent@example.org", (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), 5, ""),
    (
        "Youssef Benali",
        "youssef.benali@example.org",
        (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
        4,
        "Très concret ; j'aurais aimé plus de temps sur l'animatique.",
    ),
    (
        "Inès Moreau",
        "ines.moreau@example.org",
        (0, 1, 2, 3, 4, 5, 8, 9),
        5,
        "Formateurs passionnants, exercices utiles dès lundi au studio.",
    ),
    (
        "Hugo Garnier",
        "hugo.garnier@example.org",
        (0, 1, 2, 3, 6, 7, 8, 9),
        3,
        "Bien, mais la salle était trop chaude l'après-midi.",
    ),
    ("Léa Fontaine", "lea.fontaine@example.org", (0, 1, 2, 3, 4, 5, 6, 7), 4, ""),
    ("Martin Roux", "martin.roux@example.org", (), None, ""),  # never came
]


def _half_days(b: Builder, monday: date) -> list[tuple[datetime, datetime]]:
    """Monday to Friday, 9:00-12:30 and 14:00-17:30: ten sittings, 35 hours."""
    return [
        (b.at(monday + timedelta(days=d), h1, m1), b.at(monday + timedelta(days=d), h2, m2))
        for d in range(5)
        for (h1, m1, h2, m2) in ((9, 0, 12, 30), (14, 0, 17, 30))
    ]


def seed_training_sittings(today: date) -> None:
    """The five-day training in half-days: its next session, and a past one with its
    attendance marked sitting by sitting and the trainees' feedback (so its certificates
    of attendance and its results are there to see)."""
    from ..domain.bookings import new_reference, new_token
    from ..models import Attendance, Booking, BookingStatus, Feedback, Sitting

    event = db.session.scalar(select(Event).where(Event.slug == "formation-storyboard"))
    if event is None:
        return
    db.session.flush()
    b = Builder(ZoneInfo(current_app.config["TIMEZONE"]))
    b.venues = {v.slug: v for v in db.session.scalars(select(Venue))}
    for occurrence in event.occurrences:
        monday = occurrence.starts_at.astimezone(b.tz).date()
        for position, (start, end) in enumerate(_half_days(b, monday)):
            occurrence.sittings.append(Sitting(position=position, starts_at=start, ends_at=end))
    past_monday = next_weekday(today, 0) - timedelta(weeks=5)
    past = b.occurrence(
        event,
        "salle-formation",
        past_monday,
        9,
        0,
        4 * 24 * 60 + 8 * 60 + 30,
        12,
        requires_approval=True,
        max_seats_per_booking=1,
        cancellation_deadline_hours=72,
    )
    slots = _half_days(b, past_monday)
    for position, (start, end) in enumerate(slots):
        past.sittings.append(Sitting(position=position, starts_at=start, ends_at=end))
    for name, email, present, rating, comment in TRAINEES:
        booked = b.at(past_monday - timedelta(weeks=4), 10)
        booking = Booking(
            occurrence=past,
            reference=new_reference(),
            token=new_token(),
            name=name,
            email=email,
            seats=1,
            status=BookingStatus.CONFIRMED,
            source="web",
            consent_at=booked,
            created_at=booked,
            confirmed_at=booked,
            checked_in_at=slots[present[0]][0] + timedelta(minutes=5) if present else None,
        )
        db.session.add(booking)
        for position in present:
            db.session.add(
                Attendance(
                    booking=booking,
                    position=position,
                    marked_at=slots[position][0] + timedelta(minutes=5),
                )
            )
        if rating is not None:
            db.session.add(Feedback(booking=booking, rating=rating, comment=comment))
