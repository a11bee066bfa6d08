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
from calendrier.models import AuditEntry, Booking, OutboxMessage
from calendrier.timeutil import utcnow

from .test_manage import PASSWORD, log_in


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
    assert outbox.deliver().sent == 3  # sent back then, before the cancellation
    rules.cancel_by_attendee(old_bookings[0].id, now=old.starts_at - timedelta(days=2))
    recent = past_occurrence(make, 30)
    recent_booking = book_back_then(recent, 10)
    upcoming = make.occurrence()
    upcoming_booking = rules.book(
        upcoming.id, rules.BookingRequest(name="Futur", email="futur@example.org", seats=2)
    ).booking
    assert outbox.deliver().sent == 4  # cancelled + promoted, 1, 1
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
        assert message.snapshot == {} and message.body_text is None and message.ics is None
        assert message.sent_at is not None  # when it was sent is kept
    for kept in (recent_booking, upcoming_booking):
        kept = db.session.get(Booking, kept.id)
        assert kept.anonymised_at is None and "@example.org" in kept.email and kept.name

    again = runner.invoke(args=["privacy", "purge", "--older-than", "365"])
    assert "anonymised 0 booking(s)" in again.output
    everything = db.session.scalars(select(Booking.name)).all()
    assert not any(name.startswith("Personne 0") for name in everything)


def test_an_email_blanked_by_the_purge_is_never_sent_even_after_mail_retry(runner, make, smtp):
    old = past_occurrence(make, 400)
    book_back_then(old, 1)  # its confirmation is still in the outbox, unsent
    assert (
        "anonymised 1 booking(s) and 1 email(s)"
        in runner.invoke(args=["privacy", "purge", "--older-than", "365"]).output
    )

    assert "queued 0 email(s) again" in runner.invoke(args=["mail", "retry"]).output
    assert "sent 0" in runner.invoke(args=["mail", "send"]).output
    assert smtp.messages == []


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
    # the cluster's name (the site's, from its settings), not one written in the code
    assert "Le responsable de ce traitement est Agenda." in text
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
    email = outbox.render(message)
    assert "https://agenda.example.org/privacy" in email.text
    assert 'href="https://agenda.example.org/privacy"' in email.html


# --- the admins' page: access and erasure on request -----------------------------


def book_now(occurrence, email: str, name: str, seats: int = 1) -> Booking:
    request = rules.BookingRequest(name=name, email=email, seats=seats, phone="06 00 00 00 00")
    return rules.book(occurrence.id, request).booking


@pytest.fixture
def admin(make):
    return make.user(is_admin=True, organisation=None)


def test_an_admin_downloads_everything_held_about_one_address_and_nothing_else(client, make, admin):
    occurrence = make.occurrence(capacity=10)
    book_now(occurrence, "Ana@Example.org", "Ana Martin", seats=2)
    book_now(occurrence, "bob@example.org", "Bob Durand")
    log_in(client, admin)

    response = client.post("/manage/personal-data", data={"email": "ana@example.org"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    data = json.loads(response.get_data(as_text=True))
    assert data["email"] == "ana@example.org"
    assert [(b["name"], b["seats"]) for b in data["bookings"]] == [("Ana Martin", 2)]
    assert [m["recipient"] for m in data["emails"]] == ["ana@example.org"]
    assert "bob" not in response.get_data(as_text=True).lower()

    # the look-up is in the audit log, without the address
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.exported"))
    assert entry.user_id == admin.id and entry.details["bookings"] == 1
    assert entry.details["email_digest"] == privacy.email_digest("ana@example.org")
    assert "ana" not in json.dumps(entry.details).lower()


def test_an_unknown_address_gets_a_clear_message(client, make, admin):
    log_in(client, admin)
    response = client.post("/manage/personal-data", data={"email": "nobody@example.org"})
    assert response.mimetype == "text/html"
    assert "Nothing is held about nobody@example.org" in page_text(
        client.post("/manage/personal-data?lang=en", data={"email": "nobody@example.org"})
    )
    assert "Rien n'est conservé sur nobody@example.org" in page_text(response)
    erase = client.post(
        "/manage/personal-data", data={"email": "nobody@example.org", "action": "erase"}
    )
    assert erase.status_code == 302
    assert "nobody@example.org" in page_text(client.get(erase.headers["Location"]))


def test_erasure_anonymises_frees_the_seats_and_promotes_the_waiting_list(client, make, admin):
    coming = make.occurrence(capacity=2, waitlist=True)
    past = make.occurrence(starts_at=utcnow().replace(microsecond=0) - timedelta(days=30))
    past_booking = rules.book(
        past.id,
        rules.BookingRequest(name="Ana Martin", email="ana@example.org", seats=1),
        now=past.starts_at - timedelta(days=2),
    ).booking
    mine = book_now(coming, "ana@example.org", "Ana Martin", seats=2)
    waiting = book_now(coming, "bob@example.org", "Bob Durand", seats=2)
    assert waiting.status == "waitlisted"
    token = mine.token
    log_in(client, admin)

    # first the confirmation step, which lists the bookings and changes nothing
    step = client.post(
        "/manage/personal-data", data={"email": "ana@example.org", "action": "erase"}
    )
    assert step.status_code == 200
    assert coming.event.title in page_text(step) and past.event.title in page_text(step)
    assert db.session.get(Booking, mine.id).name == "Ana Martin"
    # not ticking the box changes nothing either
    unticked = client.post("/manage/personal-data/erase", data={"email": "ana@example.org"})
    assert unticked.status_code == 422
    assert db.session.get(Booking, mine.id).name == "Ana Martin"

    done = client.post(
        "/manage/personal-data/erase", data={"email": "ana@example.org", "confirm": "y"}
    )
    assert done.status_code == 302
    assert "2 réservation(s) anonymisée(s), dont 1 annulée(s)" in page_text(
        client.get(done.headers["Location"])
    )
    db.session.expire_all()
    for booking_id in (mine.id, past_booking.id):
        booking = db.session.get(Booking, booking_id)
        assert booking.name == "" and booking.phone == "" and booking.anonymised_at
        assert booking.email.endswith("@anonymised.invalid")
    assert db.session.get(Booking, mine.id).status == "cancelled"
    assert db.session.get(Booking, past_booking.id).status == "confirmed"  # the figures stay
    assert db.session.get(Booking, waiting.id).status == "confirmed"  # Bob got the places
    assert rules.seats_taken(coming.id) == 2
    assert client.get(f"/bookings/{token}").status_code == 404
    # Ana gets no email after her request; Bob is told he is in
    kinds = db.session.execute(select(OutboxMessage.kind, OutboxMessage.recipient)).all()
    assert ("promoted", "bob@example.org") in kinds
    assert not any(r == "ana@example.org" for _k, r in kinds)
    assert "cancelled_by_organiser" not in [k for k, _r in kinds]
    assert privacy.export("ana@example.org")["bookings"] == []
    assert "Bob Durand" in json.dumps(privacy.export("bob@example.org"))

    erased = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "privacy.erased"))
    assert erased.user_id == admin.id
    assert erased.details == {
        "email_digest": privacy.email_digest("ana@example.org"),
        "bookings": 2,
        "cancelled": 1,
        "emails": 2,  # her two confirmations, blanked; no cancellation email was written
    }
    logged = db.session.scalars(select(AuditEntry.details)).all()
    assert "ana@example.org" not in json.dumps(logged)
    organisations = set(
        db.session.scalars(
            select(AuditEntry.organisation_id).where(AuditEntry.action == "booking.anonymised")
        )
    )
    assert organisations == {coming.event.organisation_id, past.event.organisation_id}


def test_organisers_who_are_not_admins_are_refused(client, make):
    occurrence = make.occurrence()
    book_now(occurrence, "ana@example.org", "Ana Martin")
    organiser = make.user(organisation=occurrence.event.organisation)
    log_in(client, organiser)
    assert client.get("/manage/personal-data").status_code == 403
    assert (
        client.post("/manage/personal-data", data={"email": "ana@example.org"}).status_code == 403
    )
    erase = client.post(
        "/manage/personal-data/erase", data={"email": "ana@example.org", "confirm": "y"}
    )
    assert erase.status_code == 403
    assert db.session.scalar(select(Booking.name)) == "Ana Martin"
    assert "/manage/personal-data" not in client.get("/manage/").get_data(as_text=True)


def csrf_token(response) -> str:
    page = response.get_data(as_text=True)
    return re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


# Over https Flask-WTF also wants a same-site Referer (see tests/test_security.py).
SAME_SITE = {"Referer": "https://localhost/manage/personal-data"}


@pytest.mark.config(WTF_CSRF_ENABLED=True)
def test_erasure_needs_a_post_with_the_csrf_token(client, make, admin):
    occurrence = make.occurrence()
    book_now(occurrence, "ana@example.org", "Ana Martin")
    token = csrf_token(client.get("/manage/login"))
    logged_in = client.post(
        "/manage/login",
        data={"email": admin.email, "password": PASSWORD, "csrf_token": token},
        headers=SAME_SITE,
    )
    assert logged_in.status_code == 302
    assert client.get("/manage/personal-data/erase").status_code == 405
    forged = client.post(
        "/manage/personal-data/erase",
        data={"email": "ana@example.org", "confirm": "y"},
        headers=SAME_SITE,
    )
    assert forged.status_code == 400
    assert db.session.scalar(select(Booking.name)) == "Ana Martin"

    token = csrf_token(client.get("/manage/personal-data"))
    step = client.post(
        "/manage/personal-data",
        data={"email": "ana@example.org", "action": "erase", "csrf_token": token},
        headers=SAME_SITE,
    )
    assert step.status_code == 200
    token = csrf_token(step)
    done = client.post(
        "/manage/personal-data/erase",
        data={"email": "ana@example.org", "confirm": "y", "csrf_token": token},
        headers=SAME_SITE,
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Booking.name)) == ""
