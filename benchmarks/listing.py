"""How fast the public listing pages are with a big programme, as a ratio of /healthz.

Loads 10,000 occurrences (by default) into a fresh database, serves the app with
gunicorn on a loopback port, and measures requests per second for ``/healthz``,
``/events`` (first page, and filtered), the month view and the week agenda, all in the
same run and with the same client, so that the ratios hold whatever the machine:

    .venv/bin/python benchmarks/listing.py                       # SQLite in a temp dir
    .venv/bin/python benchmarks/listing.py --database-url postgresql+psycopg://postgres@127.0.0.1/cal_bench
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARIS = ZoneInfo("Europe/Paris")


def populate(database_url: str, occurrences: int) -> str:
    """A fresh, migrated database with ``occurrences`` dates over the coming year."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from calendrier import create_app
    from calendrier.extensions import db
    from calendrier.models import Booking, Event, Occurrence, Organisation, Venue

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
        rng = random.Random(8)
        orgs = [Organisation(slug=f"org-{i}", name=f"Organisation {i}") for i in range(8)]
        venues = [
            Venue(slug=f"lieu-{i}", name=f"Lieu {i}", address="Rue de Chabeuil", city="Valence")
            for i in range(15)
        ]
        db.session.add_all(orgs + venues)
        db.session.flush()
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
        for _ in range(occurrences):
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
        ids = list(db.session.scalars(text("SELECT id FROM occurrence")))
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
            for n, occurrence_id in enumerate(rng.sample(ids, min(len(ids), occurrences // 2)))
        ]
        db.session.execute(insert(Booking), bookings)
        db.session.commit()
        # a live database has planner statistics (autovacuum); a bulk load has none yet
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        count = db.session.scalar(text("SELECT count(*) FROM occurrence"))
        db.engine.dispose()
    return f"{count} occurrences, {len(bookings)} bookings"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(database_url: str, workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(
        os.environ,
        CALENDRIER_SQLALCHEMY_DATABASE_URI=database_url,
        CALENDRIER_SECRET_KEY="benchmark",  # noqa: S106 - a throw-away local server
        CALENDRIER_RATELIMIT_ENABLED="false",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def measure(port: int, path: str, seconds: float, clients: int) -> tuple[float, float]:
    """Requests per second and median latency (ms), ``clients`` keep-alive connections."""
    done: list[float] = []
    stop = time.monotonic() + seconds
    errors: list[str] = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            began = time.perf_counter()
            conn.request("GET", path, headers={"Accept-Language": "fr"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{path}: {response.status}")
                return
            done.append(time.perf_counter() - began)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(errors[0])
    elapsed = time.monotonic() - started
    done.sort()
    return len(done) / elapsed, 1000 * done[len(done) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--occurrences", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per page")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        if url.startswith("postgresql"):
            from common import fresh_database  # dropped and created again: every run starts equal

            fresh_database(url)
        print("database:", url.split("@")[-1], "—", populate(url, args.occurrences))
        process, port = serve(url, args.workers)
        try:
            following = (datetime.now(PARIS).replace(day=1) + timedelta(days=32)).date()
            month = f"/calendar/{following.year}/{following.month}"  # a whole month of dates
            pages = [
                "/healthz",
                "/events",
                "/events?kind=screening&available=1",
                "/events?page=100",
                month,
                "/calendar/week",
                "/",
            ]
            for path in pages:  # warm-up: caches, connections, compiled templates
                measure(port, path, 0.5, 1)
            results = {path: measure(port, path, args.seconds, args.clients) for path in pages}
        finally:
            process.terminate()
            process.wait(timeout=10)
    base = results["/healthz"][0]
    print(f"{args.clients} clients, {args.workers} gunicorn workers, {args.seconds:g} s per page")
    print(f"{'page':40} {'req/s':>8} {'median ms':>10} {'÷ /healthz':>11}")
    for path, (rate, median) in results.items():
        print(f"{path:40} {rate:8.1f} {median:10.1f} {rate / base:11.3f}")


if __name__ == "__main__":
    main()
