"""A 10,000-subscriber letter: queued, delivered, and a flash crowd booking meanwhile (wrk).

    .venv/bin/python benchmarks/newsletter_delivery.py [--checkout DIR] [--mail-workers 1]

The README's production set-up, from ``--checkout`` (default: this one; another commit's
tree compares side by side, see benchmarks/README.md): ``gunicorn --workers 4`` (sync
workers) and ``flask mail send --watch`` on a fresh PostgreSQL database, an SMTP server
(aiosmtpd) on loopback. The programme is ``--occurrences`` dates over the coming year (the
month's letter shows about a twelfth of them) and two dates of 1,000 seats. In order:

1. ``GET /healthz`` with wrk, the yardstick;
2. the mail worker(s) start, and run to the end, as in production;
3. a flash crowd with no letter: 3,000 people (1 seat each) for the first date through the
   API over 32 connections; bookings/s over the time from the first booking to the last;
   its confirmation emails leave meanwhile;
4. ``flask newsletter send --month`` queues the month's letter to ``--subscribers``
   confirmed subscribers (one in five in English): the command's own time, and with the
   process start;
5. once ``--head-start`` letters have left, the same crowd for the second date while the
   letters leave (its confirmations go first: bulk mail waits behind them);
6. the letters' delivery to its end: its time (queued to the last ``sent_at``), letters/s
   overall, during the crowd and outside it, and how long each crowd's confirmations
   waited (from the booking to their ``sent_at``).

Exits non-zero when a result is wrong: a date not exactly full or a server error, or a
subscriber without exactly one letter (the outbox and the SMTP server both counted).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from common import DEFAULT_DB, fresh_database
from sqlalchemy import create_engine, inspect, text
from wrk_suite import (
    BOOK_SCRIPT,
    CONNECTIONS,
    GET_SCRIPT,
    ROOT,
    seats,
    seed,
    serve,
    warm_up,
    write_script,
)
from wrk_suite import wrk as run_wrk

from tests.servers import app_env
from tests.smtp import SMTPServer

MESSAGE_ID = re.compile(rb"^Message-ID: (\S+)", re.MULTILINE | re.IGNORECASE)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=ROOT)
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--capacity", type=int, default=1000)
    parser.add_argument("--occurrences", type=int, default=600)
    parser.add_argument("--mail-workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="of /healthz")
    parser.add_argument(
        "--head-start", type=int, default=500, help="letters sent before the second crowd"
    )
    parser.add_argument("--wait", type=float, default=1800, help="seconds allowed for delivery")
    return parser.parse_args()


def second_date(url: str, first_id: int) -> tuple[int, str]:
    """A copy of the first rush date three hours later (the crowd during the delivery),
    and the month of both, YYYY-MM."""
    engine = create_engine(url)
    columns = [c["name"] for c in inspect(engine).get_columns("occurrence") if c["name"] != "id"]
    shifted = {"starts_at", "ends_at"}
    values = [f"{c} + interval '3 hours'" if c in shifted else c for c in columns]
    with engine.begin() as conn:
        new_id = conn.execute(
            text(
                f"INSERT INTO occurrence ({', '.join(columns)}) SELECT {', '.join(values)} "  # noqa: S608
                "FROM occurrence WHERE id = :id RETURNING id"
            ),
            {"id": first_id},
        ).scalar_one()
        starts = conn.execute(
            text("SELECT starts_at FROM occurrence WHERE id = :id"), {"id": first_id}
        ).scalar_one()
    engine.dispose()
    return new_id, starts.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m")


def add_subscribers(url: str, count: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO newsletter_subscriber (email, locale, token, consent_at, "
                "created_at, confirmed_at) SELECT 'reader' || n || '@example.org', "
                "CASE WHEN n % 5 = 0 THEN 'en' ELSE 'fr' END, md5(random()::text || n), "
                "now(), now(), now() FROM generate_series(1, :n) AS n"
            ),
            {"n": count},
        )
    engine.dispose()


def letters(url: str) -> dict:
    """The letters' outbox rows: by status, subscribers written to twice, the sending times."""
    engine = create_engine(url)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT status, count(*) FROM outbox WHERE kind = 'newsletter' GROUP BY 1")
            ).all()
        )
        twice = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT recipient FROM outbox WHERE kind = 'newsletter' "
                "GROUP BY recipient HAVING count(*) > 1) AS t"
            )
        ).scalar_one()
        first, last = conn.execute(
            text("SELECT min(sent_at), max(sent_at) FROM outbox WHERE kind = 'newsletter'")
        ).one()
    engine.dispose()
    return {"statuses": statuses, "twice": twice, "first": first, "last": last}


def sent_between(url: str, start: datetime, end: datetime) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM outbox WHERE kind = 'newsletter' AND sent_at >= :a "
                "AND sent_at < :b"
            ),
            {"a": start, "b": end},
        ).scalar_one()
    engine.dispose()
    return count


def flask(checkout: Path, env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return result.stdout


def rush(port: int, url: str, occurrence: int, people: int, script: Path, capacity: int) -> dict:
    """The crowd for one date through the API (as wrk_suite's flash-api)."""
    path = f"/api/v1/occurrences/{occurrence}/bookings"
    started = datetime.now(UTC)
    result = run_wrk(port, path, script, 600, str(people), "api", path, "", threads=1)
    result["from"], result["to"] = started, datetime.now(UTC)
    counts = seats(url, occurrence)
    result["confirmed"] = counts.get("confirmed", 0)
    span = counts.get("span")
    result["bookings_per_second"] = result["confirmed"] / span if span else 0.0
    errors = sum(n for code, n in result["statuses"].items() if int(code) >= 500)
    result["server_errors"] = errors + result["socket"]
    result["exact"] = result["confirmed"] == capacity and result["server_errors"] == 0
    return result


def booking_emails(url: str, start: datetime, end: datetime) -> dict:
    """The booking confirmations written during the crowd: how many, and how long each
    waited for its worker (from the booking to ``sent_at``): they go before the letters."""
    engine = create_engine(url)
    with engine.connect() as conn:
        waits = sorted(
            conn.execute(
                text(
                    "SELECT extract(epoch FROM sent_at - created_at) FROM outbox "
                    "WHERE kind = 'confirmed' AND created_at >= :a AND created_at < :b "
                    "AND sent_at IS NOT NULL"
                ),
                {"a": start, "b": end},
            ).scalars()
        )
    engine.dispose()
    if not waits:
        return {"sent": 0, "p50": 0.0, "max": 0.0}
    return {"sent": len(waits), "p50": float(waits[len(waits) // 2]), "max": float(waits[-1])}


def start_workers(checkout: Path, env: dict, count: int, work: Path) -> list[subprocess.Popen]:
    """The README's mail worker, ``flask mail send --watch``, ``count`` times."""
    workers = []
    for n in range(count):
        log = (work / f"mail-{n}.log").open("wb")
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "mail", "send"]
        command += ["--watch", "--interval", "1"]
        workers.append(subprocess.Popen(command, cwd=checkout, env=env, stdout=log, stderr=log))
    return workers


def main() -> int:
    args = arguments()
    checkout = args.checkout.resolve()
    work = Path(tempfile.mkdtemp(prefix="calendrier-letter-"))
    get_script = write_script(GET_SCRIPT, work, "get")
    book_script = write_script(BOOK_SCRIPT, work, "book")
    url = fresh_database(args.database)
    data = seed(checkout, url, args.capacity, args.occurrences)
    first_id = data["rush"]["ouverture"]
    second_id, month = second_date(url, first_id)
    add_subscribers(url, args.subscribers)
    smtp = SMTPServer().start()
    env = app_env(url, MAIL_PORT=smtp.port, MAIL_BACKEND="smtp")
    env.pop("FLASK_DEBUG", None)
    process, port = serve(checkout, url, work / "gunicorn.log")
    workers: list[subprocess.Popen] = []
    people = 3 * args.capacity
    try:
        warm_up(port, ["/healthz", f"/events/{data['event']}"])
        healthz = run_wrk(port, "/healthz", get_script, args.seconds)
        # As in production, the worker runs all along: the crowd alone has its
        # confirmations sent as it books too.
        workers = start_workers(checkout, env, args.mail_workers, work)
        alone = rush(port, url, first_id, people, book_script, args.capacity)
        deadline = time.monotonic() + args.wait
        while booking_emails(url, alone["from"], alone["to"])["sent"] < args.capacity:
            if time.monotonic() > deadline:
                raise SystemExit(f"the first crowd's emails did not all leave; see {work}")
            time.sleep(0.5)

        started = time.perf_counter()
        output = flask(checkout, env, "newsletter", "send", "--month", month)
        queue_wall = time.perf_counter() - started
        queued_in = float(re.search(r"in ([0-9.]+) s", output).group(1))
        delivery_started = datetime.now(UTC)
        while letters(url)["statuses"].get("sent", 0) < args.head_start:
            if time.monotonic() > deadline:
                raise SystemExit(f"fewer than {args.head_start} letters left; see {work}")
            time.sleep(0.5)
        during = rush(port, url, second_id, people, book_script, args.capacity)
        while letters(url)["statuses"].get("sent", 0) < args.subscribers:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        process.terminate()
        process.wait(timeout=30)
        smtp.stop()

    found = letters(url)
    sent = found["statuses"].get("sent", 0)
    delivered_in = (found["last"] - delivery_started).total_seconds() if found["last"] else 0
    in_crowd = sent_between(url, during["from"], during["to"])
    crowd_seconds = (during["to"] - during["from"]).total_seconds()
    confirmations = [booking_emails(url, r["from"], r["to"]) for r in (alone, during)]
    to_readers = [e for e in smtp.envelopes if e.rcpt_tos[0].startswith("reader")]
    received = collections.Counter(
        (MESSAGE_ID.search(e.content) or [None, None])[1] for e in to_readers
    )
    readers = {e.rcpt_tos[0] for e in to_readers}
    base = healthz["rate"]

    print(
        f"checkout {checkout}; gunicorn --workers 4 (sync), {CONNECTIONS} connections; "
        f"{args.mail_workers} mail worker(s); logs in {work}"
    )
    print(f"/healthz                          {base:9.1f} req/s")
    for name, r in (("flash crowd, no letter", alone), ("flash crowd while letters go", during)):
        print(
            f"{name:33} {r['bookings_per_second']:9.1f} bookings/s  "
            f"÷ healthz {r['bookings_per_second'] / base:.3f}  confirmed {r['confirmed']}, "
            f"server errors {r['server_errors']}, {r['statuses']}"
        )
    kept = during["bookings_per_second"] / alone["bookings_per_second"] * 100
    print(f"booking rate kept                 {kept:9.1f} %")
    print(f"newsletter send                   {queued_in:9.2f} s  ({output.strip()})")
    print(f"  with the process start          {queue_wall:9.2f} s")
    rate = sent / delivered_in if delivered_in else 0
    print(f"delivery of {sent:,} letters        {delivered_in:9.1f} s  ({rate:.0f} letters/s)")
    print(
        f"  during the crowd ({crowd_seconds:.1f} s)       {in_crowd:9d} letters  "
        f"({in_crowd / crowd_seconds if crowd_seconds else 0:.0f} letters/s)"
    )
    outside = delivered_in - crowd_seconds
    print(
        f"  outside the crowd ({outside:.1f} s)     {sent - in_crowd:9d} letters  "
        f"({(sent - in_crowd) / outside if outside > 0 else 0:.0f} letters/s)"
    )
    for name, c in zip(("alone", "while letters go"), confirmations, strict=True):
        print(
            f"  the crowd's confirmations ({name}): {c['sent']} waited {c['p50']:.1f} s "
            f"(median), {c['max']:.1f} s at most"
        )
    if found["last"] and found["last"] < during["to"]:
        print("  (the delivery ended before the crowd did: raise --subscribers)")
    print(f"outbox: {found['statuses']}; letters received by the SMTP server: {len(to_readers)}")
    once = (
        sent == args.subscribers
        and found["twice"] == 0
        and len(to_readers) == args.subscribers
        and set(received.values()) == {1}
        and len(readers) == args.subscribers
    )
    ok = alone["exact"] and during["exact"] and once
    print(f"exactly the capacity twice, no server error, one letter each: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
