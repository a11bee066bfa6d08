"""Personal data: anonymised after the retention period; everything shown on request."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox, privacy
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage
from calendrier.timeutil import utcnow


def past_occurrence(make, days_ago: int, **overrides):
    starts = utcnow().replace(microsecond=0) - timedelta(days=days_ago)
    return make.occurrence(starts_at=starts, **overrides)


def book_back_then(occurrence, n: int, email: str | None = None, **overrides):
    request = rules.BookingRequest(
        name=overrides.pop("name", f"Personne {n}"),
        email=email or f"personne{n}@example.org",
        phone=overrides.pop("phone", "06 12 34 56 78"),
        seats=overrides.pop("seats", 1),
    )
    when = occurrence.starts_at - timedelta(days=3)
    return rules.book(occurrence.id, request, now=when).booking


def test_purge_anonymises_only_attendees_of_occurrences_past_the_retention(
    runner, client, make, smtp
):
    old = past_occurrence(make, 400, capacity=2, waitlist=True)
    old_bookings = [book_back_then(old, n) for n in range(3)]  # 2 confirmed, 1 waiting
    rules.cancel_by_attendee(old_bookings[0].id, now=old.starts_at - timedelta(days=2))
    recent = past_occurrence(make, 30)
    recent_booking = book_back_then(recent, 10)
    upcoming = make.occurrence()
    upcoming_booking = rules.book(
        upcoming.id, rules.BookingRequest(name="Futur", email="futur@example.org", seats=2)
    ).booking
    assert outbox.deliver().sent == 7  # 3 + cancelled + promoted, 1, 1
    old_tokens = {b.id: b.token for b in old_bookings}
    statuses = {b.id: b.status for b in old_bookings}

    result = runner.invoke(args=["privacy", "purge", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert "anonymised 3 booking(s) and 5 email(s)" in result.output

    db.session.expire_all()
    for booking in old_bookings:
        booking = db.session.get(Booking, booking.id)
        assert booking.name == "" and booking.phone == ""
        assert booking.email == f"booking-{booking.id}@anonymised.invalid"
        assert booking.anonymised_at is not None
        assert booking.status == statuses[booking.id]  # the figures stay
        assert booking.token != old_tokens[booking.id]
        assert client.get(f"/bookings/{old_tokens[booking.id]}").status_code == 404
        assert client.get(f"/bookings/{booking.token}").status_code == 404
    for message in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.booking_id.in_(old_tokens))
    ):
        assert message.recipient.endswith("@anonymised.invalid")
        assert message.body_text == "" and message.body_html == "" and message.ics is None
        assert message.sent_at is not None  # when it was sent is kept
    for kept in (recent_booking, upcoming_booking):
        kept = db.session.get(Booking, kept.id)
        assert kept.anonymised_at is None and "@example.org" in kept.email and kept.name

    again = runner.invoke(args=["privacy", "purge", "--older-than", "365"])
    assert "anonymised 0 booking(s)" in again.output
    everything = db.session.scalars(select(Booking.name)).all()
    assert not any(name.startswith("Personne 0") for name in everything)


def test_purge_uses_the_configured_retention_and_works_in_batches(app, runner, make, monkeypatch):
    app.config["PRIVACY_RETENTION_DAYS"] = 20
    occurrence = past_occurrence(make, 30, capacity=50)
    for n in range(5):
        book_back_then(occurrence, n)
    monkeypatch.setattr(privacy, "PURGE_BATCH", 2)
    result = runner.invoke(args=["privacy", "purge"])
    assert result.exit_code == 0, result.output
    assert "anonymised 5 booking(s)" in result.output
    assert "more than 20 day(s)" in result.output
    assert db.session.scalars(select(Booking.anonymised_at)).all().count(None) == 0


def test_purge_refuses_a_negative_period(runner):
    result = runner.invoke(args=["privacy", "purge", "--older-than", "-1"])
    assert result.exit_code != 0
    assert "-1" in result.output


def test_export_gathers_everything_about_one_address_and_nothing_else(runner, make, smtp):
    first = make.occurrence(capacity=10)
    second = make.occurrence(capacity=10)
    mine = rules.book(
        first.id,
        rules.BookingRequest(name="Ana Martin", email="Ana@Example.org", phone="0612", seats=2),
    ).booking
    rules.book(second.id, rules.BookingRequest(name="Ana M.", email="ana@example.org", seats=1))
    rules.cancel_by_attendee(mine.id)
    rules.book(first.id, rules.BookingRequest(name="Other", email="other@example.org", seats=1))
    outbox.deliver()

    result = runner.invoke(args=["privacy", "export", "ANA@example.org"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["email"] == "ana@example.org"
    assert [b["name"] for b in data["bookings"]] == ["Ana Martin", "Ana M."]
    assert data["bookings"][0]["status"] == "cancelled"
    assert data["bookings"][0]["phone"] == "0612"
    assert data["bookings"][0]["event"] == first.event.title
    assert len(data["emails"]) == 3  # confirmed, cancelled, confirmed
    assert all(m["recipient"] == "ana@example.org" for m in data["emails"])
    assert any(h["action"] == "booking.cancelled" for h in data["history"])
    assert data["organiser_account"] is None
    assert "other@example.org" not in result.output and "Other" not in result.output


def test_export_includes_an_organiser_account(runner, make):
    organiser = make.user(email="chef@studio.example", name="Chef")
    runner.invoke(args=["users", "token", organiser.email])
    data = privacy.export("chef@studio.example")
    account = data["organiser_account"]
    assert account["name"] == "Chef" and account["organisation"] == organiser.organisation.slug
    assert len(account["api_tokens"]) == 1
    assert "token_hash" not in json.dumps(data)
    assert data["bookings"] == []


def test_export_after_purge_holds_nothing_about_the_person(runner, make):
    old = past_occurrence(make, 400)
    book_back_then(old, 1, email="gone@example.org")
    privacy.purge(365)
    data = privacy.export("gone@example.org")
    assert data["bookings"] == [] and data["emails"] == []


# --- the privacy notice ---------------------------------------------------------


def page_text(response) -> str:
    """What a reader sees: the markup gone, entities read, spaces collapsed."""
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


@pytest.mark.config(
    PRIVACY_RETENTION_DAYS=200,
    PRIVACY_CONTROLLER="Valence Romans Agglo",
    PRIVACY_CONTACT="dpo@agglo.example",
)
def test_privacy_notice_says_how_long_and_whom_to_ask_in_french_and_english(client):
    french = client.get("/privacy")
    assert french.status_code == 200
    text = page_text(french)
    assert "Politique de confidentialité" in text
    assert "conservés jusqu'à 200 jours après la fin de la date réservée" in text
    assert "Le responsable de ce traitement est Valence Romans Agglo." in text
    assert 'href="mailto:dpo@agglo.example"' in french.get_data(as_text=True)
    assert "CNIL" in text and "https://www.cnil.fr/" in french.get_data(as_text=True)
    assert "un seul cookie" in text

    english = page_text(client.get("/privacy?lang=en"))
    assert "Privacy notice" in english
    assert "kept until 200 days after the end of the date you booked" in english
    assert "anonymised automatically" in english
    assert "The controller of this processing is Valence Romans Agglo." in english
    for right in ("access", "corrected", "erased", "object"):
        assert right in english


def test_privacy_notice_defaults_to_the_cluster_and_the_sender_address(client):
    text = page_text(client.get("/privacy"))
    assert "conservés jusqu'à 365 jours" in text  # PRIVACY_RETENTION_DAYS by default
    assert "Le responsable de ce traitement est le pôle de l'image animée." in text
    assert "agenda@example.org" in text  # MAIL_DEFAULT_SENDER in the tests


def test_consent_box_and_footer_link_to_the_privacy_notice(client, make):
    occurrence = make.occurrence()
    page = client.get(f"/events/{occurrence.event.slug}").get_data(as_text=True)
    box = re.search(r"<input[^>]*name=\"consent\"[^>]*>", page).group(0)
    assert 'aria-describedby="consent-hint"' in box
    hint = re.search(r'<p[^>]*id="consent-hint"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert 'href="/privacy"' in hint
    footer = page[page.index("<footer") :]
    assert 'href="/privacy"' in footer


def test_booking_emails_link_to_the_privacy_notice(make):
    occurrence = make.occurrence()
    booking = rules.book(
        occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == booking.id))
    assert "https://agenda.example.org/privacy" in message.body_text
    assert 'href="https://agenda.example.org/privacy"' in message.body_html
