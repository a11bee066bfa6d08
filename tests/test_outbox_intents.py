"""The outbox holds the intent of each email; the worker renders it, as true when it goes.

Real SMTP on loopback (the ``smtp`` fixture), the real booking rules, the real worker.
"""

from flask import template_rendered
from sqlalchemy import select
from sqlalchemy import text as sa_text

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import OutboxMessage


def book(occurrence, email="ana@example.org", seats=2, locale="en"):
    request = rules.BookingRequest(name="Ana Martin", email=email, seats=seats, locale=locale)
    return rules.book(occurrence.id, request).booking


def rows():
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def text(message):
    return message.get_body(("plain",)).get_content()


def test_the_booking_writes_the_intent_and_renders_nothing(app, make):
    occurrence = make.occurrence()
    rendered = []

    def seen(sender, template, context, **extra):
        rendered.append(template.name)

    template_rendered.connect(seen, app)
    try:
        booking = book(occurrence)
    finally:
        template_rendered.disconnect(seen, app)
    assert rendered == []  # no template in the booking's transaction
    [row] = rows()
    assert (row.kind, row.booking_id, row.locale, row.ics_method) == (
        "confirmed",
        booking.id,
        "en",
        "PUBLISH",
    )
    assert row.body_text is None and row.subject == ""
    assert row.snapshot["status"] == "confirmed" and row.snapshot["seats"] == 2
    assert row.snapshot["venue_id"] == occurrence.venue_id


def test_a_confirmation_still_unsent_when_the_booking_is_cancelled_is_skipped(runner, smtp, make):
    booking = book(make.occurrence())
    rules.cancel_by_attendee(booking.id)
    report = outbox.deliver_all()
    assert (report.sent, report.skipped, report.failed) == (1, 1, 0)
    [message] = smtp.messages
    assert message["Subject"].startswith("Booking cancelled")
    confirmed, cancelled = rows()
    assert confirmed.status == "skipped" and "cancelled now" in confirmed.last_error
    assert cancelled.status == "sent" and cancelled.subject.startswith("Booking cancelled")
    assert "skipped: 1" in runner.invoke(args=["mail", "status"]).output
    assert "queued 0" in runner.invoke(args=["mail", "retry"]).output  # skipped is final
    assert outbox.deliver_all().claimed == 0


def test_a_waiting_notice_still_unsent_when_the_person_is_promoted_is_skipped(smtp, make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    first = book(occurrence, "first@example.org", seats=2)
    book(occurrence, "second@example.org", seats=2)  # waits
    rules.cancel_by_attendee(first.id)  # second is promoted
    outbox.deliver_all()
    to_second = [m["Subject"] for m in smtp.messages if m["To"] == "second@example.org"]
    assert len(to_second) == 1 and to_second[0].startswith("A place freed up")


def test_a_live_booking_email_states_the_seats_as_they_are_when_it_goes(smtp, make):
    booking = book(make.occurrence(), seats=3)
    rules.change_seats(booking.id, 1)
    outbox.deliver_all()
    confirmation, update = smtp.messages
    assert confirmation["Subject"].startswith("Booking confirmed")
    assert "1 place" in text(confirmation) and "3 places" not in text(confirmation)
    assert "1 place" in text(update)


def test_a_cancellation_states_what_was_cancelled(smtp, make):
    booking = book(make.occurrence(), seats=3)
    outbox.deliver_all()
    rules.cancel_by_organiser(booking.id, reason="Room closed for works.")
    outbox.deliver_all()
    cancellation = smtp.messages[-1]
    body = text(cancellation)
    assert "3 places" in body and "Room closed for works." in body
    assert booking.reference in body


def test_a_kind_nobody_renders_fails_at_once_and_goes_once_its_renderer_exists(runner, smtp, make):
    outbox.queue("greeting", "ana@example.org", locale="en", snapshot={"name": "Ana"})
    db.session.commit()
    report = outbox.deliver_all()
    assert (report.sent, report.failed) == (0, 1)
    [row] = rows()
    assert row.status == "failed" and "no renderer" in row.last_error

    @outbox.renders("greeting")
    def greeting(row):
        return outbox.Email(subject="Hello", text=f"Hello {row.snapshot['name']}")

    try:
        assert "queued 1" in runner.invoke(args=["mail", "retry"]).output
        assert outbox.deliver_all().sent == 1
    finally:
        del outbox.RENDERERS["greeting"]
    [message] = smtp.messages
    assert message["Subject"] == "Hello" and "Hello Ana" in text(message)


def test_an_email_rendered_before_the_upgrade_is_sent_as_written(smtp, make):
    db.session.add(
        OutboxMessage(
            kind="confirmed",
            recipient="old@example.org",
            subject="Written long ago",
            body_text="The text as it was rendered.",
            body_html="",
            snapshot={},
        )
    )
    db.session.commit()
    assert outbox.deliver_all().sent == 1
    [message] = smtp.messages
    assert message["Subject"] == "Written long ago"
    assert "The text as it was rendered." in text(message)
    assert message.get_body(("html",)) is None  # it had no HTML part: none is made up


def test_a_renderer_that_breaks_is_retried_not_lost(smtp):
    outbox.queue("fragile", "ana@example.org")
    db.session.commit()
    broken = [True]

    @outbox.renders("fragile")
    def fragile(row):
        if broken[0]:
            raise RuntimeError("template bug")
        return outbox.Email(subject="Fixed", text="It works now.")

    try:
        report = outbox.deliver_all()
        assert (report.sent, report.failed) == (0, 1)
        [row] = rows()
        assert row.status == "queued" and "template bug" in row.last_error
        broken[0] = False  # the fix is deployed
        row.next_attempt_at = row.created_at
        db.session.commit()
        assert outbox.deliver_all().sent == 1
    finally:
        del outbox.RENDERERS["fragile"]
    assert [m["Subject"] for m in smtp.messages] == ["Fixed"]


def test_a_bulk_email_is_written_once_a_round_and_each_gets_its_own_values(smtp):
    # The MIME message of a bulk email is written once per round with its placeholders;
    # a value it cannot take as it is (with an "=", which could make a boundary) is written
    # the usual way. Each recipient gets their own value, in the text, the HTML and the header.
    links = {
        "ana@example.org": "https://agenda.example.org/u/Ab9-_x",
        "bob@example.org": "https://agenda.example.org/u?token=b=2",
        "dan@example.org": "https://agenda.example.org/u/Zz0-_y",
    }
    for recipient, link in links.items():
        outbox.queue("bulky", recipient, snapshot={"link": link})
    db.session.commit()

    @outbox.renders("bulky", bulk=True)
    def bulky(row):
        return outbox.Email(
            subject="Des nouvelles",
            text="Votre lien : __LINK__",
            html="<p>Votre lien : <a href='__LINK__'>ici</a></p>",
            headers={"X-Link": "<__LINK__>"},
            fill={"__LINK__": row.snapshot["link"]},
        )

    try:
        assert outbox.deliver().sent == 3  # one round
    finally:
        del outbox.RENDERERS["bulky"]
        outbox.BULK_KINDS.discard("bulky")
    by_recipient = {m["To"]: m for m in smtp.messages}
    assert set(by_recipient) == set(links)
    for recipient, link in links.items():
        message = by_recipient[recipient]
        assert message["Subject"] == "Des nouvelles"
        assert message["X-Link"] == f"<{link}>"
        assert f"Votre lien : {link}" in text(message)
        assert f"href='{link}'" in message.get_body(("html",)).get_content()
    assert len({m["Message-ID"] for m in smtp.messages}) == 3
    # One mould for the round: its MIME boundaries are shared; the one written apart has its own.
    ana, bob, dan = (by_recipient[r].get_boundary() for r in sorted(links))
    assert ana == dan != bob


def test_an_email_sent_just_before_a_renderer_fails_stays_recorded_as_sent(smtp):
    # An email's record is committed with the next one's reads; when that renderer fails
    # (a broken query aborts the transaction), the record must not go with it, or the
    # email would be sent again once its claim is stale.
    for kind, recipient in [
        ("greeting", "ana@example.org"),
        ("broken", "bob@example.org"),
        ("greeting", "cyd@example.org"),
        ("untrue", "dan@example.org"),
    ]:
        outbox.queue(kind, recipient)
    db.session.commit()

    @outbox.renders("greeting")
    def greeting(row):
        return outbox.Email(subject="Hello", text="Hello")

    @outbox.renders("broken")
    def broken(row):
        db.session.execute(sa_text("SELECT nothing FROM no_such_table"))

    @outbox.renders("untrue")
    def untrue(row):
        raise outbox.Skip("no longer true")

    try:
        report = outbox.deliver()
    finally:
        for kind in ("greeting", "broken", "untrue"):
            del outbox.RENDERERS[kind]
    assert (report.sent, report.failed, report.skipped) == (2, 1, 1)
    assert {row.recipient: row.status for row in rows()} == {
        "ana@example.org": "sent",
        "bob@example.org": "queued",  # to be tried again, with backoff
        "cyd@example.org": "sent",
        "dan@example.org": "skipped",
    }
    assert sorted(m["To"] for m in smtp.messages) == ["ana@example.org", "cyd@example.org"]


def test_an_email_with_a_very_long_subject_goes_once_and_its_record_keeps_what_fits(smtp):
    subject = "Programme du mois : " + "projections, ateliers, visites ; " * 12  # 400+
    outbox.queue("long", "ana@example.org")
    db.session.commit()

    @outbox.renders("long")
    def long(row):
        return outbox.Email(subject=subject, text="Le programme.")

    try:
        assert outbox.deliver_all().sent == 1
        assert outbox.deliver_all().claimed == 0  # recorded as sent: never sent again
    finally:
        del outbox.RENDERERS["long"]
    [message] = smtp.messages
    assert " ".join(str(message["Subject"]).split()) == " ".join(subject.split())
    [row] = rows()
    assert row.status == "sent" and row.subject == subject[:300]  # the column's length
