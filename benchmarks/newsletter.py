"""Newsletter: queue a 10,000-subscriber letter while a flash crowd books, and deliver it.

Production setup: gunicorn, PostgreSQL, a `flask mail send --watch` worker sending to an
SMTP server on loopback. First a flash crowd alone (the booking rate to keep), then the same
crowd on another date while `flask newsletter send` queues the month's letter to 10,000
confirmed subscribers and the worker delivers it. Prints the queue time, both booking rates
(with their ratio), and how many letters left during the crowd; exits non-zero if a seat is
sold twice, a server error happens, or a subscriber does not get exactly one letter.

    .venv/bin/python benchmarks/newsletter.py [--subscribers 10000] [--clients 64] [--workers 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from common import (
    DEFAULT_DB,
    book_job,
    booked,
    booking_counts,
    crowd,
    fresh_database,
    log_directory,
    measure_healthz,
    prepare,
    print_run,
    report_line,
    start_server,
)
from sqlalchemy import create_engine, text

from tests.servers import MailWorker, app_env, flask_command
from tests.smtp import SMTPServer


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--healthz-seconds", type=float, default=5.0)
    parser.add_argument("--door", choices=["api", "form"], default="api")
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for delivery")
    return parser.parse_args()


def second_date_and_subscribers(url: str, capacity: int, subscribers: int) -> tuple[int, str]:
    """Another date of the same size (the crowd during the sending), and the subscribers,
    written in bulk; returns (occurrence id, YYYY-MM of the dates)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT event_id, venue_id, starts_at, ends_at FROM occurrence LIMIT 1")
        ).one()
        starts = row.starts_at + timedelta(hours=3)
        second = conn.execute(
            text(
                "INSERT INTO occurrence (event_id, venue_id, starts_at, ends_at, capacity, "
                "waitlist, requires_approval, max_seats_per_booking, "
                "cancellation_deadline_hours, status, cancel_reason, sequence, created_at, "
                "updated_at, changed_at) VALUES (:e, :v, :s, :f, :c, false, false, 4, 0, "
                "'scheduled', '', 0, now(), now(), now()) RETURNING id"
            ),
            {
                "e": row.event_id,
                "v": row.venue_id,
                "s": starts,
                "f": starts + timedelta(hours=2),
                "c": capacity,
            },
        ).scalar()
        conn.execute(
            text(
                "INSERT INTO newsletter_subscriber (email, locale, token, consent_at, "
                "created_at, confirmed_at) SELECT 'reader' || n || '@example.org', "
                "CASE WHEN n % 5 = 0 THEN 'en' ELSE 'fr' END, md5(random()::text || n), "
                "now(), now(), now() FROM generate_series(1, :n) AS n"
            ),
            {"n": subscribers},
        )
        month = row.starts_at.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m")
    engine.dispose()
    return second, month


def letters(url: str) -> tuple[int, int, int]:
    """(queued rows, sent rows, subscribers with more than one letter)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        queued = conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'newsletter'"))
        sent = conn.execute(
            text("SELECT count(*) FROM outbox WHERE kind = 'newsletter' AND status = 'sent'")
        )
        twice = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT recipient FROM outbox WHERE kind = 'newsletter' "
                "GROUP BY recipient HAVING count(*) > 1) AS t"
            )
        )
        result = (queued.scalar(), sent.scalar(), twice.scalar())
    engine.dispose()
    return result


async def main() -> int:
    args = arguments()
    url = fresh_database(args.database)
    first_id, slug = prepare(url, args.capacity)
    second_id, month = second_date_and_subscribers(url, args.capacity, args.subscribers)
    logs = log_directory()
    server = start_server(url, args.workers, args.threads, logs)
    smtp = SMTPServer().start()
    env = app_env(url, MAIL_PORT=smtp.port, PUBLIC_URL="https://agenda.example.org")
    worker = None
    print(
        f"gunicorn: {args.workers} workers; {args.clients} clients; capacity {args.capacity}; "
        f"{args.subscribers} subscribers; letter of {month}; logs in {logs}"
    )
    try:
        healthz = await measure_healthz(server.port, args.clients, args.healthz_seconds)
        print(f"/healthz: {healthz.per_second:.0f} req/s, {healthz.server_errors} errors")
        people = int(args.capacity * 1.2)

        def jobs(occurrence_id: int, offset: int):
            return [
                book_job(server.port, occurrence_id, slug, offset + n, args.door)
                for n in range(people)
            ]

        alone = await crowd(args.clients, jobs(first_id, 0), "flash crowd alone")

        # The worker at the lowest CPU priority: in production it has a machine of its own,
        # here it shares two cores with gunicorn and the load generator.
        worker = MailWorker(env, logs / "mail.log", batch=100)
        os.setpriority(os.PRIO_PROCESS, worker.pid, 19)
        started = time.perf_counter()
        finished: list[float] = []

        def send_letter() -> str:
            output = flask_command(env, "newsletter", "send", "--month", month)
            finished.append(time.perf_counter())
            return output

        sending = asyncio.create_task(asyncio.to_thread(send_letter))
        together = await crowd(
            args.clients, jobs(second_id, people), "flash crowd while the letter is queued and sent"
        )
        output = await sending
        wall = finished[0] - started
        during = letters(url)[1]
    finally:
        server.stop()

    def rate(run, occurrence_id):
        successes = [a for a in run.answers if booked(a, args.door)]
        span = max(a.at for a in successes) - run.started if successes else run.seconds
        return len(successes), (len(successes) / span if span else 0.0)

    ok = True
    rates = []
    for run, occurrence_id in ((alone, first_id), (together, second_id)):
        count, per_second = rate(run, occurrence_id)
        rates.append(per_second)
        print_run(run, healthz, "bookings/s (until sold out)", per_second)
        confirmed = booking_counts(url, occurrence_id).get("confirmed", 0)
        print(f"  {'confirmed seats in the database':<34} {confirmed:>10}")
        ok &= confirmed == args.capacity and count == args.capacity and run.server_errors == 0

    queued_in = re.search(r"in ([0-9.]+) s", output)
    print(f"newsletter send: {output.strip()}")
    print(report_line("queue time (the command's own)", float(queued_in.group(1)), "s"))
    print(report_line("queue time (with process start)", wall, "s"))
    print(report_line("letters sent during the crowd", during, ""))
    print(report_line("booking rate kept", 100 * rates[1] / rates[0] if rates[0] else 0, "%"))

    # Let the worker finish: every subscriber gets exactly one letter.
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline and letters(url)[1] < args.subscribers:
        time.sleep(1)
    delivered_in = time.perf_counter() - started
    if worker is not None:
        worker.stop()
    smtp.stop()
    queued, sent, twice = letters(url)
    received = len(smtp.envelopes)
    print(report_line("letters queued", queued, ""))
    print(report_line("letters sent", sent, ""))
    print(report_line("received by the SMTP server", received, ""))
    print(report_line("all delivered after", delivered_in, "s"))
    ok &= queued == args.subscribers and sent == args.subscribers and twice == 0
    print(f"exactly the capacity twice, one letter each, no server error: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
