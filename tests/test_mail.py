"""Email goes through a real SMTP server on loopback."""

from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db, mail
from calendrier.models import OutboxMessage
from calendrier.timeutil import utcnow

from .smtp import SMTPServer, free_port, point_mail_at


def book(occurrence, email="ana@example.org", locale="fr", seats=2):
    request = rules.BookingRequest(name="Ana Martin", email=email, seats=seats, locale=locale)
    return rules.book(occurrence.id, request).booking


def calendar_part(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return parts[0]


def test_confirmation_reaches_the_smtp_server_with_the_event_attached(smtp, make):
    occurrence = make.occurrence()
    booking = book(occurrence)
    report = outbox.deliver()
    assert (report.sent, report.failed) == (1, 0)
    [message] = smtp.messages
    assert message["To"] == "ana@example.org"
    assert occurrence.event.title in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert booking.reference in text and booking.reference in html
    assert f"https://agenda.example.org/bookings/{booking.token}" in text
    part = calendar_part(message)
    assert part.get_param("method") == "PUBLISH"
    cal = Calendar.from_ical(part.get_payload(decode=True))
    assert cal["METHOD"] == "PUBLISH"
    [vevent] = cal.walk("VEVENT")
    assert vevent.decoded("dtstart") == occurrence.starts_at
    assert str(vevent["uid"]) == occurrence.uid
    assert cal.walk("VTIMEZONE"), "the TZID must be defined in the file"


def test_confirmation_is_written_in_the_bookings_language(smtp, make):
    occurrence = make.occurrence()
    book(occurrence, "fr@example.org", "fr")
    book(occurrence, "en@example.org", "en")
    outbox.deliver()
    by_recipient = {m["To"]: m for m in smtp.messages}
    assert "Réservation confirmée" in by_recipient["fr@example.org"]["Subject"]
    assert "Booking confirmed" in by_recipient["en@example.org"]["Subject"]


def test_mail_server_down_then_up_nothing_is_lost(app, make):
    occurrence = make.occurrence()
    port = free_port()
    point_mail_at(app, port)  # nothing listens there yet
    booking = book(occurrence)
    assert booking.status == "confirmed"  # the booking does not depend on the mail server

    report = outbox.deliver()
    assert (report.sent, report.failed) == (0, 1)
    row = db.session.scalar(select(OutboxMessage))
    assert row.status == "queued" and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > utcnow()

    server = SMTPServer(port).start()
    try:
        assert outbox.deliver().sent == 0  # still backing off
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert outbox.deliver().sent == 1
        assert len(server.messages) == 1
        assert outbox.deliver().claimed == 0  # sent once, not again
    finally:
        server.stop()
    db.session.refresh(row)
    assert row.status == "sent" and row.sent_at is not None


def test_recorded_messages_carry_the_calendar_method(app, smtp, make):
    occurrence = make.occurrence()
    book(occurrence)
    row = db.session.scalar(select(OutboxMessage))
    with mail.record_messages() as outgoing:
        mail.send(outbox.build_message(row))
    [message] = outgoing
    assert message.recipients == ["ana@example.org"]
    assert "method=PUBLISH" in message.as_string()
    assert len(smtp.messages) == 1


def test_mail_send_command_delivers_the_outbox(runner, smtp, make):
    book(make.occurrence())
    result = runner.invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    assert len(smtp.messages) == 1
