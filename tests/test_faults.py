"""Faults, with real processes: a mail worker killed mid-batch, the mail server down and
back, PostgreSQL restarted under traffic. Nothing answered as done may be lost.
"""

from __future__ import annotations

import html
import os
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage
from calendrier.timeutil import utcnow

from .conftest import PG_URL
from .servers import AppServer, MailWorker, app_env, booking_form, flask_command, post_form
from .smtp import SMTPServer, free_port


def wait_for(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def queue_bookings(make, count: int) -> list[int]:
    occurrence = make.occurrence(capacity=count, max_seats_per_booking=1)
    ids = [
        rules.book(
            occurrence.id,
            rules.BookingRequest(name=f"P{n}", email=f"p{n}@example.org", seats=1),
        ).booking.id
        for n in range(count)
    ]
    db.session.commit()
    db.session.remove()  # the test holds no transaction while the workers run
    return ids


def read(query):
    """One value, in a transaction of its own: on SQLite an open one blocks the workers."""
    try:
        return db.session.execute(query).all()
    finally:
        db.session.commit()


def outbox_statuses() -> Counter:
    rows = read(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return Counter(dict(rows))


def time_passes(**values) -> None:
    """The clock moves on: what waits for a later time is due now."""
    db.session.execute(update(OutboxMessage).values(**values))
    db.session.commit()


def message_ids(server: SMTPServer) -> Counter:
    return Counter(m["Message-ID"] for m in server.messages)


def test_a_mail_worker_killed_mid_batch_loses_nothing(make, database_uri, tmp_path):
    count = 30
    queue_bookings(make, count)
    # The server accepts five, then keeps the sixth in hand: the worker is mid-batch.
    server = SMTPServer(hold_after=5).start()
    env = app_env(database_uri, MAIL_PORT=server.port)
    worker = MailWorker(env, tmp_path / "worker.log", watch=False)
    try:
        wait_for(server.handler.holding.is_set, timeout=60, what="the worker to be mid-batch")
        worker.kill()
        assert worker.proc.returncode == -9
        statuses = outbox_statuses()
        assert statuses["sent"] == 5
        assert statuses["sending"] == count - 5, statuses  # claimed by the dead worker
        assert sum(statuses.values()) == count

        # Another worker does not take messages a live worker may still be sending...
        assert "sent 0" in flask_command(env, "mail", "send")
        # ...but once the claim is stale (the dead worker's time is up), it does.
        time_passes(claimed_at=utcnow() - timedelta(minutes=11))
        flask_command(env, "mail", "send")

        assert outbox_statuses() == Counter(sent=count)
        received = message_ids(server)
        assert len(received) == count  # every email arrived
        # The one in hand at the kill was never accepted: none arrives twice.
        assert sum(received.values()) == count, received.most_common(3)
        assert {m["To"] for m in server.messages} == {f"p{n}@example.org" for n in range(count)}
    finally:
        worker.stop()
        server.stop()


def test_mail_server_down_and_back_with_a_watching_worker(make, database_uri, tmp_path):
    port = free_port()  # nothing listens there yet
    env = app_env(database_uri, MAIL_PORT=port, MAIL_TIMEOUT=3)
    worker = MailWorker(env, tmp_path / "worker.log")
    server = None
    try:
        queue_bookings(make, 5)
        wait_for(
            lambda: (
                outbox_statuses()["queued"] == 5
                and read(select(func.min(OutboxMessage.attempts)))[0][0] == 1
            ),
            what="the first failed attempt",
        )
        db.session.commit()
        assert worker.alive()  # a failure is no crash: the worker keeps watching

        # Back, for two messages: the third is in hand when the server goes down again.
        first = SMTPServer(port, hold_after=2).start()
        server = first
        time_passes(next_attempt_at=utcnow())  # the backoff is over
        wait_for(first.handler.holding.is_set, timeout=60, what="delivery to resume")
        first.stop()  # down again, in the middle of the batch
        # The worker gives the rest of its batch back (not one timeout each): only then
        # does the clock move on, or its backoff would be written after ours.
        wait_for(
            lambda: outbox_statuses()["sending"] == 0, timeout=60, what="the batch put back"
        )
        assert outbox_statuses() == Counter(sent=2, queued=3)
        server = SMTPServer(port).start()
        time_passes(next_attempt_at=utcnow())
        wait_for(lambda: outbox_statuses() == Counter(sent=5), timeout=60, what="everything sent")
        assert worker.alive()
        received = message_ids(first) + message_ids(server)
        assert len(received) == 5  # every email arrived...
        assert sum(received.values()) == 5  # ...once: the one in hand was never accepted
    finally:
        worker.stop()
        if server is not None:
            server.stop()


# --- PostgreSQL restarted under traffic ------------------------------------------------
# It restarts the whole server, which other tests and other people may be using: it runs
# only when asked (``CALENDRIER_TEST_PG_RESTART=1``, as ``make test-postgres`` does, in a
# pytest run of its own, after the rest of the suite).

PG_RESTART = bool(PG_URL) and os.environ.get("CALENDRIER_TEST_PG_RESTART") == "1"


def restart_postgresql() -> float:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    started = time.monotonic()
    subprocess.run(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            version,
            "main",
            "restart",
            "--mode",
            "fast",
        ],
        check=True,
        timeout=60,
    )
    return time.monotonic() - started


@pytest.mark.pg_restart
@pytest.mark.skipif(not PG_RESTART, reason="set CALENDRIER_TEST_PG_RESTART=1 (PostgreSQL)")
def test_postgresql_restart_under_traffic_loses_no_confirmed_booking(
    make, database_uri, tmp_path: Path
):
    occurrence = make.occurrence(capacity=100_000, max_seats_per_booking=1)
    slug, occurrence_id = occurrence.event.slug, occurrence.id
    db.session.commit()
    db.session.remove()
    db.engine.dispose()  # the test's own connections would die with the server

    server = AppServer(app_env(database_uri), tmp_path / "gunicorn.log").wait_ready()
    answers: list[tuple[float, int, str]] = []  # (time, status, Location)
    stop = threading.Event()
    counter = iter(range(10**9))
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            with lock:
                n = next(counter)
            try:
                status, headers, _ = post_form(
                    server.port, f"/events/{slug}", booking_form(occurrence_id, n), timeout=30
                )
            except OSError:
                status, headers = 0, {}
            answers.append((time.monotonic(), status, headers.get("Location", "")))

    clients = [threading.Thread(target=client) for _ in range(6)]
    try:
        for t in clients:
            t.start()
        # traffic before the restart, then the restart, then enough traffic after it
        wait_for(lambda: sum(s == 302 for _, s, _ in answers) >= 5, 120, "bookings before")
        outage_start = time.monotonic()
        outage = restart_postgresql()
        recovered_at = outage_start + outage
        wait_for(
            lambda: sum(t > recovered_at + 1.0 for t, _, _ in answers) >= 5, 120, "answers after"
        )
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=60)
        server.stop()

    statuses = Counter(status for _, status, _ in answers)
    print(f"restart took {outage:.1f}s; answers: {dict(statuses)}")
    succeeded = [loc for _, status, loc in answers if status == 302]
    assert all("/bookings/" in loc for loc in succeeded)
    tokens = {loc.split("/bookings/")[1].split("/")[0] for loc in succeeded}
    assert len(tokens) == len(succeeded)
    # Refusals during the outage are honest "try again" answers, never a crash page.
    assert set(statuses) <= {302, 503}, (statuses, server.output()[-3000:])
    # The app came back by itself: bookings succeed again soon after the restart...
    after = [(t, status) for t, status, _ in answers if t > recovered_at + 1.0]
    assert after and all(status == 302 for _, status in after), statuses
    # ...and every booking answered as taken is in the database, confirmed.
    stored = dict(
        db.session.execute(
            select(Booking.token, Booking.status).where(Booking.occurrence_id == occurrence_id)
        ).all()
    )
    assert tokens <= set(stored), len(tokens - set(stored))
    assert {stored[t] for t in tokens} == {"confirmed"}
    assert outage < 30


def test_an_unreachable_database_is_a_503_that_says_nothing_was_saved(database_uri, tmp_path):
    from calendrier import create_app

    from .conftest import make_config

    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(make_config(unreachable, tmp_path))
    client = app.test_client()
    page = client.get("/healthz")
    assert page.status_code == 503 and page.headers["Retry-After"]
    assert "Rien n'a été enregistré" in html.unescape(page.get_data(as_text=True))
    api = client.get("/api/v1/events")
    assert api.status_code in (404, 503)
    if api.status_code == 503:
        assert api.get_json()["error"] == "unavailable"
