"""Fill a fresh benchmark database: run with the checkout being measured as working directory.

    python benchmarks/seed_bench.py DATABASE_URL CAPACITY OCCURRENCES

Prints one JSON line: the ids and slugs the scenarios use. Written with the models both this
commit and older ones have, so ``benchmarks/wrk_suite.py --checkout OLD`` can compare.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path.cwd()))

from flask_migrate import upgrade
from sqlalchemy import insert, inspect, text

from calendrier import create_app
from calendrier.extensions import db
from calendrier.models import Booking, Event, Occurrence, Organisation, Venue

PARIS = ZoneInfo("Europe/Paris")


def main(url: str, capacity: int, count: int) -> None:
    app = create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False}
    )
    with app.app_context():
        upgrade()
        rng = random.Random(12)
        orgs = [Organisation(slug=f"org-{i}", name=f"Organisation {i}") for i in range(8)]
        venues = [
            Venue(slug=f"lieu-{i}", name=f"Lieu {i}", address="Rue de Chabeuil", city="Valence")
            for i in range(15)
        ]
        db.session.add_all(orgs + venues)
        db.session.flush()
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        rush = {}
        for name, waitlist in (("ouverture", False), ("liste", True)):
            event = Event(slug=name, title=f"Soirée {name}", kind="screening", organisation=orgs[0])
            occurrence = Occurrence(
                event=event,
                venue=venues[0],
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                capacity=capacity,
                waitlist=waitlist,
                max_seats_per_booking=4,
            )
            db.session.add_all([event, occurrence])
            db.session.flush()
            rush[name] = occurrence.id
        kinds = ["visit", "screening", "talk", "workshop", "training"]
        events = [
            Event(
                slug=f"evenement-{i}",
                title=f"Événement {i}",
                kind=kinds[i % len(kinds)],
                summary="Une date du programme.",
                description="Une date du programme, pour mesurer.",
                organisation_id=orgs[i % len(orgs)].id,
            )
            for i in range(250)
        ]
        db.session.add_all(events)
        db.session.flush()
        today = datetime.now(PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = []
        for _ in range(count):
            start = today + timedelta(
                days=rng.randrange(0, 365), hours=rng.randrange(9, 21), minutes=rng.choice([0, 30])
            )
            rows.append(
                {
                    "event_id": rng.choice(events).id,
                    "venue_id": rng.choice(venues).id,
                    "starts_at": start.astimezone(UTC),
                    "ends_at": (start + timedelta(minutes=90)).astimezone(UTC),
                    "capacity": rng.choice([10, 20, 40, 120]),
                }
            )
        db.session.execute(insert(Occurrence), rows)
        ids = [
            i
            for i in db.session.scalars(text("SELECT id FROM occurrence ORDER BY id"))
            if i not in rush.values()
        ]
        bookings = [
            {
                "occurrence_id": occurrence_id,
                "reference": f"B{n:07d}",
                "token": f"token-{n}",
                "name": "Ana",
                "email": f"ana{n}@example.org",
                "seats": 2,
                "status": "confirmed",
            }
            for n, occurrence_id in enumerate(rng.sample(ids, len(ids) // 2))
        ]
        db.session.execute(insert(Booking), bookings)
        columns = {c["name"] for c in inspect(db.engine).get_columns("occurrence")}
        if "seats_taken" in columns:  # the counter, as the rules would have kept it
            db.session.execute(
                text(
                    "UPDATE occurrence SET seats_taken = (SELECT COALESCE(SUM(seats), 0) "
                    "FROM booking WHERE booking.occurrence_id = occurrence.id "
                    "AND status = 'confirmed')"
                )
            )
        db.session.commit()
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        one = events[0].slug
        db.engine.dispose()
    print(json.dumps({"rush": rush, "event": one, "occurrences": count + 2}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
