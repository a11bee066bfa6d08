"""Privacy, field by field: what mutation testing of domain/privacy.py found unchecked.

Each test asserts what a data subject (or the admin answering them) would notice: a
personal field left after the purge or an erasure, a field missing from the export,
an organiser's text about someone left in the audit log.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from calendrier.accounts import issue_api_token
from calendrier.domain import attendees, newsletter, outbox, privacy, questions, trainings
from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import Answer, ApiToken, AuditEntry, Booking, Feedback, OutboxMessage
from calendrier.timeutil import utcnow

from .test_privacy import book_back_then, past_occurrence
from .test_trainings import five_days, move_into_the_past

ANONYMOUS = "anonymised.invalid"


def entries(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by("id"))
    )


# --- the purge ----------------------------------------------------------------------


def test_purge_blanks_the_note_the_group_the_answers_the_comment_and_every_email(make, smtp):
    old = past_occurrence(make, 400, capacity=10)
    question = questions.create_question(old.event_id, label="Employeur", type="text")
    request = rules.BookingRequest(
        name="Ana Martin",
        email="ana@example.org",
        seats=1,
        idempotency_key="form-ana-1",
        answers={str(question.id): "Folimage"},
    )
    sent = rules.book(old.id, request, now=old.starts_at - timedelta(days=3)).booking
    sent.note = "Allergique aux arachides"
    sent.group_name = "Classe de Mme Durand"
    db.session.add(Feedback(booking_id=sent.id, rating=4, comment="Merci à Paul"))
    db.session.commit()
    assert outbox.deliver().sent == 1
    unsent = book_back_then(old, 2)  # its confirmation is still queued
    sent_id, unsent_id = sent.id, unsent.id
    when = utcnow().replace(microsecond=0) - timedelta(hours=1)

    report = privacy.purge(365, now=when)

    assert (report.bookings, report.emails) == (2, 2)
    db.session.expire_all()
    booking = db.session.get(Booking, sent_id)
    assert booking.note == "" and booking.group_name is None
    assert booking.idempotency_key is None  # the form's key cannot find it again
    assert booking.anonymised_at == when
    assert db.session.scalars(select(Answer)).all() == []
    feedback = db.session.scalar(select(Feedback))
    assert (feedback.rating, feedback.comment) == (4, "")
    delivered = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == sent_id))
    assert delivered.recipient == f"booking-{sent_id}@{ANONYMOUS}"
    assert (delivered.body_html, delivered.check_in_url, delivered.last_error) == ("", None, "")
    assert delivered.status == "sent"
    queued = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == unsent_id))
    assert queued.recipient == f"booking-{unsent_id}@{ANONYMOUS}"
    assert (queued.status, queued.last_error) == ("failed", "anonymised before it was sent")


def test_purge_takes_a_date_that_ended_exactly_at_the_cutoff_and_accepts_zero_days(make):
    occurrence = past_occurrence(make, 10)
    booking_id = book_back_then(occurrence, 1).id
    ended = occurrence.ends_at
    assert privacy.purge(0, now=ended - timedelta(seconds=1)).bookings == 0  # not over yet
    assert privacy.purge(365, now=ended + timedelta(days=365)).bookings == 1
    assert db.session.get(Booking, booking_id).anonymised_at is not None
    assert privacy.purge(0).bookings == 0  # zero days is allowed: nothing left to do


def test_purge_counts_the_emails_of_every_batch(make, monkeypatch):
    occurrence = past_occurrence(make, 400, capacity=10)
    for n in range(5):
        book_back_then(occurrence, n)  # one confirmation each
    monkeypatch.setattr(privacy, "PURGE_BATCH", 2)
    report = privacy.purge(365)
    assert (report.bookings, report.emails) == (5, 5)


def test_purge_blanks_the_organisers_texts_of_old_dates_only_and_keeps_the_rest(make):
    organiser = make.user()
    event = make.event(organisation=organiser.organisation)
    old = past_occurrence(make, 400, capacity=5, event=event)
    recent = past_occurrence(make, 30, capacity=5, event=event, venue=old.venue)
    for occurrence, who in ((old, "Ana"), (recent, "Bob")):
        before = occurrence.starts_at - timedelta(days=2)
        booking = book_back_then(occurrence, 1, email=f"{who.lower()}@example.org")
        book_back_then(occurrence, 2, email=f"{who.lower()}2@example.org")
        attendees.message_attendees(occurrence.id, f"Bonjour {who}", actor=organiser)
        rules.cancel_by_organiser(
            booking.id, actor=organiser, reason=f"{who} a appelé", notify=False, now=before
        )
        rules.cancel_occurrence(occurrence.id, f"{who} est malade", actor=organiser, now=before)

    privacy.purge(365)

    texts = {
        (e.action, e.object_id): e.details
        for e in db.session.scalars(select(AuditEntry))
        if e.action in privacy.AUDIT_TEXTS
    }
    assert len(texts) == 6
    for (action, _id), details in texts.items():
        [key] = privacy.AUDIT_TEXTS[action]
        assert details[key] in ("", "Bonjour Bob", "Bob a appelé", "Bob est malade")
    kept = sorted(d[privacy.AUDIT_TEXTS[a][0]] for (a, _i), d in texts.items())
    assert kept == ["", "", "", "Bob a appelé", "Bob est malade", "Bonjour Bob"]
    cancelled = next(
        d for (a, i), d in texts.items() if a == "booking.cancelled" and d["reason"] == ""
    )
    assert cancelled["seats"] == 1  # the rest of the entry stays


# --- erasure --------------------------------------------------------------------------


def test_erasure_blanks_only_the_persons_entries_and_says_who_did_it(make):
    admin = make.user(is_admin=True, organisation=None)
    organiser = make.user()
    coming = make.occurrence(capacity=5, event=make.event(organisation=organiser.organisation))
    ana = rules.book(
        coming.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    bob = rules.book(
        coming.id, rules.BookingRequest(name="Bob", email="bob@example.org", seats=1)
    ).booking
    other = rules.book(
        coming.id, rules.BookingRequest(name="Cyd", email="cyd@example.org", seats=1)
    ).booking
    also = make.occurrence(capacity=5, event=coming.event, venue=coming.venue)
    rules.book(also.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1))
    rules.cancel_by_organiser(bob.id, actor=organiser, reason="Bob a appelé", notify=False)
    attendees.message_attendees(coming.id, "Bonjour à tous", actor=organiser)
    ana_id, reference, other_id, bob_id = ana.id, ana.reference, other.id, bob.id
    when = utcnow().replace(microsecond=0)

    report = privacy.erase("ANA@example.org", actor=admin, now=when)

    assert (report.bookings, report.cancelled) == (2, 2)
    booking = db.session.get(Booking, ana_id)
    assert booking.anonymised_at == when and booking.status == "cancelled"
    assert db.session.get(Booking, other_id).status == "confirmed"
    [cancelled_for_her] = [e for e in entries("booking.cancelled") if e.object_id == ana_id]
    assert cancelled_for_her.user_id == admin.id
    assert cancelled_for_her.details["reason"] == privacy.ERASURE_REASON  # kept: our words
    [bobs] = [e for e in entries("booking.cancelled") if e.object_id == bob_id]
    assert bobs.details["reason"] == "Bob a appelé"  # not hers: kept
    assert [e.details["message"] for e in entries("occurrence.message_sent")] == ["Bonjour à tous"]
    [anonymised] = [e for e in entries("booking.anonymised") if e.object_id == ana_id]
    assert (anonymised.user_id, anonymised.object_type, anonymised.object_id) == (
        admin.id,
        "booking",
        ana_id,
    )
    assert anonymised.organisation_id == organiser.organisation_id
    assert anonymised.details == {
        "reference": reference,
        "occurrence_id": coming.id,
        "reason": privacy.ERASURE_REASON,
    }
    [erased] = entries("privacy.erased")
    assert (erased.object_type, erased.object_id, erased.user_id) == ("person", None, admin.id)
    assert privacy.erase("ana@example.org").bookings == 0  # run again: nothing left


# --- the right of access -------------------------------------------------------------------


def test_export_holds_every_field_of_a_booking_its_emails_and_its_history(make, smtp):
    admin = make.user(is_admin=True, organisation=None)
    occurrence = five_days(make)
    request = rules.BookingRequest(
        name="Ana Martin", email="ana@example.org", seats=2, phone="0612", locale="en"
    )
    ana = rules.book(occurrence.id, request).booking
    ana.note = "Allergique"
    ana.group_name = "Classe de Mme Durand"
    ana.wheelchair = True
    db.session.add(Feedback(booking_id=ana.id, rating=5, comment="Merci à Paul"))
    db.session.commit()
    rules.book(occurrence.id, rules.BookingRequest(name="Bob", email="bob@example.org", seats=1))
    outbox.deliver()
    move_into_the_past(occurrence)
    trainings.mark(ana.id, 3)
    trainings.mark(ana.id, 1)
    db.session.expire_all()
    ana = db.session.get(Booking, ana.id)

    data = privacy.export("Ana@Example.org", actor=admin)

    [booking] = data["bookings"]
    iso = lambda value: value.isoformat()  # noqa: E731
    assert booking == {
        "id": ana.id,
        "reference": ana.reference,
        "name": "Ana Martin",
        "email": "ana@example.org",
        "phone": "0612",
        "seats": 2,
        "status": "confirmed",
        "language": "en",
        "source": "web",
        "note": "Allergique",
        "consent_at": iso(ana.consent_at),
        "created_at": iso(ana.created_at),
        "confirmed_at": iso(ana.confirmed_at),
        "cancelled_at": None,
        "checked_in_at": iso(ana.checked_in_at),
        "event": occurrence.event.title,
        "event_slug": occurrence.event.slug,
        "starts_at": iso(occurrence.starts_at),
        "ends_at": iso(occurrence.ends_at),
        "venue": occurrence.venue.name,
        "wheelchair": True,
        "group": "Classe de Mme Durand",
        "answers": {},
        "sittings_attended": [1, 3],
        "feedback": {
            "rating": 5,
            "comment": "Merci à Paul",
            "answered_at": iso(db.session.scalar(select(Feedback.updated_at))),
        },
    }
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == ana.id))
    assert data["emails"] == [
        {
            "kind": "confirmed",
            "recipient": "ana@example.org",
            "subject": message.subject,
            "status": "sent",
            "created_at": iso(message.created_at),
            "sent_at": iso(message.sent_at),
            "body_text": message.body_text,
            "snapshot": message.snapshot,
        }
    ]
    assert message.subject and message.sent_at
    for entry in data["history"]:
        assert set(entry) == {"at", "action", "booking_id", "details"}
        assert entry["at"] and entry["booking_id"] == ana.id and entry["details"] is not None
    assert data["history"], "the booking's own history"
    assert data["newsletter"] is None and data["organiser_account"] is None
    [looked_up] = entries("privacy.exported")
    assert (looked_up.object_type, looked_up.user_id) == ("person", admin.id)
    assert looked_up.details["bookings"] == 1 and looked_up.details["emails"] == 1


def test_export_of_an_organiser_holds_the_whole_account(make, runner):
    organiser = make.user(email="chef@studio.example", name="Chef", locale="en")
    issue_api_token(organiser)
    log_in_at = utcnow().replace(microsecond=0) - timedelta(days=1)
    organiser.last_login_at = log_in_at
    token_row = db.session.scalar(select(ApiToken))
    token_row.last_used_at = log_in_at + timedelta(hours=1)
    token_row.revoked_at = log_in_at + timedelta(hours=2)
    db.session.commit()
    account = privacy.export("chef@studio.example")["organiser_account"]
    token = account.pop("api_tokens")
    assert account == {
        "email": "chef@studio.example",
        "name": "Chef",
        "organisation": organiser.organisation.slug,
        "is_admin": False,
        "active": True,
        "language": "en",
        "created_at": organiser.created_at.isoformat(),
        "last_login_at": log_in_at.isoformat(),
    }
    assert token == [
        {
            "created_at": token_row.created_at.isoformat(),
            "last_used_at": (log_in_at + timedelta(hours=1)).isoformat(),
            "revoked_at": (log_in_at + timedelta(hours=2)).isoformat(),
        }
    ]
    admin = make.user(email="root@agglo.example", is_admin=True, organisation=None)
    assert privacy.export(admin.email)["organiser_account"]["organisation"] is None


def test_anything_held_counts_as_something_to_show():
    nothing = {"bookings": [], "emails": [], "history": [], "organiser_account": None}
    assert not privacy.holds_anything(nothing)
    for key in ("bookings", "emails", "history", "organiser_account", "newsletter"):
        assert privacy.holds_anything(nothing | {key: [{"x": 1}]}), key


# --- what the full run of mutmut over privacy.py found next ---------------------------


def booked(occurrence, name: str) -> Booking:
    """One seat for ``name``, at ``name.lower()@example.org``."""
    request = rules.BookingRequest(name=name, email=f"{name.lower()}@example.org", seats=1)
    return rules.book(occurrence.id, request).booking


def test_erasure_blanks_an_email_rendered_before_the_upgrade_and_no_one_elses(make):
    occurrence = make.occurrence(capacity=5)
    ana = booked(occurrence, "Ana")
    bob = booked(occurrence, "Bob")
    ana_id, bob_id = ana.id, bob.id
    # an email written whole before the intents, and sent after a first refusal: its text
    # and the refusal say who it was for
    db.session.execute(
        OutboxMessage.__table__.update()
        .where(OutboxMessage.booking_id == ana_id)
        .values(
            body_text="Bonjour Ana Martin, ana@example.org",
            body_html="<p>Bonjour Ana Martin</p>",
            ics="BEGIN:VCALENDAR\r\nATTENDEE:mailto:ana@example.org\r\nEND:VCALENDAR\r\n",
            check_in_url="https://agenda.example.org/check-in/ana-token",
            last_error="451 ana@example.org: mailbox full, try later",
            status="sent",
            sent_at=utcnow(),
        )
    )
    db.session.commit()

    assert privacy.erase("ana@example.org").emails == 1

    db.session.expire_all()
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == ana_id))
    assert (mail.body_text, mail.body_html, mail.ics, mail.check_in_url) == (None, "", None, None)
    assert (mail.last_error, mail.status) == ("", "sent")  # that it went stays
    bobs = db.session.scalar(select(OutboxMessage).where(OutboxMessage.booking_id == bob_id))
    assert (bobs.recipient, bobs.status, bobs.last_error) == ("bob@example.org", "queued", "")


def test_erasure_counts_no_email_when_none_was_kept(make):
    occurrence = make.occurrence(capacity=5)
    ana = booked(occurrence, "Ana")
    # a booking brought in from another system, say, with no email ever written for it
    db.session.execute(OutboxMessage.__table__.delete().where(OutboxMessage.booking_id == ana.id))
    db.session.commit()
    report = privacy.erase("ana@example.org")
    assert (report.bookings, report.emails) == (1, 0)


def test_erasure_cancels_the_dates_to_come_at_the_time_it_is_asked(make):
    occurrence = make.occurrence(capacity=5)
    ana = booked(occurrence, "Ana")
    asked = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    assert privacy.erase("ana@example.org", now=asked).cancelled == 1
    db.session.expire_all()
    booking = db.session.get(Booking, ana.id)
    assert (booking.status, booking.cancelled_at, booking.anonymised_at) == (
        "cancelled",
        asked,
        asked,
    )


def test_export_shows_when_a_booking_was_cancelled_and_when_the_export_was_made(make):
    occurrence = make.occurrence(capacity=5)
    ana = booked(occurrence, "Ana")
    rules.cancel_by_attendee(ana.id)
    db.session.expire_all()
    cancelled_at = db.session.get(Booking, ana.id).cancelled_at
    made = utcnow().replace(microsecond=0)
    data = privacy.export("ana@example.org", now=made)
    assert data["generated_at"] == made.isoformat()
    [booking] = data["bookings"]
    assert booking["status"] == "cancelled" and booking["cancelled_at"] == cancelled_at.isoformat()


def test_export_holds_the_emails_sent_to_the_address_about_no_booking(make):
    newsletter.subscribe("Ana@Example.org", "fr", True)
    data = privacy.export("ana@example.org")
    assert [(m["kind"], m["recipient"]) for m in data["emails"]] == [
        ("newsletter_confirm", "ana@example.org")
    ]


def test_export_history_is_that_of_the_persons_bookings_not_of_a_date_with_the_same_id(make):
    occurrence = make.occurrence(capacity=5)
    ana = booked(occurrence, "Ana")
    about_a_date = AuditEntry(
        at=utcnow(),
        action="occurrence.capacity_changed",
        object_type="occurrence",
        object_id=ana.id,  # the same number, another table
        details={"capacity": 3},
    )
    db.session.add(about_a_date)
    db.session.commit()
    history = privacy.export("ana@example.org")["history"]
    assert history and {h["action"] for h in history} == {"booking.created"}


def test_purge_forgets_unconfirmed_subscriptions_by_the_clock_it_is_given(make):
    newsletter.subscribe("ana@example.org", "fr", True)
    assert privacy.purge(365).subscriptions == 0  # asked just now: still waiting
    later = utcnow() + timedelta(days=newsletter.PENDING_DAYS, minutes=1)
    assert privacy.purge(365, now=later).subscriptions == 1
    assert newsletter.export("ana@example.org") is None


def test_export_lists_bookings_emails_and_history_in_the_order_they_happened(make):
    # a booking brought in later from another system happened first: its times say so
    first, second = make.occurrence(capacity=5), make.occurrence(capacity=5)
    later, earlier = booked(first, "Ana"), booked(second, "Ana")
    back_then = utcnow().replace(microsecond=0) - timedelta(days=30)
    for table, column, key in (
        (Booking.__table__, "created_at", Booking.id),
        (OutboxMessage.__table__, "created_at", OutboxMessage.booking_id),
        (AuditEntry.__table__, "at", AuditEntry.object_id),
    ):
        db.session.execute(table.update().where(key == earlier.id).values({column: back_then}))
    db.session.commit()
    data = privacy.export("ana@example.org")
    assert [b["id"] for b in data["bookings"]] == [earlier.id, later.id]
    written = [m["created_at"] for m in data["emails"]]
    assert written[0] == back_then.isoformat() and written == sorted(written)
    assert [h["booking_id"] for h in data["history"]] == [earlier.id, later.id]


def test_erasure_keeps_a_booking_whose_date_begins_that_very_moment(make):
    occurrence = make.occurrence(capacity=5)
    ana = booked(occurrence, "Ana")
    report = privacy.erase("ana@example.org", now=occurrence.starts_at)
    assert (report.cancelled, report.bookings) == (0, 1)  # anonymised, its seat still taken
    db.session.expire_all()
    assert db.session.get(Booking, ana.id).status == "confirmed"
