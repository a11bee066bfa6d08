"""Where an API booking's CPU goes, in process: the profile behind the flash crowd's figure.

    .venv/bin/python benchmarks/profile_booking.py [--bookings 3000] [--cprofile 40]

On a fresh PostgreSQL database (``--database``), books ``--bookings`` times through the API
with Flask's test client (no HTTP server, no load generator: only this process's CPU,
``time.process_time``), after 300 to warm up, and prints the CPU of one booking, of its
parts (the rules' functions on the rush path), and of one ``GET /healthz``, with the
booking's ratio to it. ``--cprofile N`` also prints the N costliest functions by their own
time. Figures vary with the machine: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import DEFAULT_DB, bench_app, fresh_database, prepare  # noqa: E402

from calendrier.domain import bookings as rules  # noqa: E402

# The rush path's parts (domain/bookings.py), timed each time they are called.
PARTS = (
    "book",
    "_at_a_glance",
    "_with_checked_answers",
    "_book_in_one_statement",
    "_commit_keeping_loaded",
)


def timed(spent: Counter, name: str) -> None:
    """Replace ``rules.name`` by the same function that adds its CPU to ``spent``."""
    function = getattr(rules, name)

    def measured(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - started

    setattr(rules, name, measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--bookings", type=int, default=3000)
    parser.add_argument("--cprofile", type=int, default=0, help="print the N costliest")
    args = parser.parse_args()

    url = fresh_database(args.database)
    occurrence_id, _slug = prepare(url, capacity=args.bookings + 1000)
    client = bench_app(url).test_client()
    path = f"/api/v1/occurrences/{occurrence_id}/bookings"

    def book(n: int) -> None:
        person = {"name": f"P {n}", "email": f"p{n}@example.org", "seats": 1, "consent": True}
        answer = client.post(path, json=person)
        assert answer.status_code == 201, answer.get_data(as_text=True)

    for n in range(300):
        book(n)
    spent: Counter = Counter()
    for name in PARTS:
        timed(spent, name)
    started = time.process_time()
    for n in range(300, 300 + args.bookings):
        book(n)
    booking = (time.process_time() - started) / args.bookings * 1000
    started = time.process_time()
    for _ in range(args.bookings):
        client.get("/healthz")
    healthz = (time.process_time() - started) / args.bookings * 1000

    print(f"CPU of one API booking: {booking:.3f} ms ({booking / healthz:.1f} x /healthz)")
    outside = booking - spent["book"] / args.bookings * 1000
    print(f"  {'outside the rules (Flask, arguments, answer)':48} {outside:.3f} ms")
    for name in PARTS:
        print(f"  {name:48} {spent[name] / args.bookings * 1000:.3f} ms")
    print(f"CPU of one GET /healthz: {healthz:.3f} ms")

    if args.cprofile:
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for n in range(300 + args.bookings, 300 + args.bookings + 1000):
            book(n)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
