"""The emails of trainings and feedback: a feedback request, a certificate of attendance.

Like the booking emails, the outbox holds their intent (kind, booking, language), written
in the caller's transaction by ``queue_training_email``; the renderers below, registered
with ``outbox.renders``, make subject, text and HTML when the worker sends, from the
booking and the site's settings as they are then. A booking anonymised or gone
meanwhile gets nothing (``Skip``).
"""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import gettext as _

from ..extensions import db
from ..models import Booking, OutboxMessage
from . import outbox, trainings
from .outbox import Email, Skip, renders
from .settings import current_settings


def site_name() -> str:
    """The cluster's name, as its settings say now."""
    return current_settings().name


def booking_url(booking: Booking, tail: str = "") -> str:
    return f"{current_app.config['PUBLIC_URL']}/bookings/{booking.token}{tail}"


def _context(booking: Booking) -> dict:
    occurrence = booking.occurrence
    public_url = current_app.config["PUBLIC_URL"]
    return {
        "booking": booking,
        "occurrence": occurrence,
        "event": occurrence.event,
        "site_name": site_name(),
        "manage_url": booking_url(booking),
        "event_url": f"{public_url}/events/{occurrence.event.slug}",
        "privacy_url": f"{public_url}/privacy",
    }


def _booking(row: OutboxMessage) -> Booking:
    booking = db.session.get(Booking, row.booking_id) if row.booking_id else None
    if booking is None:
        raise Skip("the booking no longer exists")
    if booking.anonymised_at is not None:
        raise Skip("the booking was anonymised")
    return booking


@renders("feedback_request")
def render_feedback_request(row: OutboxMessage) -> Email:
    booking = _booking(row)
    context = _context(booking)
    context["subject"] = subject = _("How was it? %(title)s", title=booking.occurrence.event.title)
    context["feedback_url"] = booking_url(booking, "/feedback")
    return Email(
        subject=subject,
        text=render_template("email/feedback_request.txt", **context),
        html=render_template("email/feedback_request.html", **context),
    )


@renders("certificate")
def render_certificate(row: OutboxMessage) -> Email:
    booking = _booking(row)
    context = _context(booking)
    title = booking.occurrence.event.title
    context["subject"] = subject = _("Your certificate of attendance: %(title)s", title=title)
    context["certificate_url"] = booking_url(booking, "/certificate.pdf")
    context["hours"] = trainings.hours_attended(booking)
    context["planned"] = trainings.hours_planned(booking.occurrence)
    return Email(
        subject=subject,
        text=render_template("email/certificate.txt", **context),
        html=render_template("email/certificate.html", **context),
    )


# The kinds this module writes (each registered with the outbox above).
KINDS = ("feedback_request", "certificate")


def queue_training_email(booking: Booking, kind: str, *, dedup_key: str) -> OutboxMessage:
    """Write the intent of the email of ``kind`` to the outbox (the caller commits).

    ``dedup_key`` (unique) keeps it to once per booking, whatever the retries.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown training email {kind!r}")
    return outbox.queue(
        kind,
        booking.email,
        booking_id=booking.id,
        locale=booking.locale or "fr",
        snapshot={"status": str(booking.status)},
        dedup_key=dedup_key,
    )
