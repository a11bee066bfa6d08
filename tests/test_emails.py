"""Every email of the booking life cycle, received by a real SMTP server and parsed.

Each change tells the person in their booking's language, in text and HTML; the
date goes into their calendar (PUBLISH) once it is theirs and out of it (CANCEL)
when it no longer is, and the MIME part says the same method as the file.
"""

from datetime import timedelta

import pytest
from icalendar import Calendar

from calendrier.domain import bookings as rules
from calendrier.domain import outbox, reminders
from calendrier.extensions import db
from calendrier.timeutil import utcnow

from .ical_parsers import PARSERS_BY_NAME, utc

SUBJECTS = {
    "fr": {
        "confirmed": "Réservation confirmée",
        "waitlisted": "Liste d'attente",
        "promoted": "Une place s'est libérée",
        "pending": "Demande reçue",
        "approved": "Inscription acceptée",
        "rejected": "Inscription refusée",
        "cancelled": "Réservation annulée",
        "cancelled_by_organiser": "Réservation annulée",
        "occurrence_cancelled": "Annulé",
        "reminder": "Rappel",
        "seats_changed": "Réservation modifiée",
    },
    "en": {
        "confirmed": "Booking confirmed",
        "waitlisted": "Waiting list",
        "promoted": "A place freed up",
        "pending": "Request received",
        "approved": "Registration approved",
        "rejected": "Registration declined",
        "cancelled": "Booking cancelled",
        "cancelled_by_organiser": "Booking cancelled",
        "occurrence_cancelled": "Cancelled",
        "reminder": "Reminder",
        "seats_changed": "Booking updated",
    },
}
HELLO = {"fr": "Bonjour", "en": "Hello"}


def calendar_parts(message):
    return [p for p in message.walk() if p.get_content_type() == "text/calendar"]


def life_cycle(make, locale):
    """Make one of every email, each to its own address: kind -> (booking, expected method).

    The worker runs after each change, as a watching one does: an email still unsent when
    a later change makes it untrue is skipped (tests/test_outbox_intents.py).
    """
    sent = outbox.DeliveryReport()

    def worker_runs():
        sent.add(outbox.deliver_all())

    organiser = make.user()
    org = organiser.organisation
    org.email = "contact@studio.example.org"
    db.session.commit()

    def book(occurrence, who, seats=1):
        request = rules.BookingRequest(
            name=f"Personne {who}", email=f"{who}@example.org", seats=seats, locale=locale
        )
        return rules.book(occurrence.id, request).booking

    event = make.event(organisation=org, title="Le Cinéma d'animation & <vous>")
    visit = make.occurrence(event=event, capacity=2, waitlist=True)
    confirmed = book(visit, "confirmed", seats=2)  # later cancels: CANCEL
    promoted = book(visit, "promoted")  # waitlisted, then promoted
    waiting = book(visit, "waitlisted", seats=2)  # stays waiting
    worker_runs()
    rules.cancel_by_attendee(confirmed.id)
    reduced = book(make.occurrence(event=event), "reduced", seats=3)
    worker_runs()
    rules.change_seats(reduced.id, 1)
    by_organiser = book(make.occurrence(event=event), "by-organiser")
    worker_runs()
    rules.cancel_by_organiser(by_organiser.id, actor=organiser, reason="Merci de nous écrire.")

    training = make.occurrence(event=event, capacity=5, requires_approval=True)
    approved = book(training, "approved")
    rejected = book(training, "rejected")
    worker_runs()
    rules.approve(approved.id, actor=organiser)
    rules.reject(rejected.id, actor=organiser)

    screening = make.occurrence(event=event)
    gone = book(screening, "occurrence-cancelled")
    worker_runs()
    rules.cancel_occurrence(screening.id, "Panne du projecteur.", actor=organiser)

    tomorrow = make.occurrence(
        event=event, starts_at=utcnow().replace(microsecond=0) + timedelta(hours=20)
    )
    reminded = book(tomorrow, "reminded")
    worker_runs()
    assert reminders.queue_reminders() == 1
    worker_runs()
    assert (sent.sent, sent.failed, sent.skipped) == (17, 0, 0)

    return {
        ("confirmed", confirmed): "PUBLISH",
        ("cancelled", confirmed): "CANCEL",
        ("waitlisted", promoted): None,
        ("promoted", promoted): "PUBLISH",
        ("waitlisted", waiting): None,
        ("confirmed", reduced): "PUBLISH",
        ("seats_changed", reduced): "PUBLISH",
        ("confirmed", by_organiser): "PUBLISH",
        ("cancelled_by_organiser", by_organiser): "CANCEL",
        ("pending", approved): None,
        ("approved", approved): "PUBLISH",
        ("pending", rejected): None,
        ("rejected", rejected): None,
        ("confirmed", gone): "PUBLISH",
        ("occurrence_cancelled", gone): "CANCEL",
        ("confirmed", reminded): "PUBLISH",
        ("reminder", reminded): "PUBLISH",
    }


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_every_email_reaches_the_person_in_their_language_with_the_right_calendar_file(
    smtp, make, locale
):
    expected = life_cycle(make, locale)

    received = {}
    for message in smtp.messages:
        received.setdefault(message["To"], []).append(message)
    assert sum(len(v) for v in received.values()) == len(expected)

    for (kind, booking), method in expected.items():
        candidates = received[booking.email]
        subject_start = SUBJECTS[locale][kind]
        matching = [m for m in candidates if m["Subject"].startswith(subject_start)]
        assert matching, (kind, [m["Subject"] for m in candidates])
        # confirmed and cancelled share a prefix in some pairs: pick by calendar method
        message = next(
            (
                m
                for m in matching
                if [p.get_param("method") for p in calendar_parts(m)]
                == ([method] if method else [])
            ),
            None,
        )
        assert message is not None, (kind, method)
        assert "Le Cinéma d'animation & <vous>" in message["Subject"]

        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for body in (text, html):
            assert HELLO[locale] in body
            assert booking.reference in body
            # French puts a no-break space before a colon: "Référence : ABCD-1234"
            label = {"fr": "Référence\u00a0:", "en": "Reference:"}[locale]
            assert f"{label} " in body
            assert f"https://agenda.example.org/bookings/{booking.token}" in body
        assert "&lt;vous&gt;" in html and "<vous>" not in html  # escaped in HTML
        assert f'lang="{locale}"' in html
        assert "contact@studio.example.org" in text

        parts = calendar_parts(message)
        if method is None:
            assert parts == [], kind
            continue
        [part] = parts
        assert part.get_param("method") == method
        assert part.get_content_charset() == "utf-8"
        cal = Calendar.from_ical(part.get_payload(decode=True))
        assert cal["METHOD"] == method
        [vevent] = cal.walk("VEVENT")
        occurrence = booking.occurrence
        assert str(vevent["uid"]) == occurrence.uid
        assert vevent.decoded("dtstart") == occurrence.starts_at
        if kind == "occurrence_cancelled":  # raised, so calendars take the cancellation
            assert int(vevent["sequence"]) == occurrence.sequence == 1
        assert str(vevent["organizer"]) == "mailto:contact@studio.example.org"
        assert cal.walk("VTIMEZONE")
        if method == "CANCEL":
            assert str(vevent["status"]) == "CANCELLED"
            assert str(vevent["attendee"]) == f"mailto:{booking.email}"
        else:
            assert str(vevent["status"]) == "CONFIRMED"
            assert "attendee" not in vevent


def test_reasons_given_by_the_organiser_are_in_the_email(smtp, make):
    life_cycle(make, "fr")
    texts = {m["To"]: m.get_body(("plain",)).get_content() for m in smtp.messages}
    assert "Panne du projecteur." in texts["occurrence-cancelled@example.org"]
    # the last email to the organiser-cancelled person carries the message
    by_organiser = (
        [m for m in smtp.messages if m["To"] == "by-organiser@example.org"][-1]
        .get_body(("plain",))
        .get_content()
    )
    assert "Merci de nous écrire." in by_organiser
    assert "l'organisateur a annulé votre réservation" in by_organiser


def test_the_confirmation_says_until_when_the_booking_can_be_changed(smtp, make):
    occurrence = make.occurrence(cancellation_deadline_hours=48)
    request = rules.BookingRequest(name="Ana", email="ana@example.org", seats=1, locale="en")
    rules.book(occurrence.id, request)
    late = make.occurrence(starts_at=utcnow() + timedelta(hours=5), cancellation_deadline_hours=24)
    rules.book(late.id, request)
    outbox.deliver_all()
    first, second = (m.get_body(("plain",)).get_content() for m in smtp.messages)
    assert "You can change or cancel your booking until" in first
    assert "You can change or cancel your booking until" not in second  # already too late


def test_the_attendee_page_calendar_file_follows_the_booking(client, make):
    occurrence = make.occurrence()
    request = rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    booking = rules.book(occurrence.id, request).booking
    live = Calendar.from_ical(client.get(f"/bookings/{booking.token}.ics").data)
    assert live["METHOD"] == "PUBLISH"
    rules.cancel_by_attendee(booking.id)
    gone = Calendar.from_ical(client.get(f"/bookings/{booking.token}.ics").data)
    assert gone["METHOD"] == "CANCEL"
    assert str(gone.walk("VEVENT")[0]["status"]) == "CANCELLED"


@pytest.mark.parametrize("parser", sorted(PARSERS_BY_NAME))
def test_calendar_clients_read_the_attached_files_alike(smtp, make, parser):
    """Thunderbird's ical.js, libical and icalendar all read the invitation and its cancellation."""
    occurrence = make.occurrence()
    request = rules.BookingRequest(name='Ana; Martin, "A"', email="ana@example.org", seats=1)
    rules.book(occurrence.id, request)
    outbox.deliver_all()
    rules.cancel_occurrence(occurrence.id, "Tempête, route fermée; désolés.")
    outbox.deliver_all()
    read = PARSERS_BY_NAME[parser]
    publish, cancel = (calendar_parts(m)[0].get_payload(decode=True) for m in smtp.messages)
    for data, status, sequence in ((publish, "CONFIRMED", 0), (cancel, "CANCELLED", 1)):
        [event] = read(data)["events"]
        assert event["uid"] == occurrence.uid
        assert event["start"]["utc"] == utc(occurrence.starts_at)
        assert event["status"] == status and event["sequence"] == sequence
    assert "Tempête, route fermée; désolés." in read(cancel)["events"][0]["description"]


def qr_modules(png: bytes) -> list[list[bool]]:
    """The dark modules of a QR code PNG, read back with pypng (8 pixels a module)."""
    import png as pypng

    width, height, rows, _info = pypng.Reader(bytes=png).asRGBA8()
    pixels = [list(row) for row in rows]
    box = 8
    return [
        [pixels[y * box + box // 2][(x * box + box // 2) * 4] < 128 for x in range(width // box)]
        for y in range(height // box)
    ]


def test_the_confirmation_email_shows_the_check_in_code_and_a_waiting_one_does_not(smtp, make):
    import qrcode

    occurrence = make.occurrence(capacity=1, waitlist=True)
    ana, bob = (
        rules.book(occurrence.id, rules.BookingRequest(who, f"{who}@example.org", seats=1)).booking
        for who in ("ana", "bob")
    )  # bob waits
    references = {"ana@example.org": ana.reference, "bob@example.org": bob.reference}
    outbox.deliver_all()
    rules.cancel_by_attendee(ana.id)  # bob is promoted
    outbox.deliver_all()

    def images(message):
        return [p for p in message.walk() if p.get_content_type() == "image/png"]

    # in the order written: ana confirmed, bob waiting, ana cancelled, bob promoted
    sent = [(m["To"], bool(images(m))) for m in smtp.messages]
    assert sent == [
        ("ana@example.org", True),
        ("bob@example.org", False),
        ("ana@example.org", False),
        ("bob@example.org", True),
    ]
    with_code = [m for m in smtp.messages if images(m)]
    for message in with_code:
        [image] = images(message)
        assert image["Content-ID"] == "<check-in-code@calendrier>"
        assert image.get_content_disposition() == "inline"
        html = message.get_body(("html",)).get_content()
        assert 'src="cid:check-in-code@calendrier"' in html
        assert "À l'entrée, montrez ce code" in html
        reference = references[message["To"]]
        expected = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
        expected.add_data(f"https://agenda.example.org/manage/bookings/{reference}/check-in")
        assert qr_modules(image.get_payload(decode=True)) == expected.get_matrix()
