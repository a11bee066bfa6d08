"""Emails about bookings: their intent written in the caller's transaction, rendered later.

``queue_booking_email`` writes one small outbox row (kind, booking, language, snapshot);
``render_booking_email``, registered for every kind of ``KINDS``, makes the email when the
worker sends it, after the commit: a booking never fails because the mail server is down,
no email tells of a change that was rolled back, and none states what has become untrue.
A new kind of booking email is an entry in ``KINDS`` (subject, lead, attachment method)
registered with ``outbox.renders``; see ``outbox`` for kinds of their own.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parseaddr

from flask import current_app, render_template
from flask_babel import gettext as _

from ..extensions import db
from ..models import Booking, BookingStatus, OutboxMessage, Venue
from ..timeutil import utcnow
from . import outbox
from .calendars import calendar_bytes, fold, format_utc, param_value
from .check_in_codes import EMAIL_IMAGE_ID, check_in_url
from .deadlines import cancellation_deadline
from .images import image_json
from .languages import event_text
from .outbox import Email, Skip, renders

# kind -> (subject, lead paragraph, iCalendar METHOD of the attachment or None)
KINDS = {
    "confirmed": (
        lambda: _("Booking confirmed: %(title)s"),
        lambda: _("Your booking is confirmed. We look forward to seeing you."),
        "PUBLISH",
    ),
    "waitlisted": (
        lambda: _("Waiting list: %(title)s"),
        lambda: _(
            "This date is full, so you are on the waiting list. If places free up, "
            "your booking will be confirmed automatically and we will email you."
        ),
        None,
    ),
    "promoted": (
        lambda: _("A place freed up, your booking is confirmed: %(title)s"),
        lambda: _("Good news: places freed up and your booking is now confirmed."),
        "PUBLISH",
    ),
    "pending": (
        lambda: _("Request received: %(title)s"),
        lambda: _(
            "We have received your request. The organiser reviews each registration; "
            "we will email you as soon as it is approved or declined."
        ),
        None,
    ),
    "approved": (
        lambda: _("Registration approved: %(title)s"),
        lambda: _("Your registration has been approved. See you there."),
        "PUBLISH",
    ),
    "rejected": (
        lambda: _("Registration declined: %(title)s"),
        lambda: _("We are sorry: the organiser could not accept your registration."),
        None,
    ),
    "cancelled": (
        lambda: _("Booking cancelled: %(title)s"),
        lambda: _("Your booking has been cancelled, as you asked."),
        "CANCEL",
    ),
    "cancelled_by_organiser": (
        lambda: _("Booking cancelled: %(title)s"),
        lambda: _("We are sorry: the organiser has cancelled your booking."),
        "CANCEL",
    ),
    "occurrence_cancelled": (
        lambda: _("Cancelled: %(title)s"),
        lambda: _("We are sorry: this date has been cancelled by the organiser."),
        "CANCEL",
    ),
    "occurrence_changed": (
        lambda: _("Change of time or place: %(title)s"),
        lambda: _(
            "The organiser has changed the time or the place of this date. "
            "Here are the new details; your booking stays as it is."
        ),
        "PUBLISH",
    ),
    "reminder": (
        lambda: _("Reminder: %(title)s"),
        lambda: _("A reminder of your booking, which starts soon."),
        "PUBLISH",
    ),
    "seats_changed": (
        lambda: _("Booking updated: %(title)s"),
        lambda: _("Your booking has been updated."),
        "PUBLISH",
    ),
    "existing": (
        lambda: _("Your booking: %(title)s"),
        lambda: _(
            "Someone, probably you, tried to book this date again with your email "
            "address. You already have this booking: here are its details and its link."
        ),
        "PUBLISH",
    ),
    "message": (
        lambda: _("Message about %(title)s"),
        lambda: "",
        None,
    ),
}


def attachment_method(booking: Booking, method: str | None) -> str | None:
    """The date goes into the person's calendar only once it is theirs for sure.

    A confirmed booking gets the event (PUBLISH); waiting or pending people get
    none; a cancelling file (CANCEL) goes only to people who had been confirmed,
    and so may hold the date in their calendar.
    """
    if method == "PUBLISH" and booking.status != BookingStatus.CONFIRMED:
        return None
    if method == "CANCEL" and booking.confirmed_at is None:
        return None
    return method


def booking_calendar(booking: Booking, method: str) -> bytes:
    """The booking's date as an iCalendar file, for an email or the attendee's page.

    The feeds' VEVENT, plus what RFC 5546 asks of a file sent to one person: an
    ORGANIZER (PUBLISH and CANCEL), the attendee being removed (CANCEL), and a
    DTSTAMP that is the time the file was made, so that a cancellation with the
    same SEQUENCE still reads as newer than the invitation it cancels.
    """
    occurrence = booking.occurrence
    event = occurrence.event
    organisation = event.organisation
    sender = organisation.email or parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    text = calendar_bytes([occurrence], event.title, current_app.config["PUBLIC_URL"], method)
    extra = [f"ORGANIZER;CN={param_value(organisation.name)}:mailto:{sender}"]
    if method == "CANCEL":
        extra.append(f"ATTENDEE;CN={param_value(booking.name)}:mailto:{booking.email}")
    added = "".join(fold(line) + "\r\n" for line in extra)
    body = text.decode().replace("END:VEVENT\r\n", added + "END:VEVENT\r\n", 1)
    body = _DTSTAMP.sub(f"DTSTAMP:{format_utc(utcnow().replace(microsecond=0))}", body, count=1)
    return body.encode()


_DTSTAMP = re.compile(r"DTSTAMP:[0-9TZ]+")


def manage_url(booking: Booking) -> str:
    return f"{current_app.config['PUBLIC_URL']}/bookings/{booking.token}"


def booking_snapshot(booking: Booking, message: str = "") -> dict:
    """What a booking email states, as of the change that writes it."""
    occurrence = booking.occurrence
    snapshot = {
        "status": str(booking.status),
        "seats": booking.seats,
        "starts_at": occurrence.starts_at.isoformat(),
        "ends_at": occurrence.ends_at.isoformat(),
        "venue_id": occurrence.venue_id,
    }
    if message:
        snapshot["message"] = message
    return snapshot


def queue_booking_email(
    booking: Booking,
    kind: str,
    *,
    message: str = "",
    dedup_key: str | None = None,
) -> OutboxMessage:
    """Write the intent of the email for ``kind`` in the booking's transaction.

    One small row: no template is rendered here (``render_booking_email`` does, when the
    worker sends it); the calendar file it will carry is decided now, from the booking's
    state. ``message``: the organiser's words, stated as written.
    """
    return outbox.queue(**booking_email(booking, kind, message=message, dedup_key=dedup_key))


def booking_email(
    booking: Booking, kind: str, *, message: str = "", dedup_key: str | None = None
) -> dict:
    """The outbox row of ``queue_booking_email`` (``outbox.intent``)."""
    return outbox.intent(
        kind,
        booking.email,
        booking_id=booking.id,
        locale=booking.locale or "fr",
        snapshot=booking_snapshot(booking, message),
        ics_method=attachment_method(booking, KINDS[kind][2]),
        dedup_key=dedup_key,
    )


# Emails that tell of something that happened: still true once it did. Every other kind
# announces the booking's state, and is skipped when that state changed before it went
# (the change that moved it wrote its own email, which tells the state as it is).
ENDED_KINDS = frozenset({"rejected", "cancelled", "cancelled_by_organiser", "occurrence_cancelled"})


@renders(*KINDS)
def render_booking_email(row: OutboxMessage) -> Email:
    """A booking email as true at send time (the row's language is already in force).

    An email about an ending states the seats, date and place that ended (the snapshot);
    one about a live booking states them as they are now, so a confirmation sent after a
    change of seats or time tells the new ones, and its ``.ics`` is the current one.
    """
    booking = db.session.get(Booking, row.booking_id) if row.booking_id else None
    if booking is None:
        raise Skip("the booking no longer exists")
    if booking.anonymised_at is not None:
        raise Skip("the booking was anonymised")
    snapshot = row.snapshot or {}
    kind = row.kind
    announced = snapshot.get("status")
    if kind not in ENDED_KINDS and announced and booking.status != announced:
        raise Skip(f"the booking is {booking.status} now, no longer {announced}")
    occurrence = booking.occurrence
    event = occurrence.event
    seats, starts_at, ends_at, venue = (
        booking.seats,
        occurrence.starts_at,
        occurrence.ends_at,
        occurrence.venue,
    )
    if kind in ENDED_KINDS and snapshot:
        seats = snapshot.get("seats", seats)
        starts_at = _instant(snapshot.get("starts_at")) or starts_at
        ends_at = _instant(snapshot.get("ends_at")) or ends_at
        if snapshot.get("venue_id") not in (None, occurrence.venue_id):
            venue = db.session.get(Venue, snapshot["venue_id"]) or venue
    subject_of, lead_of, _method = KINDS[kind]
    method = row.ics_method  # decided by the change: a live kind is sent in the same state
    public_url = current_app.config["PUBLIC_URL"]
    # Confirmed: the person may show this email at the door, with its check-in code.
    check_in = check_in_url(booking) if booking.status == BookingStatus.CONFIRMED else None
    deadline = cancellation_deadline(occurrence)
    title = event_text(event, "title", row.locale or booking.locale or "fr")
    subject = subject_of() % {"title": title}
    context = {
        "booking": booking,
        "occurrence": occurrence,
        "event": event,
        "title": title,
        "picture": image_json(event.image),
        "venue": venue,
        "seats": seats,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "lead": lead_of(),
        "message": snapshot.get("message", ""),
        "kind": kind,
        "subject": subject,
        "manage_url": manage_url(booking),
        "event_url": f"{public_url}/events/{event.slug}",
        "privacy_url": f"{public_url}/privacy",
        "check_in_image": f"cid:{EMAIL_IMAGE_ID}" if check_in else None,
        "has_calendar": method is not None,
        "deadline": deadline,
        "can_change": utcnow() < deadline,
    }
    return Email(
        subject=subject,
        text=render_template("email/booking.txt", **context),
        html=render_template("email/booking.html", **context),
        ics=booking_calendar(booking, method).decode() if method else None,
        ics_method=method,
        check_in_url=check_in,
    )


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
