"""The emails of trainings and feedback: a feedback request, a certificate of attendance.

Written like the booking emails (to the outbox, in the caller's transaction, in the
booking's language), through a registry ``kind -> renderer``: each renderer turns a
booking into (subject, text, html), so that moving to an outbox that renders at send
time is registering these same renderers there.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from ..extensions import db
from ..models import Booking, OutboxMessage
from . import trainings
from .outbox import mark_written


def site_name() -> str:
    """The cluster's name (until the site settings land: the configuration)."""
    return current_app.config.get("SITE_NAME") or "calendrier"


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


def render_feedback_request(booking: Booking) -> tuple[str, str, str]:
    context = _context(booking)
    context["subject"] = subject = _("How was it? %(title)s", title=booking.occurrence.event.title)
    context["feedback_url"] = booking_url(booking, "/feedback")
    return (
        subject,
        render_template("email/feedback_request.txt", **context),
        render_template("email/feedback_request.html", **context),
    )


def render_certificate(booking: Booking) -> tuple[str, str, str]:
    context = _context(booking)
    title = booking.occurrence.event.title
    context["subject"] = subject = _("Your certificate of attendance: %(title)s", title=title)
    context["certificate_url"] = booking_url(booking, "/certificate.pdf")
    context["hours"] = trainings.hours_attended(booking)
    context["planned"] = trainings.hours_planned(booking.occurrence)
    return (
        subject,
        render_template("email/certificate.txt", **context),
        render_template("email/certificate.html", **context),
    )


RENDERERS: dict[str, Callable[[Booking], tuple[str, str, str]]] = {
    "feedback_request": render_feedback_request,
    "certificate": render_certificate,
}


def queue_training_email(booking: Booking, kind: str, *, dedup_key: str) -> OutboxMessage:
    """Write the email of ``kind`` to the outbox (the caller commits)."""
    with force_locale(booking.locale or "fr"):
        subject, text, html = RENDERERS[kind](booking)
    message = OutboxMessage(
        kind=kind,
        booking_id=booking.id,
        recipient=booking.email,
        subject=subject,
        body_text=text,
        body_html=html,
        dedup_key=dedup_key,
    )
    db.session.add(message)
    mark_written()
    return message
