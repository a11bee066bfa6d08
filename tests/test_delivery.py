"""Delivering the outbox: several workers at once, workers that die, servers that fail.

A real SMTP server on loopback receives everything; workers are threads and real
`flask mail send` processes on the test's own database (SQLite or PostgreSQL).
"""

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask_mail import email_dispatched
from sqlalchemy import func, select, update

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import OutboxMessage
from calendrier.timeutil import clock_set_to, utcnow

from .interleave import meanwhile
from .smtp import SMTPServer, free_port, point_mail_at
from .test_concurrency import run_at_once

ROOT = Path(__file__).resolve().parent.parent


def queue(make, count):
    occurrence = make.occurrence(capacity=count + 10)
    for i in range(count):
        request = rules.BookingRequest(name=f"P{i}", email=f"p{i}@example.org", seats=1)
        rules.book(occurrence.id, request)
    db.session.commit()
    return count


def received_ids(server):
    return collections.Counter(m["Message-ID"] for m in server.messages)


def statuses():
    """Read in a transaction of its own: on SQLite an open one would block the workers."""
    db.session.expire_all()
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by("status"))
    result = dict(rows.all())
    db.session.commit()
    return result


def age_claims(minutes=11):
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending")
        .values(claimed_at=utcnow() - timedelta(minutes=minutes))
    )
    db.session.commit()


def worker_env(app, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALENDRIER_", "FLASK_"))}
    env.update(
        CALENDRIER_SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CALENDRIER_SECRET_KEY="test-secret",
        CALENDRIER_PUBLIC_URL=app.config["PUBLIC_URL"],
        CALENDRIER_MAIL_SERVER="127.0.0.1",
        CALENDRIER_MAIL_PORT=str(port),
        CALENDRIER_MAIL_DEFAULT_SENDER="agenda@example.org",
        CALENDRIER_MAIL_BACKEND="smtp",
    )
    return env


def start_worker(app, port, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "mail", "send", *args],
        cwd=ROOT,
        env=worker_env(app, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- several workers ---------------------------------------------------------


def test_two_worker_threads_send_each_message_exactly_once(app, make):
    server = SMTPServer(delay=0.01).start()
    point_mail_at(app, server.port)
    try:
        total = queue(make, 40)
        outcomes, errors = run_at_once(app, lambda i: outbox.deliver_all(batch=4).sent, 2)
    finally:
        server.stop()
    assert errors == []
    assert sum(outcomes) == total
    if db.engine.dialect.name == "postgresql":
        # SKIP LOCKED lets both claim at once; SQLite serialises writers and does not
        # promise fairness, so there one thread may legitimately do all the work.
        assert all(n > 0 for n in outcomes), outcomes
    ids = received_ids(server)
    assert len(ids) == total and set(ids.values()) == {1}
    assert statuses() == {"sent": total}


def test_two_worker_processes_send_each_message_exactly_once(app, make):
    server = SMTPServer(delay=0.03).start()
    try:
        total = queue(make, 30)
        workers = [start_worker(app, server.port, "--batch", "3") for _ in range(2)]
        outputs = [w.communicate(timeout=120) for w in workers]
    finally:
        server.stop()
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    sent = [int(out.split("sent ")[1].split(",")[0]) for out, _err in outputs]
    assert sum(sent) == total, outputs
    print("sent by each worker:", sent)
    ids = received_ids(server)
    assert len(ids) == total and set(ids.values()) == {1}
    assert statuses() == {"sent": total}


# --- workers that die --------------------------------------------------------


# A `flask mail send` process SIGKILLed mid-batch: tests/test_faults.py (nothing lost, at
# most the message in flight sent twice). Here, the rules behind it, one at a time.


def test_a_worker_whose_claim_was_taken_over_does_not_send_it_again(smtp, make):
    queue(make, 3)
    slow = outbox.worker_name()
    ids = outbox.claim(10, slow)
    assert len(ids) == 3
    age_claims()  # the slow worker is still talking to a hung server
    assert outbox.deliver(worker="rescuer").sent == 3  # the slow worker's claims were stale
    assert not any(i in outbox._renew([i], slow, utcnow()) for i in ids)
    assert len(smtp.messages) == 3


def test_two_workers_claiming_at_the_same_moment_take_different_emails_without_waiting(
    app, make, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite has one writer at a time: the second claim waits for the first's")
    queue(make, 4)
    # the first worker has locked its two rows and not yet marked them its own when the
    # second claims: it takes the other two at once (SKIP LOCKED), instead of waiting on
    # the first's rows, which waits on it here (the test would time out)
    claim = "UPDATE outbox SET status=%(status)s::VARCHAR, attempts"  # not the give-up one
    with meanwhile(app, claim, lambda: outbox.claim(2, "second")) as second:
        first = outbox.claim(2, "first")
    assert len(first) == 2 and len(second[0]) == 2
    assert set(first).isdisjoint(second[0])
    assert statuses() == {"sending": 4}


def test_a_worker_that_lost_one_email_to_another_still_sends_the_rest_of_its_batch(
    app, smtp, make, is_postgres
):
    if not is_postgres:
        pytest.skip("SQLite has one writer at a time: the takeover would wait for the worker")
    queue(make, 3)
    first = min(db.session.scalars(select(OutboxMessage.id)))
    db.session.commit()

    def take_over_the_first():  # another worker, after this one's claim went stale
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == first)
            .values(claimed_by="rescuer", claimed_at=utcnow())
        )
        db.session.commit()
        return True

    with meanwhile(app, "UPDATE outbox SET claimed_at", take_over_the_first):
        report = outbox.deliver(worker="slow")
    assert (report.claimed, report.sent) == (3, 2)  # the other two did not wait
    assert len(smtp.messages) == 2
    assert statuses() == {"sending": 1, "sent": 2}  # the first is the rescuer's to send


def test_a_worker_that_died_right_after_its_claim_leaves_the_emails_to_the_next(smtp, make):
    queue(make, 2)
    assert len(outbox.claim(10, "died-at-once")) == 2  # and never renewed or sent them
    assert outbox.deliver(worker="next").sent == 0  # its claim is fresh: not taken over
    with clock_set_to(utcnow() + outbox.STALE_CLAIM + timedelta(minutes=1)):
        assert outbox.deliver(worker="next").sent == 2
    assert len(smtp.messages) == 2


def test_an_email_on_its_last_attempt_is_not_given_up_while_a_worker_sends_it(smtp, make):
    queue(make, 1)
    db.session.execute(update(OutboxMessage).values(attempts=outbox.MAX_ATTEMPTS - 1))
    db.session.commit()
    [row_id] = outbox.claim(10, "sending-it")  # its 12th attempt, in hand
    assert outbox.claim(10, "another") == []  # another worker's round meanwhile
    assert statuses() == {"sending": 1}
    assert outbox._renew([row_id], "sending-it", utcnow()) == {row_id}  # still its own


def test_a_worker_stopped_mid_round_leaves_what_was_taken_over_meanwhile(app, smtp, make):
    # Claims are renewed a group at a time: a worker that stops for longer than
    # STALE_CLAIM between two messages (a frozen VM, a paused process) must see, when it
    # resumes, that the rest of its group is another worker's now.
    queue(make, 3)
    taken: list[int] = []
    frozen = contextlib.ExitStack()

    def stopped_after_the_first(sender, message):
        if taken:
            return
        frozen.enter_context(clock_set_to(utcnow() + outbox.STALE_CLAIM + timedelta(minutes=1)))
        with app.app_context():  # meanwhile, another worker finds the claims stale
            taken.extend(outbox.claim(10, "rescuer"))

    email_dispatched.connect(stopped_after_the_first)
    try:
        report = outbox.deliver(worker="stopped")
    finally:
        email_dispatched.disconnect(stopped_after_the_first)
        frozen.close()
    assert len(taken) == 3  # the one in flight too: its sending was not recorded yet
    assert report.sent == 1 and len(smtp.messages) == 1  # the rest was left to the rescuer
    db.session.expire_all()
    assert {row.claimed_by for row in db.session.scalars(select(OutboxMessage))} == {"rescuer"}
    age_claims()
    assert outbox.deliver(worker="rescuer").sent == 3
    # Everyone has their email; the one in flight at the stop went twice, as documented,
    # with the same Message-ID.
    assert sorted(received_ids(smtp).values()) == [1, 1, 2]


def test_a_message_that_kills_every_worker_is_given_up_in_the_end(smtp, make):
    queue(make, 1)
    for _ in range(outbox.MAX_ATTEMPTS):
        assert len(outbox.claim(10, "crashing")) == 1
        age_claims()  # ...and the worker died on it
    assert outbox.deliver().claimed == 0
    row = db.session.scalar(select(OutboxMessage))
    db.session.refresh(row)
    assert row.status == "failed" and "too many times" in row.last_error
    assert smtp.messages == []


# --- servers that fail -------------------------------------------------------


def test_temporary_refusals_are_retried_with_growing_delays_then_succeed(smtp, make):
    queue(make, 1)
    smtp.handler.refusals = ["451 4.3.0 Try again later"] * 3
    delays = []
    for attempt in range(1, 4):
        report = outbox.deliver()
        assert (report.sent, report.failed) == (0, 1)
        row = db.session.scalar(select(OutboxMessage))
        db.session.refresh(row)
        assert row.status == "queued" and row.attempts == attempt and "451" in row.last_error
        delays.append(row.next_attempt_at - utcnow())
        row.next_attempt_at = utcnow() - timedelta(seconds=1)  # time passes
        db.session.commit()
    assert delays[0] < delays[1] < delays[2]
    assert outbox.deliver().sent == 1
    db.session.refresh(row)
    assert row.status == "sent" and row.last_error == ""
    assert len(smtp.messages) == 1


def test_a_permanent_refusal_fails_at_once_and_the_rest_still_go(smtp, make):
    queue(make, 3)
    smtp.handler.refuse_recipients = {"p1@example.org": "550 5.1.1 No such user"}
    report = outbox.deliver()
    assert (report.sent, report.failed) == (2, 1)
    failed = db.session.scalar(select(OutboxMessage).where(OutboxMessage.status == "failed"))
    assert failed.recipient == "p1@example.org" and "550" in failed.last_error
    assert sorted(m["To"] for m in smtp.messages) == ["p0@example.org", "p2@example.org"]


def test_server_down_for_a_while_then_back(app, make):
    port = free_port()
    point_mail_at(app, port)
    total = queue(make, 5)
    assert outbox.deliver_all().failed == total  # nothing listens
    assert statuses() == {"queued": total}
    server = SMTPServer(port).start()
    try:
        assert outbox.deliver_all().sent == 0  # still waiting for the backoff
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()
        assert outbox.deliver_all().sent == total
    finally:
        server.stop()
    assert len(received_ids(server)) == total


def test_a_connection_lost_mid_batch_puts_the_rest_back_untried(app, make):
    server = SMTPServer(hold_after=1).start()  # accepts one, then goes down with the next
    point_mail_at(app, server.port)
    queue(make, 4)

    def goes_down():
        server.handler.holding.wait(60)
        server.stop()

    stopper = threading.Thread(target=goes_down)
    stopper.start()
    try:
        report = outbox.deliver()
    finally:
        stopper.join(60)
    assert (report.sent, report.failed) == (1, 3)
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.status for r in rows] == ["sent", "queued", "queued", "queued"]
    # The one cut off counts an attempt; the two never tried do not, and wait with it.
    assert [r.attempts for r in rows] == [1, 1, 0, 0]
    assert len({r.next_attempt_at for r in rows[1:]}) == 1
    assert "not tried" in rows[3].last_error
    assert len(server.envelopes) == 1


def test_each_message_has_one_stable_message_id(smtp, make):
    queue(make, 1)
    outbox.deliver()
    [message] = smtp.messages
    assert len(message.get_all("Message-ID")) == 1
    row = db.session.scalar(select(OutboxMessage))
    assert message["Message-ID"] == f"<outbox-{row.id}@agenda.example.org>"


# --- the command ---------------------------------------------------------------


def test_given_up_messages_can_be_queued_again_once_the_mail_set_up_is_fixed(runner, smtp, make):
    queue(make, 2)
    smtp.handler.refuse_recipients = {"p0@example.org": "550 5.7.1 Relay denied"}
    outbox.deliver_all()
    assert "failed: 1" in runner.invoke(args=["mail", "status"]).output
    smtp.handler.refuse_recipients = {}  # the relay was configured
    assert "queued 1 email(s) again" in runner.invoke(args=["mail", "retry"]).output
    assert "queued 0 email(s) again" in runner.invoke(args=["mail", "retry", "--days", "1"]).output
    result = runner.invoke(args=["mail", "send"])
    assert "sent 1, failed 0" in result.output
    assert sorted(m["To"] for m in smtp.messages) == ["p0@example.org", "p1@example.org"]
    assert statuses() == {"sent": 2}


def test_watching_worker_delivers_new_messages_and_stops_cleanly_on_sigterm(app, smtp, make):
    worker = start_worker(app, smtp.port, "--watch", "--interval", "0.2")
    try:
        total = queue(make, 2)
        deadline = time.monotonic() + 60
        while len(smtp.messages) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp.messages) == total
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "sent 2" in out and "stopped" in out


# --- local development: delivered right after the commit, into files ---------


@pytest.fixture
def app_config(app_config, tmp_path):
    return {**app_config, "MAIL_FOLDER": str(tmp_path / "mail")}


def test_in_development_emails_land_in_files_right_after_the_booking(app, client, make, tmp_path):
    app.config.update(MAIL_BACKEND="files", MAIL_DELIVERY="after_commit")
    occurrence = make.occurrence()
    response = client.post(
        f"/events/{occurrence.event.slug}",
        data={
            "occurrence": occurrence.id,
            "name": "Ana Martin",
            "email": "ana@example.org",
            "seats": 1,
            "consent": "y",
        },
    )
    assert response.status_code == 302
    db.session.rollback()  # the request's session is the test's: end its read (SQLite lock)
    folder = tmp_path / "mail"
    deadline = time.monotonic() + 20
    while not list(folder.glob("*.eml")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [path] = folder.glob("*.eml")
    text = path.read_text()
    assert "To: ana@example.org" in text and "method=PUBLISH" in text
    deadline = time.monotonic() + 20
    while statuses() != {"sent": 1} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses() == {"sent": 1}


def test_the_development_sender_ends_its_round_before_the_app_goes(app, client, make):
    """Stopped mid-round, it finishes and hands its connection back to a live pool."""
    app.config.update(MAIL_BACKEND="files", MAIL_DELIVERY="after_commit")
    occurrence = make.occurrence(capacity=10)
    for n in range(3):
        response = client.post(
            f"/events/{occurrence.event.slug}",
            data={
                "occurrence": occurrence.id,
                "name": "Ana Martin",
                "email": f"p{n}@example.org",
                "seats": 1,
                "consent": "y",
            },
        )
        assert response.status_code == 302
    db.session.rollback()
    sender = outbox._senders[id(app)]
    outbox.stop_background_delivery(app)  # as the test fixture does before disposing
    assert not sender.thread.is_alive()
    db.session.remove()
    assert db.engine.pool.checkedout() == 0


def test_an_email_is_due_from_the_moment_set_and_a_claim_is_stale_only_after_stale_claim(make):
    queue(make, 1)
    [row] = db.session.scalars(select(OutboxMessage)).all()
    due = row.next_attempt_at
    db.session.commit()
    assert outbox.claim(10, "early", now=due - timedelta(microseconds=1)) == []
    [row_id] = outbox.claim(10, "on-time", now=due)  # claimed at ``due``
    # a worker that went quiet exactly STALE_CLAIM ago may still be sending it
    assert outbox.claim(10, "rescuer", now=due + outbox.STALE_CLAIM) == []
    later = due + outbox.STALE_CLAIM + timedelta(microseconds=1)
    assert outbox.claim(10, "rescuer", now=later) == [row_id]
    db.session.expire_all()
    row = db.session.get(OutboxMessage, row_id)
    assert (row.claimed_by, row.attempts) == ("rescuer", 2)
