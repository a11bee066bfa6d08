"""Flash crowd: the morning bookings open, 1.2 x capacity people press "book" at once.

Production setup: gunicorn with several workers, PostgreSQL. Prints confirmed seats
(exactly the capacity), server errors (none), bookings per second until sold out, and
p50/p99 latency, each next to ``/healthz`` measured the same way in the same run.

    .venv/bin/python benchmarks/flash_crowd.py [--clients 64] [--workers 5] [--door api|form]
"""

from __future__ import annotations

import asyncio

from common import (
    arguments,
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


async def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    url = fresh_database(args.database)
    occurrence_id, slug = prepare(url, args.capacity)
    logs = log_directory()
    server = start_server(url, args.workers, args.threads, logs)
    print(
        f"gunicorn: {args.workers} workers x {args.threads} thread(s); {args.clients} "
        f"concurrent clients; door: {args.door}; capacity {args.capacity}; logs in {logs}"
    )
    try:
        healthz = await measure_healthz(server.port, args.clients, args.healthz_seconds)
        print(f"/healthz: {healthz.per_second:.0f} req/s, {healthz.server_errors} errors")
        people = int(args.capacity * 1.2)
        jobs = [book_job(server.port, occurrence_id, slug, n, args.door) for n in range(people)]
        run = await crowd(args.clients, jobs, f"flash crowd: {people} people, 1 seat each")
    finally:
        server.stop()

    successes = [a for a in run.answers if booked(a, args.door)]
    sold_out_in = max(a.at for a in successes) - run.started if successes else run.seconds
    bookings_per_second = len(successes) / sold_out_in if sold_out_in else 0.0
    print_run(run, healthz, "bookings/s (until sold out)", bookings_per_second)
    print(report_line("booking requests answered/s", run.per_second, "/s", healthz))
    counts = booking_counts(url, occurrence_id)
    print(f"  {'confirmed seats in the database':<34} {counts.get('confirmed', 0):>10}")
    print(f"  {'emails queued in the outbox':<34} {counts['outbox']:>10}")
    ok = (
        counts.get("confirmed", 0) == args.capacity
        and len(successes) == args.capacity
        and run.server_errors == 0
    )
    goal = bookings_per_second >= healthz.per_second / 4
    print(f"exactly the capacity, no server error: {'yes' if ok else 'NO'}")
    print(f"bookings/s at least a quarter of /healthz: {'yes' if goal else 'no'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
