"""Flash crowd on a date with a waiting list, cancellations interleaved.

1.5 x capacity people book one seat each; one in five of those confirmed cancels right
away, so a place frees up and goes to the next person waiting. Prints confirmed seats
(exactly the capacity), the waiting list left, server errors (none), bookings and
cancellations per second and their p50/p99 latency, next to ``/healthz`` measured the
same way in the same run.

    .venv/bin/python benchmarks/waitlist_churn.py [--clients 64] [--workers 5]
"""

from __future__ import annotations

import asyncio
import json

from common import (
    Run,
    arguments,
    book_job,
    booking_counts,
    crowd,
    fresh_database,
    http,
    log_directory,
    measure_healthz,
    prepare,
    print_run,
    start_server,
)


async def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    args.door = "api"  # the token to cancel with comes back in the JSON answer
    url = fresh_database(args.database)
    occurrence_id, slug = prepare(url, args.capacity, waitlist=True)
    logs = log_directory()
    server = start_server(url, args.workers, args.threads, logs)
    print(
        f"gunicorn: {args.workers} workers x {args.threads} thread(s); {args.clients} "
        f"concurrent clients; capacity {args.capacity} with a waiting list; logs in {logs}"
    )
    cancellations = Run("cancellations (each promotes someone waiting)", 0.0)
    try:
        healthz = await measure_healthz(server.port, args.clients, args.healthz_seconds)
        print(f"/healthz: {healthz.per_second:.0f} req/s, {healthz.server_errors} errors")
        people = int(args.capacity * 1.5)

        def person(n: int):
            book = book_job(server.port, occurrence_id, slug, n, "api")

            async def job():
                answer = await book()
                if answer.status == 201 and n % 5 == 0:
                    body = json.loads(answer.body)
                    if body["status"] == "confirmed":
                        path = f"/api/v1/bookings/{body['token']}"
                        cancellations.answers.append(await http(server.port, "DELETE", path))
                return answer

            return job

        run = await crowd(args.clients, [person(n) for n in range(people)], "bookings")
        cancellations.seconds = run.seconds
        cancellations.started = run.started
    finally:
        server.stop()

    print(f"{people} people, 1 seat each, in {run.seconds:.2f}s")
    booked = sum(1 for a in run.answers if a.status == 201)
    print_run(run, healthz, "bookings/s (confirmed or waiting)", booked / run.seconds)
    cancelled = sum(1 for a in cancellations.answers if a.status == 200)
    print_run(cancellations, healthz, "cancellations/s", cancelled / run.seconds)
    counts = booking_counts(url, occurrence_id)
    print(f"  {'confirmed seats in the database':<34} {counts.get('confirmed', 0):>10}")
    print(f"  {'still waiting':<34} {counts.get('waitlisted', 0):>10}")
    print(f"  {'cancelled':<34} {counts.get('cancelled', 0):>10}")
    print(f"  {'emails queued in the outbox':<34} {counts['outbox']:>10}")
    ok = (
        counts.get("confirmed", 0) == args.capacity
        and counts.get("cancelled", 0) == cancelled
        and counts.get("waitlisted", 0) == people - args.capacity - cancelled
        and booked == people
        and run.server_errors == 0
        and cancellations.server_errors == 0
    )
    print(
        f"exactly the capacity, waiting list consistent, no server error: {'yes' if ok else 'NO'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
