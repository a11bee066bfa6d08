"""What the operator of the mail worker sees and does, and when each email is tried again.

The retry schedule, what counts as a refusal for good, `mail status`, `mail send --now`,
`mail retry`, a mail server that never answers, the development defaults, Flask-Mail's
``email_dispatched`` signal and the bulk letter's MIME mould. A real SMTP server on loopback
(the ``smtp`` fixture) receives everything; the rules are those of ``domain/outbox.py``.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from flask_mail import email_dispatched
from sqlalchemy import select, update

from calendrier.domain import bookings as rules
from calendrier.domain import newsletter, outbox
from calendrier.extensions import db
from calendrier.models import ANONYMOUS_DOMAIN, OutboxMessage
from calendrier.timeutil import utcnow

from .smtp import SMTPServer, point_mail_at


def book(make, *emails: str, occurrence=None) -> None:
    """One booking per address: each confirmation waits in the outbox."""
    occurrence = occurrence or make.occurrence(capacity=10)
    for email in emails:
        rules.book(occurrence.id, rules.BookingRequest(name="Ana", email=email, seats=1))
    db.session.commit()


def rows() -> dict[str, OutboxMessage]:
    """The outbox by recipient, read in a transaction of its own."""
    db.session.expire_all()
    found = {row.recipient: row for row in db.session.scalars(select(OutboxMessage))}
    db.session.commit()
    return found


def set_rows(who: str, **values) -> None:
    db.session.execute(update(OutboxMessage).where(OutboxMessage.recipient == who).values(**values))
    db.session.commit()


def seconds_until_retry(row: OutboxMessage, before) -> float:
    return (row.next_attempt_at - before).total_seconds()


# --- when an email is tried again -------------------------------------------------------


def test_the_retry_schedule_doubles_from_30_seconds_up_to_two_hours():
    seconds = [outbox.backoff(attempt).total_seconds() for attempt in range(1, 11)]
    assert seconds == [30, 60, 120, 240, 480, 960, 1920, 3840, 7200, 7200]


def test_a_temporary_refusal_is_tried_again_30_seconds_later_then_60(smtp, make):
    book(make, "ana@example.org")
    for expected in (30, 60):
        smtp.handler.refusals = ["451 4.3.0 Try again later"]
        set_rows("ana@example.org", next_attempt_at=utcnow())  # due now
        before = utcnow()
        assert outbox.deliver().failed == 1
        row = rows()["ana@example.org"]
        assert row.status == "queued" and "451" in row.last_error
        # a few seconds of leeway for a busy machine; the next step doubles it
        assert expected <= seconds_until_retry(row, before) < expected + 15
    assert smtp.messages == []


@pytest.mark.parametrize(("attempts_before", "status"), [(10, "queued"), (11, "failed")])
def test_the_twelfth_temporary_refusal_gives_the_email_up(smtp, make, attempts_before, status):
    book(make, "ana@example.org")
    set_rows("ana@example.org", attempts=attempts_before)
    smtp.handler.refusals = ["451 4.3.0 Try again later"]
    outbox.deliver()
    row = rows()["ana@example.org"]
    assert row.attempts == attempts_before + 1
    assert row.status == status


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("554 5.7.1 Message rejected", "failed"),
        ("500 5.5.2 Syntax error", "failed"),
        ("452 4.3.1 Insufficient storage", "queued"),
        ("499 4.0.0 Unusual but temporary", "queued"),
    ],
)
def test_a_refusal_of_the_message_is_for_good_only_with_a_5xx(smtp, make, answer, status):
    book(make, "ana@example.org")
    smtp.handler.refusals = [answer]
    outbox.deliver()
    row = rows()["ana@example.org"]
    assert row.status == status and answer.split()[0] in row.last_error


@pytest.mark.parametrize(
    ("answers", "status"),
    [
        ({"ana@example.org": "450 4.2.1 Mailbox busy"}, "queued"),
        ({"ana@example.org": "550 5.1.1 No such user"}, "failed"),
        ({"ana@example.org": "500 5.5.2 Syntax error in the address"}, "failed"),
    ],
)
def test_a_refused_recipient_is_given_up_only_with_a_5xx(smtp, make, answers, status):
    book(make, "ana@example.org")
    smtp.handler.refuse_recipients = answers
    outbox.deliver()
    assert rows()["ana@example.org"].status == status


def test_one_round_counts_each_refusal_each_broken_email_and_each_untrue_one(runner, smtp, make):
    occurrence = make.occurrence(capacity=10)
    book(make, *[f"p{n}@example.org" for n in range(4)], occurrence=occurrence)
    found = rows()
    for n in (2, 3):  # their confirmations are no longer true
        rules.cancel_by_attendee(found[f"p{n}@example.org"].booking_id)
    db.session.commit()
    # two emails of a kind nothing renders (a module missing from this server)
    for n in (4, 5):
        outbox.queue("a-kind-from-elsewhere", f"p{n}@example.org")
    db.session.commit()
    smtp.handler.refuse_recipients = {
        "p0@example.org": "550 5.1.1 No such user",
        "p1@example.org": "550 5.1.1 No such user",
    }
    # in id order: two refused, two untrue, the two cancellations sent, two broken
    result = runner.invoke(args=["mail", "send"])
    assert "sent 2, failed 4, skipped 2 (no longer true)" in result.output, result.output


# --- what the operator reads and does ---------------------------------------------------


def test_mail_send_counts_every_round_of_its_batches(runner, smtp, make):
    occurrence = make.occurrence(capacity=10)
    emails = [f"p{n}@example.org" for n in range(5)]
    book(make, *emails, occurrence=occurrence)
    # p1's booking cancelled: its confirmation no longer true; p3 has no such mailbox
    found = rows()
    rules.cancel_by_attendee(found["p1@example.org"].booking_id)
    db.session.commit()
    smtp.handler.refuse_recipients = {"p3@example.org": "550 5.1.1 No such user"}
    result = runner.invoke(args=["mail", "send", "--batch", "2"])
    # three rounds of at most 2 (and p1's cancellation email, sent in the third)
    assert "sent 4, failed 1, skipped 1 (no longer true)" in result.output, result.output
    assert outbox.deliver().claimed == 0  # nothing left for a fourth


def test_mail_status_lists_every_state_with_its_count(runner, make):
    book(make, "ana@example.org")
    said = runner.invoke(args=["mail", "status"]).output.splitlines()
    assert said == ["queued: 1", "sending: 0", "sent: 0", "failed: 0", "skipped: 0"]


@pytest.fixture
def one_of_each(smtp, make):
    """Ana's email given up (550), Bruno's waiting for its retry (451), Chloé's due now."""
    occurrence = make.occurrence(capacity=10)
    book(make, "ana@example.org", "bruno@example.org", occurrence=occurrence)
    smtp.handler.refuse_recipients = {
        "ana@example.org": "550 5.1.1 No such user",
        "bruno@example.org": "451 4.2.0 Greylisted",
    }
    outbox.deliver()
    smtp.handler.refuse_recipients = {}
    book(make, "chloe@example.org", occurrence=occurrence)
    found = rows()
    statuses = [found[f"{n}@example.org"].status for n in ("ana", "bruno", "chloe")]
    assert statuses == ["failed", "queued", "queued"]
    return found


def test_only_the_email_waiting_for_its_retry_is_said_to_wait(runner, one_of_each):
    said = runner.invoke(args=["mail", "status"]).output
    assert "(1 waiting to retry)" in said
    assert "last error: SMTPRecipientsRefused" in said and "4.2.0 Greylisted" in said
    retry_at = one_of_each["bruno@example.org"].next_attempt_at
    # due at that very moment, it no longer waits
    assert outbox.waiting(now=retry_at).count == 0
    assert outbox.waiting(now=retry_at - timedelta(seconds=1)).count == 1


def test_nothing_waits_in_an_empty_outbox(app):
    assert outbox.waiting() == outbox.Waiting(0, None, "")
    assert outbox.bring_forward() == 0


def test_send_now_tries_the_waiting_email_and_the_due_one_once_each(runner, one_of_each):
    retry_at = one_of_each["bruno@example.org"].next_attempt_at
    assert outbox.bring_forward(now=retry_at) == 0  # due then: nothing to bring forward
    result = runner.invoke(args=["mail", "send", "--now"])
    assert (
        "1 email(s) due for a retry later, tried now" in result.output
    )  # Bruno's, not the given up
    assert "sent 2, failed 0" in result.output  # Bruno's and Chloé's
    found = rows()
    assert found["ana@example.org"].status == "failed"
    assert found["bruno@example.org"].status == found["chloe@example.org"].status == "sent"


def test_retry_gives_an_email_its_whole_schedule_again(runner, smtp, make):
    book(make, "ana@example.org")
    set_rows("ana@example.org", status="failed", attempts=outbox.MAX_ATTEMPTS)
    assert "queued 1 email(s) again" in runner.invoke(args=["mail", "retry"]).output
    smtp.handler.refusals = ["451 4.3.0 Try again later"]
    before = utcnow()
    outbox.deliver()
    row = rows()["ana@example.org"]
    # its first attempt again: kept for another try, 30 seconds later
    assert row.status == "queued" and row.attempts == 1
    assert 30 <= seconds_until_retry(row, before) < 45


def test_retry_days_takes_only_the_emails_written_since(runner, make):
    book(make, "ana@example.org", "bruno@example.org")
    set_rows("ana@example.org", status="failed", created_at=utcnow() - timedelta(days=3))
    set_rows("bruno@example.org", status="failed")
    assert "queued 1 email(s) again" in runner.invoke(args=["mail", "retry", "--days", "1"]).output
    found = rows()
    assert found["ana@example.org"].status == "failed"
    assert found["bruno@example.org"].status == "queued"


def test_retry_leaves_the_emails_of_anonymised_attendees(runner, make):
    book(make, "ana@example.org")
    set_rows("ana@example.org", status="failed", recipient=f"someone@{ANONYMOUS_DOMAIN}")
    assert "queued 0 email(s) again" in runner.invoke(args=["mail", "retry"]).output
    assert rows()[f"someone@{ANONYMOUS_DOMAIN}"].status == "failed"


# --- a mail server that never answers --------------------------------------------------


def test_a_server_that_never_answers_costs_the_configured_timeout_not_a_hung_worker(app, make):
    server = SMTPServer(hold_after=0).start()  # takes the message, never answers
    point_mail_at(app, server.port)
    app.config["MAIL_TIMEOUT"] = 1
    book(make, "ana@example.org", "bruno@example.org", "chloe@example.org")
    reports = []

    def deliver():
        with app.app_context():
            reports.append(outbox.deliver())
            db.session.remove()

    worker = threading.Thread(target=deliver)
    try:
        worker.start()
        assert server.handler.holding.wait(60)  # the message is in, unanswered, from now
        held = time.monotonic()
        worker.join(60)
        alive, took = worker.is_alive(), time.monotonic() - held
    finally:
        server.stop()
        worker.join(60)
    assert not alive  # a worker without a timeout would wait for ever
    assert took < 9  # about 1 s (and two writes), not the 10 s default: MAIL_TIMEOUT is it
    assert reports[0].failed == 3
    found = rows()
    assert found["ana@example.org"].status == "queued"
    assert "timed out" in found["ana@example.org"].last_error
    # the two behind it were not tried on a dead line: put back at once, no attempt counted
    for email in ("bruno@example.org", "chloe@example.org"):
        assert found[email].status == "queued" and found[email].attempts == 0
        assert found[email].last_error == "not tried: the connection to the mail server was lost"


# --- defaults and integrations ----------------------------------------------------------


def test_development_delivers_after_the_commit_into_files_and_production_through_a_worker(app):
    app.config.pop("MAIL_DELIVERY", None)
    app.config.pop("MAIL_BACKEND", None)
    app.debug = True
    assert (outbox.mail_delivery(app), outbox.mail_backend(app)) == ("after_commit", "files")
    app.debug = False
    assert (outbox.mail_delivery(app), outbox.mail_backend(app)) == ("worker", "smtp")
    app.config.update(MAIL_DELIVERY="after_commit", MAIL_BACKEND="files")
    assert (outbox.mail_delivery(app), outbox.mail_backend(app)) == ("after_commit", "files")
    assert isinstance(outbox.transport(app), outbox.FileTransport)


@pytest.mark.parametrize("backend", ["smtp", "files"])
def test_each_email_sent_is_announced_by_flask_mails_signal(
    app, smtp, make, backend, tmp_path, caplog
):
    folder = tmp_path / "instance" / "mail"  # made on the first email, parents too
    app.config.update(MAIL_BACKEND=backend, MAIL_FOLDER=str(folder))
    occurrence = make.occurrence(capacity=5)
    heard = []

    def receiver(sender, message):
        heard.append((sender, message.recipients, message.subject))

    with caplog.at_level("INFO"), email_dispatched.connected_to(receiver, sender=app):
        for email in ("ana@example.org", "bruno@example.org"):  # the folder there already
            book(make, email, occurrence=occurrence)
            assert outbox.deliver().sent == 1
    found = rows()
    assert heard == [
        (app, [email], found[email].subject) for email in ("ana@example.org", "bruno@example.org")
    ]
    assert len(smtp.messages) == (2 if backend == "smtp" else 0)
    files = sorted(folder.glob("*"))
    if backend == "smtp":
        assert files == []
        return
    for path, email in zip(files, ("ana@example.org", "bruno@example.org"), strict=True):
        # a whole email per file, named by its time and outbox row, as the log line says
        assert re.fullmatch(rf"\d{{8}}-\d{{6}}-outbox-{found[email].id}\.eml", path.name)
        parsed = message_from_bytes(path.read_bytes(), policy=default)
        assert parsed["To"] == email and parsed["Subject"] == found[email].subject
        said = f"email to {email}: {found[email].subject} ({path})"
        assert said in caplog.messages


def test_emails_written_as_files_go_to_the_instance_folder_unless_told(app):
    app.config.pop("MAIL_FOLDER", None)
    assert outbox.FileTransport(app).folder == Path(app.instance_path) / "mail"
    app.config["MAIL_FOLDER"] = "/srv/mail"
    assert outbox.FileTransport(app).folder == Path("/srv/mail")


def test_bulk_mail_waits_behind_the_emails_about_bookings(app, make):
    letter = outbox.queue(newsletter.KIND_LETTER, "reader@example.org", snapshot={})
    db.session.commit()
    book(make, "ana@example.org")
    booking_email = rows()["ana@example.org"]
    assert letter.id < booking_email.id  # written first...
    assert outbox.claim(1, "w") == [booking_email.id]  # ...sent second
    assert outbox.claim(1, "w") == [letter.id]


# --- a bulk letter's MIME mould --------------------------------------------------------


def bulk_email(text: str) -> outbox.Email:
    return outbox.Email(
        subject="La lettre de décembre",
        text=text,
        html=f"<p>{text}</p>",
        headers={"List-Unsubscribe": "<@@UNSUBSCRIBE@@>"},
        fill={"@@UNSUBSCRIBE@@": ""},
    )


BOUNDARY = re.compile(rb"={15}\d+==")


def same_but_boundaries(one: bytes, other: bytes) -> bool:
    return BOUNDARY.sub(b"BOUNDARY", one) == BOUNDARY.sub(b"BOUNDARY", other)


def row_for(number: int) -> OutboxMessage:
    return OutboxMessage(id=number, recipient=f"reader{number}@example.org", kind="newsletter")


@pytest.mark.parametrize(
    "text",
    ["Read it here: @@UNSUBSCRIBE@@", "Découvrez le programme ; se désabonner : @@UNSUBSCRIBE@@"],
    ids=["ascii", "accents"],
)
def test_each_reader_gets_their_own_link_byte_for_byte_as_the_email_package_writes(app, text):
    for number in (1, 2):
        email = bulk_email(text)
        link = f"https://agenda.example.org/newsletter/unsubscribe/token-{number}"
        email.fill = {"@@UNSUBSCRIBE@@": link}
        msg = outbox.build_message(row_for(number), email)
        raw = outbox.wire_bytes(email, msg)
        # the mould (or not) changes no byte but the MIME boundaries, random in each message
        assert same_but_boundaries(raw, msg.as_bytes())
        parsed = message_from_bytes(raw, policy=default)
        assert parsed["To"] == f"reader{number}@example.org"
        assert parsed["List-Unsubscribe"] == f"<{link}>"
        plain = parsed.get_body(("plain",)).get_content()
        assert link in plain and "@@" not in plain


# --- what each email carries ------------------------------------------------------------


def attachments(message) -> dict[str, tuple[str, str]]:
    """{filename: (content type, disposition)} of a received email's attachments."""
    return {
        part.get_filename(): (part.get_content_type(), part.get_content_disposition())
        for part in message.walk()
        if part.get_filename()
    }


def test_an_email_written_before_the_upgrade_keeps_its_html_calendar_and_check_in_code(smtp):
    ics = "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"
    db.session.add(
        OutboxMessage(
            kind="cancelled",
            recipient="old@example.org",
            subject="Written long ago",
            body_text="The text as it was rendered.",
            body_html="<p>The page as it was rendered.</p>",
            ics=ics,
            ics_method="CANCEL",
            check_in_url="https://agenda.example.org/check-in/abc",
            snapshot={},
        )
    )
    db.session.commit()
    assert outbox.deliver().sent == 1
    [message] = smtp.messages
    assert "The page as it was rendered." in message.get_body(("html",)).get_content()
    assert attachments(message) == {
        "cancel.ics": ("text/calendar", "attachment"),
        "check-in.png": ("image/png", "inline"),
    }
    [calendar] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == "CANCEL" and "METHOD:CANCEL" in calendar.get_content()


def test_a_confirmation_comes_from_the_cluster_with_its_invitation(smtp, make):
    book(make, "ana@example.org")
    assert outbox.deliver().sent == 1
    [message] = smtp.messages
    assert message["From"] == "Agenda <agenda@example.org>"  # the site's name, MAIL_DEFAULT_SENDER
    assert len(message.get_all("From")) == 1
    assert attachments(message)["invitation.ics"] == ("text/calendar", "attachment")


@pytest.mark.parametrize(
    ("public_url", "domain"),
    [
        ("http://127.0.0.1:5000", "127.0.0.1"),
        ("https://agenda.example.org/pole-image/", "agenda.example.org"),
    ],
)
def test_the_message_id_names_the_sites_host(app, smtp, make, public_url, domain):
    app.config["PUBLIC_URL"] = public_url
    book(make, "ana@example.org")
    outbox.deliver()
    [message] = smtp.messages
    row = rows()["ana@example.org"]
    # as written on the wire: the email package's parsed header would drop a ":5000" as a
    # defect, and so hide a port left in
    written = dict(message.raw_items())["Message-ID"]
    assert written == f"<outbox-{row.id}@{domain}>"
    assert message["Message-ID"].defects == ()
