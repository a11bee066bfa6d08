"""Booking a place, and the attendee's own booking by its secret token."""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..domain import bookings as rules
from ..domain.errors import BookingClosed, TooManyForAddress
from ..domain.groups import GroupRequest
from ..domain.notifications import manage_url
from ..extensions import db, limiter
from ..i18n import current_language
from ..models import Booking, BookingStatus, Occurrence
from ..web import TokenConverter
from .common import BOOKING_TOKEN, OCCURRENCE_ID, blueprint
from .errors import ErrorSchema, fail
from .events import ID_RULE, Shown, public_occurrence, shown
from .schemas import (
    BookingCreatedSchema,
    BookingRequestSchema,
    BookingSchema,
    IdempotencySchema,
)

bp = blueprint(
    "Bookings",
    __name__,
    "Booking places, and the attendee's own booking, named by its secret token.",
)

BOOKING_PATH = "/bookings/<string(maxlength=64):token>"
TOKEN = re.compile(TokenConverter.regex)  # the shape the pages' <token:...> accepts


class BookingView:
    """A booking as its holder sees it."""

    def __init__(self, booking: Booking):
        self._booking = booking
        self.manage_url = manage_url(booking)
        self.can_cancel = rules.can_attendee_cancel(booking)
        self.cancellation_deadline = rules.cancellation_deadline(booking.occurrence)
        self.occurrence: Shown = shown([booking.occurrence])[0]
        self.venue = booking.occurrence.venue  # times are shown in the venue's zone

    def __getattr__(self, name):
        return getattr(self._booking, name)


def own_booking(token: str) -> Booking:
    booking = None
    if TOKEN.fullmatch(token):
        booking = db.session.scalar(
            select(Booking)
            .where(Booking.token == token)
            .options(
                joinedload(Booking.occurrence).joinedload(Occurrence.event),
                joinedload(Booking.occurrence).joinedload(Occurrence.venue),
            )
        )
    if booking is None or booking.anonymised_at is not None:
        fail(404, "not_found")
    return booking


def _booking_rate_limit() -> str:
    return current_app.config["BOOKING_RATE_LIMIT"]


@bp.route(f"/occurrences/{ID_RULE}/bookings", methods=["POST"], parameters=[OCCURRENCE_ID])
@limiter.limit(_booking_rate_limit)
@bp.arguments(IdempotencySchema(), location="headers")
@bp.arguments(BookingRequestSchema())
@bp.response(201, BookingCreatedSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No public occurrence has this id.")
@bp.alt_response(
    409,
    schema=ErrorSchema,
    description="The booking cannot be taken: `full`, `closed`, `idempotency_key_reused` "
    "(the key was used for another request), or `already_booked` "
    "(this email already holds a live booking for this date, which is open: its link "
    "is emailed to that address again). A date that is closed, past or full answers "
    "`closed` or `full` whoever asks, whether the address holds a booking or not.",
)
@bp.alt_response(
    422,
    schema=ErrorSchema,
    description="Invalid fields, listed in `errors`; among them `seats` above the "
    "occurrence's `max_seats_per_booking`.",
)
@bp.alt_response(
    429,
    schema=ErrorSchema,
    description="Too many booking requests from this client address, or "
    "`too_many_for_address`: the email address given was sent the emails of too many "
    "bookings in the last hour (see booking_limits). Wait `Retry-After` seconds.",
    headers={"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
)
def book(headers: dict, data: dict, occurrence_id: int):
    """Book places on an occurrence

    The status says what happened: `confirmed`, `waitlisted` (the date is full
    and has a waiting list) or `pending` (the organiser approves each request).
    A confirmation email goes to the address given, with the link to the
    attendee's own page (`manage_url`).
    """
    key = headers.get("idempotency_key")
    request = rules.BookingRequest(
        name=data["name"],
        email=data["email"],
        seats=data.get("seats", 0),
        phone=data.get("phone", ""),
        locale=data.get("locale") or current_language(),
        consent=data["consent"],
        source="api",
        idempotency_key=key,
        wheelchair=data.get("wheelchair", False),
        answers=data.get("answers"),
        group=GroupRequest(**data["group"]) if data.get("group") else None,
    )
    try:
        result = rules.book(occurrence_id, request)
    except BookingClosed:
        public_occurrence(occurrence_id)  # a date that is not public is not found (404)
        raise
    except TooManyForAddress:
        public_occurrence(occurrence_id)
        message = _(
            "This address has been sent too many booking emails in the last hour. "
            "Please try again later."
        )
        fail(429, "too_many_for_address", message, headers={"Retry-After": "3600"})
    booking = result.booking
    if not result.created:
        public_occurrence(occurrence_id)
        replay = key is not None and booking.idempotency_key == key
        if not replay:
            # Never hand out the token of a booking someone else made with this email:
            # its link goes to that address, as the form does.
            rules.resend_booking_link(booking.id)
            fail(409, "already_booked", _already_booked())
        same = booking.occurrence_id == occurrence_id and booking.email == rules.normalise_email(
            request.email
        )
        if not same:
            message = _key_reused()
            fail(409, "idempotency_key_reused", message, errors={"Idempotency-Key": [message]})
    # What the schema shows, and nothing it would not: on the morning bookings open,
    # every query saved here is a booking more per second.
    return {
        "reference": booking.reference,
        "status": booking.status,
        "seats": booking.seats,
        "token": booking.token,
        "manage_url": manage_url(booking),
    }


@bp.route(BOOKING_PATH, parameters=[BOOKING_TOKEN])
@bp.response(200, BookingSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No booking has this token.")
def read(token: str):
    """The attendee's own booking"""
    return BookingView(own_booking(token))


@bp.route(BOOKING_PATH, methods=["DELETE"], parameters=[BOOKING_TOKEN])
@bp.response(200, BookingSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No booking has this token.")
@bp.alt_response(
    409,
    schema=ErrorSchema,
    description="`cancellation_closed`: too late to cancel online; `invalid_state`: "
    "the booking was rejected.",
)
def cancel(token: str):
    """Cancel one's own booking

    The booking stays readable afterwards, with the status `cancelled`, as on
    the attendee's page. Cancelling it again changes nothing and answers the
    same way. The places freed go to the waiting list at once.
    """
    booking = own_booking(token)
    if booking.status != BookingStatus.CANCELLED:
        booking = rules.cancel_by_attendee(booking.id)
    return BookingView(own_booking(token))


def _already_booked() -> str:
    return _(
        "This email already holds a booking for this date: its confirmation email "
        "has the link to see or change it."
    )


def _key_reused() -> str:
    return _("This Idempotency-Key was already used for another booking request.")
