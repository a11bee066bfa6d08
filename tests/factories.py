"""Factories for tests: ``occurrence(**overrides)`` builds what it needs around it."""

from __future__ import annotations

import itertools
from datetime import timedelta

from calendrier.extensions import db
from calendrier.models import Event, Occurrence, Organisation, User, Venue
from calendrier.timeutil import utcnow

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


def organisation(**overrides) -> Organisation:
    n = _n()
    values = {"slug": f"org-{n}", "name": f"Organisation {n}"}
    values.update(overrides)
    org = Organisation(**values)
    db.session.add(org)
    db.session.commit()
    return org


def venue(**overrides) -> Venue:
    n = _n()
    values = {
        "slug": f"venue-{n}",
        "name": f"Salle {n}",
        "address": "1 rue de Chabeuil",
        "postcode": "26500",
        "city": "Bourg-lès-Valence",
        "latitude": 44.948,
        "longitude": 4.894,
    }
    values.update(overrides)
    v = Venue(**values)
    db.session.add(v)
    db.session.commit()
    return v


def event(**overrides) -> Event:
    n = _n()
    if "organisation" not in overrides:
        overrides["organisation"] = organisation()
    values = {
        "slug": f"event-{n}",
        "title": f"Visite guidée {n}",
        "kind": "visit",
        "summary": "Une visite du site.",
        "description": "Une visite du site.",
    }
    values.update(overrides)
    e = Event(**values)
    db.session.add(e)
    db.session.commit()
    return e


def occurrence(**overrides) -> Occurrence:
    if "event" not in overrides:
        overrides["event"] = event()
    if "venue" not in overrides:
        overrides["venue"] = venue()
    starts = overrides.pop("starts_at", utcnow().replace(microsecond=0) + timedelta(days=7))
    values = {"starts_at": starts, "ends_at": starts + timedelta(minutes=90), "capacity": 10}
    values.update(overrides)
    o = Occurrence(**values)
    db.session.add(o)
    db.session.commit()
    return o


def user(password: str = "correct horse battery", **overrides) -> User:
    n = _n()
    if "organisation" not in overrides and not overrides.get("is_admin"):
        overrides["organisation"] = organisation()
    values = {"email": f"organiser{n}@example.org", "name": f"Organiser {n}"}
    values.update(overrides)
    u = User(**values)
    u.set_password(password)
    db.session.add(u)
    db.session.commit()
    return u
