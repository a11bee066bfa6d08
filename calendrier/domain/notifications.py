"""Emails about bookings, written to the outbox inside the caller's transaction.

Nothing here sends anything: ``outbox.deliver`` does, after the commit, so a
booking never fails because the mail server is down and no email tells of a
change that was rolled back.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from ..extensions import db
from ..models import Booking, BookingStatus, OutboxMessage
from ..timeutil import utcnow
from .calendars import calendar_bytes, fold, format_utc, param_value
from .check_in_codes import EMAIL_IMAGE_ID, check_in_url
from .deadlines import cancellation_deadline
from .outbox import mark_written

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


def queue_booking_email(
    booking: Booking,
    kind: str,
    *,
    message: str = "",
    dedup_key: str | None = None,
) -> OutboxMessage:
    """Write the email for ``kind`` to the outbox, in the booking's language."""
    subject_of, lead_of, method = KINDS[kind]
    method = attachment_method(booking, method)
    occurrence = booking.occurrence
    event = occurrence.event
    public_url = current_app.config["PUBLIC_URL"]
    # Confirmed: the person may show this email at the door, with its check-in code.
    check_in = check_in_url(booking) if booking.status == BookingStatus.CONFIRMED else None
    with force_locale(booking.locale or "fr"):
        context = {
            "booking": booking,
            "occurrence": occurrence,
            "event": event,
            "venue": occurrence.venue,
            "lead": lead_of(),
            "message": message,
            "kind": kind,
            "manage_url": manage_url(booking),
            "event_url": f"{public_url}/events/{event.slug}",
            "privacy_url": f"{public_url}/privacy",
            "check_in_image": f"cid:{EMAIL_IMAGE_ID}" if check_in else None,
        }
        subject = subject_of() % {"title": event.title}
        context["subject"] = subject
        context["has_calendar"] = method is not None
        context["deadline"] = deadline = cancellation_deadline(occurrence)
        context["can_change"] = utcnow() < deadline
        body_text = render_template("email/booking.txt", **context)
        body_html = render_template("email/booking.html", **context)
        ics = booking_calendar(booking, method).decode() if method else None
    outbox = OutboxMessage(
        kind=kind,
        booking_id=booking.id,
        recipient=booking.email,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        ics=ics,
        ics_method=method if ics else None,
        check_in_url=check_in,
        dedup_key=dedup_key,
    )
    db.session.add(outbox)
    mark_written()
    return outbox
