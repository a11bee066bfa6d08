"""After an outage, `flask mail send` says what waits and until when; `--now` tries at once.

Through the CLI runner, with a real SMTP server on loopback (the ``smtp`` fixture): the
outage is the app pointed at a port where nothing listens, the recovery pointing it back.
"""

import collections
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import OutboxMessage
from calendrier.timeutil import utcnow

from .smtp import free_port, point_mail_at

ZONE = "America/Montreal"  # far from UTC and from the default, so a wrong zone shows


def queue(make, count):
    occurrence = make.occurrence(capacity=count + 5)
    for n in range(count):
        rules.book(
            occurrence.id,
            rules.BookingRequest(name=f"P{n}", email=f"p{n}@example.org", seats=1),
        )


def soonest_retry():
    db.session.expire_all()
    value = db.session.scalar(
        select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "queued")
    )
    db.session.commit()
    return value


def expected_clock(moment):
    local = moment.astimezone(ZoneInfo(ZONE))
    if local.date() == utcnow().astimezone(ZoneInfo(ZONE)).date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


@pytest.mark.config(TIMEZONE=ZONE)
def test_after_an_outage_mail_send_says_what_waits_and_send_now_sends_each_once(
    app, runner, smtp, make
):
    queue(make, 3)
    point_mail_at(app, free_port())  # the mail server is down
    down = runner.invoke(args=["mail", "send"])
    assert down.exit_code == 0, down.output
    assert "sent 0, failed 3" in down.output
    retry_at = soonest_retry()
    assert retry_at > utcnow()
    waiting_line = f"3 waiting to retry, next at {expected_clock(retry_at)}"
    assert waiting_line in down.output

    point_mail_at(app, smtp.port)  # back
    later = runner.invoke(args=["mail", "send"])
    assert "sent 0, failed 0" in later.output  # still backing off...
    assert waiting_line in later.output  # ...and it says so, and until when
    status = runner.invoke(args=["mail", "status"]).output
    assert "queued: 3" in status
    assert f"next attempt: {expected_clock(retry_at)} (3 waiting to retry)" in status
    assert smtp.messages == []

    now = runner.invoke(args=["mail", "send", "--now"])
    assert now.exit_code == 0, now.output
    assert "3 email(s) due for a retry later, tried now" in now.output
    assert "sent 3, failed 0" in now.output and "waiting" not in now.output
    again = runner.invoke(args=["mail", "send", "--now"])
    assert "sent 0, failed 0" in again.output
    assert "next attempt" not in runner.invoke(args=["mail", "status"]).output

    ids = collections.Counter(m["Message-ID"] for m in smtp.messages)
    assert len(ids) == 3 and set(ids.values()) == {1}  # each once
    assert sorted(m["To"] for m in smtp.messages) == [f"p{n}@example.org" for n in range(3)]


def test_send_now_leaves_a_message_another_worker_is_sending_to_that_worker(runner, smtp, make):
    queue(make, 2)
    other = outbox.worker_name()
    [first, second] = outbox.claim(10, other)  # another worker is sending both...
    outbox._finish(
        second,
        other,
        status="queued",
        next_attempt_at=utcnow() + timedelta(minutes=5),
        claimed_by=None,
    )  # ...and put the second back for later
    assert outbox.bring_forward() == 1  # only the one still queued is brought forward
    result = runner.invoke(args=["mail", "send", "--now"])
    assert "sent 1, failed 0" in result.output
    # the first is still the other worker's
    assert outbox._renew([first], other, utcnow()) == {first}
    assert len(smtp.messages) == 1
