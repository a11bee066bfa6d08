"""What the benchmarks share: a fresh PostgreSQL database, gunicorn, a load generator.

Run by hand, from the repository root (see benchmarks/README.md). Every figure is printed
next to its ratio to ``GET /healthz`` measured by the same generator in the same run, so
the results say something on any machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, make_url, text  # noqa: E402

from tests.servers import AppServer, app_env  # noqa: E402

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/calendrier_bench"


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--healthz-seconds", type=float, default=5.0)
    parser.add_argument("--door", choices=["api", "form"], default="api")
    return parser.parse_args()


# --- the database ------------------------------------------------------------------------


def fresh_database(url: str) -> str:
    """Drop and create the benchmark database, then migrate it: every run starts equal."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": parsed.database},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


def bench_app(url: str):
    from calendrier import create_app

    return create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False}
    )


def prepare(url: str, capacity: int, waitlist: bool = False) -> tuple[int, str]:
    """Migrate, and create one public occurrence of ``capacity`` seats: (id, event slug)."""
    from flask_migrate import upgrade

    from calendrier.extensions import db
    from calendrier.models import Event, Occurrence, Organisation, Venue
    from calendrier.timeutil import utcnow

    app = bench_app(url)
    with app.app_context():
        upgrade()
        org = Organisation(slug="festival", name="Festival")
        venue = Venue(slug="grande-salle", name="Grande salle", city="Valence")
        event = Event(
            slug="ouverture", title="Soirée d'ouverture", kind="screening", organisation=org
        )
        starts = utcnow().replace(microsecond=0) + timedelta(days=30)
        occurrence = Occurrence(
            event=event,
            venue=venue,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            capacity=capacity,
            waitlist=waitlist,
            max_seats_per_booking=4,
        )
        db.session.add_all([org, venue, event, occurrence])
        db.session.commit()
        result = occurrence.id, event.slug
        db.engine.dispose()
    return result


def booking_counts(url: str, occurrence_id: int) -> dict[str, int]:
    """Seats per booking status, straight from the database."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status, COALESCE(SUM(seats), 0) FROM booking "
                "WHERE occurrence_id = :id GROUP BY status"
            ),
            {"id": occurrence_id},
        ).all()
        outbox = conn.execute(text("SELECT count(*) FROM outbox")).scalar()
    engine.dispose()
    counts = {status: int(seats) for status, seats in rows}
    counts["outbox"] = int(outbox)
    return counts


# --- the servers ----------------------------------------------------------------------------


def start_server(url: str, workers: int, threads: int, log_dir: Path) -> AppServer:
    env = app_env(
        url,
        RATELIMIT_ENABLED=False,  # the crowd comes from one address here
        WTF_CSRF_ENABLED=False,  # the form door without a token round trip
        PUBLIC_URL="https://agenda.example.org",
        # A sync worker serves one request at a time: a small pool per process keeps
        # the total under PostgreSQL's max_connections.
        SQLALCHEMY_ENGINE_OPTIONS={
            "pool_pre_ping": True,
            "pool_size": threads + 1,
            "max_overflow": 2,
        },
    )
    env.pop("FLASK_DEBUG", None)
    server = AppServer(env, log_dir / "gunicorn.log", workers=workers, threads=threads)
    return server.wait_ready(timeout=60)


def log_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="calendrier-bench-"))


# --- the load generator ---------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float  # latency
    at: float = 0.0  # when it arrived (time.perf_counter)


async def http(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
) -> Answer:
    """One request on a fresh connection, as separate people's phones would make."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status = int(raw[9:12]) if raw[:5] == b"HTTP/" else 0
    payload = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    now = time.perf_counter()
    return Answer(status, payload, now - started, now)


@dataclass
class Run:
    """What one phase measured."""

    name: str
    seconds: float
    answers: list[Answer] = field(default_factory=list)
    started: float = 0.0

    @property
    def statuses(self) -> Counter:
        return Counter(a.status for a in self.answers)

    @property
    def per_second(self) -> float:
        return len(self.answers) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        latencies = sorted(a.seconds for a in self.answers)
        if not latencies:
            return 0.0
        index = min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))
        return latencies[index] * 1000

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)


async def crowd(clients: int, jobs: list[Callable[[], Awaitable[Answer]]], name: str) -> Run:
    """``clients`` people at once, each taking the next job until none is left."""
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    run = Run(name, 0.0)
    run.started = time.perf_counter()

    async def person():
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            run.answers.append(await job())

    await asyncio.gather(*(person() for _ in range(clients)))
    run.seconds = time.perf_counter() - run.started
    return run


async def for_seconds(
    clients: int, seconds: float, job: Callable[[], Awaitable[Answer]], name: str
) -> Run:
    run = Run(name, 0.0)
    deadline = time.perf_counter() + seconds

    async def person():
        while time.perf_counter() < deadline:
            run.answers.append(await job())

    started = time.perf_counter()
    await asyncio.gather(*(person() for _ in range(clients)))
    run.seconds = time.perf_counter() - started
    return run


async def measure_healthz(port: int, clients: int, seconds: float) -> Run:
    await for_seconds(clients, 1.0, lambda: http(port, "GET", "/healthz"), "warm-up")
    return await for_seconds(clients, seconds, lambda: http(port, "GET", "/healthz"), "healthz")


# --- booking requests -------------------------------------------------------------------


def person(n: int, seats: int = 1) -> dict:
    return {
        "name": f"Personne {n}",
        "email": f"personne{n}@example.org",
        "seats": seats,
        "consent": True,
    }


def book_job(port: int, occurrence_id: int, slug: str, n: int, door: str, seats: int = 1):
    if door == "api":
        body = json.dumps(person(n, seats)).encode()
        path = f"/api/v1/occurrences/{occurrence_id}/bookings"
        return lambda: http(port, "POST", path, body)
    from urllib.parse import urlencode

    form = person(n, seats) | {"occurrence": occurrence_id, "consent": "y"}
    body = urlencode(form).encode()
    return lambda: http(port, "POST", f"/events/{slug}", body, "application/x-www-form-urlencoded")


def booked(answer: Answer, door: str) -> bool:
    return answer.status == 201 if door == "api" else answer.status == 302


# --- printing -------------------------------------------------------------------------------


def report_line(label: str, value: float, unit: str, healthz: Run | None = None) -> str:
    line = f"  {label:<34} {value:>10.1f} {unit}"
    if healthz is not None and healthz.per_second:
        line += f"   ({value / healthz.per_second:.2f} x /healthz)"
    return line


def print_run(run: Run, healthz: Run, rate_label: str, rate: float) -> None:
    print(f"{run.name}: {len(run.answers)} requests in {run.seconds:.2f}s")
    print(report_line(rate_label, rate, "/s", healthz))
    print(
        f"  {'p50 latency':<34} {run.percentile(50):>10.1f} ms"
        f"   (/healthz p50 {healthz.percentile(50):.1f} ms)"
    )
    print(
        f"  {'p99 latency':<34} {run.percentile(99):>10.1f} ms"
        f"   (/healthz p99 {healthz.percentile(99):.1f} ms)"
    )
    print(f"  {'answers':<34} {dict(sorted(run.statuses.items()))}")
    print(f"  {'server errors':<34} {run.server_errors}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
