"""What a picture costs the event page: the same page with and without one.

Two events alike in every way (texts, organiser, a dozen dates at the same venue), one of
them with a picture; their pages are asked for in turn, many times, through the app itself
(the server's cost, without the network), and the medians compared. The picture's files
are not fetched: a browser fetches them once, from a URL cached for a year.

    .venv/bin/python benchmarks/event_image.py                 # SQLite in a temp dir
    .venv/bin/python benchmarks/event_image.py --database-url postgresql+psycopg://postgres@127.0.0.1/cal_bench

Fails (exit status 1) if the page with its picture costs more than 1.2 times the other.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT = 1.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from PIL import Image

    from benchmarks.common import fresh_database
    from calendrier import create_app
    from calendrier.domain import images
    from calendrier.extensions import db
    from calendrier.models import Event, Occurrence, Organisation, Venue
    from calendrier.timeutil import utcnow

    with tempfile.TemporaryDirectory() as tmp:
        url = (
            fresh_database(args.database_url) if args.database_url else f"sqlite:///{tmp}/bench.db"
        )
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            org = Organisation(slug="festival", name="Festival")
            venue = Venue(slug="salle", name="Salle", address="Rue de Chabeuil", city="Valence")
            db.session.add_all([org, venue])
            start = utcnow() + timedelta(days=3)
            for slug in ("sans-image", "avec-image"):
                event = Event(
                    slug=slug,
                    organisation=org,
                    kind="screening",
                    title="Nuit du court",
                    summary="Des courts métrages toute la nuit.",
                    description="Projection en continu, en présence des équipes. " * 10,
                )
                db.session.add(event)
                for day in range(12):
                    moment = start + timedelta(days=day)
                    db.session.add(
                        Occurrence(
                            event=event,
                            venue=venue,
                            starts_at=moment,
                            ends_at=moment + timedelta(hours=2),
                            capacity=100,
                        )
                    )
            db.session.commit()
            poster = io.BytesIO()
            Image.new("RGB", (2400, 1500), "purple").save(poster, "JPEG")
            pictured = db.session.query(Event.id).filter_by(slug="avec-image").scalar()
            images.set_event_image(pictured, poster.getvalue(), alt="Affiche", alt_en="Poster")
            db.session.remove()

        client = app.test_client()
        timings: dict[str, list[float]] = {"sans-image": [], "avec-image": []}
        for _warm_up in range(20):
            for slug in timings:
                assert client.get(f"/events/{slug}").status_code == 200
        for _round in range(args.rounds):
            for slug, found in timings.items():
                began = time.perf_counter()
                response = client.get(f"/events/{slug}")
                found.append(time.perf_counter() - began)
                assert response.status_code == 200
        assert b"<picture" in client.get("/events/avec-image").data
        without = statistics.median(timings["sans-image"]) * 1000
        with_picture = statistics.median(timings["avec-image"]) * 1000
        ratio = with_picture / without
        print(f"event page without a picture: {without:.2f} ms (median of {args.rounds})")
        print(f"event page with its picture:  {with_picture:.2f} ms")
        print(f"ratio: {ratio:.3f} (limit {LIMIT})")
        return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
