"""Scale-out: two app servers and two mail workers share one PostgreSQL (and one Redis).

As in production behind a load balancer: people land on either server, cancellations
on the other one, two workers deliver the outbox. No seat is sold twice and every
email leaves exactly once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage

from .conftest import PG_URL
from .servers import AppServer, MailWorker, app_env, booking_form, post_form, request
from .smtp import SMTPServer
from .test_security import _redis_available

pytestmark = pytest.mark.skipif(not PG_URL, reason="several machines share a PostgreSQL")

CAPACITY = 30
PEOPLE = 60
CANCELLING = 10


def wait_until(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def book_through_the_api(port: int, occurrence_id: int, n: int) -> tuple[int, dict]:
    body = {
        "name": f"Personne {n}",
        "email": f"personne{n}@example.org",
        "seats": 1,
        "consent": True,
    }
    status, _, raw = request(
        port,
        "POST",
        f"/api/v1/occurrences/{occurrence_id}/bookings",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    return status, json.loads(raw or b"{}")


def test_two_app_servers_and_two_mail_workers_share_one_database(make, database_uri, tmp_path):
    occurrence = make.occurrence(capacity=CAPACITY, waitlist=True, max_seats_per_booking=1)
    slug, occurrence_id = occurrence.event.slug, occurrence.id
    db.session.commit()
    db.session.remove()

    smtp = SMTPServer().start()
    config = {"MAIL_PORT": smtp.port}
    if _redis_available():  # rate limits shared by the servers, as in production
        config.update(
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
            RATELIMIT_KEY_PREFIX=f"scale-{uuid.uuid4().hex}",
            BOOKING_RATE_LIMIT="10000 per minute",
        )
    env = app_env(database_uri, **config)
    servers = [AppServer(env, tmp_path / f"app{i}.log", workers=1, threads=4) for i in range(2)]
    workers = [MailWorker(env, tmp_path / f"mail{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        ports = [s.port for s in servers]

        def person(n: int) -> tuple[str, str]:
            port = ports[n % 2]
            if n % 3 == 0:  # some book through the JSON API, the others with the form
                status, body = book_through_the_api(port, occurrence_id, n)
                assert status == 201, (status, body)
                return body["status"], body["token"]
            status, headers, _ = post_form(port, f"/events/{slug}", booking_form(occurrence_id, n))
            assert status == 302, status
            token = headers["Location"].split("/bookings/")[1].split("/")[0]
            return "?", token

        with ThreadPoolExecutor(max_workers=12) as pool:
            tokens = [token for _, token in pool.map(person, range(PEOPLE))]

        statuses = dict(
            db.session.execute(
                select(Booking.status, func.sum(Booking.seats)).group_by(Booking.status)
            ).all()
        )
        db.session.commit()
        assert statuses == {"confirmed": CAPACITY, "waitlisted": PEOPLE - CAPACITY}

        # Confirmed people cancel, each on the server they did not book on.
        confirmed = set(
            db.session.scalars(select(Booking.token).where(Booking.status == "confirmed"))
        )
        db.session.commit()
        leaving = [t for t in tokens if t in confirmed][:CANCELLING]

        def cancel(i: int) -> int:
            port = ports[(i + 1) % 2]
            if i % 2:
                return request(port, "DELETE", f"/api/v1/bookings/{leaving[i]}")[0]
            return post_form(port, f"/bookings/{leaving[i]}/cancel", {})[0]

        with ThreadPoolExecutor(max_workers=CANCELLING) as pool:
            assert set(pool.map(cancel, range(CANCELLING))) <= {200, 302}

        statuses = dict(
            db.session.execute(
                select(Booking.status, func.sum(Booking.seats)).group_by(Booking.status)
            ).all()
        )
        db.session.commit()
        assert statuses == {
            "confirmed": CAPACITY,  # the freed places went to the waiting list at once
            "waitlisted": PEOPLE - CAPACITY - CANCELLING,
            "cancelled": CANCELLING,
        }

        expected = PEOPLE + 2 * CANCELLING  # booked/waiting, cancelled, promoted
        outcome: dict[str, int] = {}

        def all_done() -> bool:
            outcome.clear()
            outcome.update(
                db.session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
            db.session.commit()
            done = outcome.get("sent", 0) + outcome.get("skipped", 0)
            return done == expected and len(smtp.envelopes) >= outcome.get("sent", 0)

        assert wait_until(all_done), (len(smtp.envelopes), expected, outcome)
        # Skipped: a waiting-list notice not yet sent when its person was promoted.
        skipped = set(
            db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.status == "skipped"))
        )
        db.session.commit()
        assert skipped <= {"waitlisted", "confirmed"}, skipped
        assert all(w.alive() for w in workers)
        assert all(s.alive() for s in servers)
        # Stopped (SIGTERM: each ends the message in hand and exits), the workers can send
        # nothing more: whatever duplicate there was has arrived by now.
        for worker in workers:
            worker.stop(timeout=60)
            assert worker.proc.returncode == 0, worker.output()[-2000:]
        received = Counter(m["Message-ID"] for m in smtp.messages)
        assert len(received) == outcome["sent"]
        assert max(received.values()) == 1, received.most_common(3)
        claimed_by = set(db.session.scalars(select(OutboxMessage.claimed_by)))
        db.session.commit()
        print(f"emails sent by: {sorted(map(str, claimed_by))}")
    finally:
        for process in (*servers, *workers):
            process.stop()
        smtp.stop()
