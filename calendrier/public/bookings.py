"""The attendee's own booking: confirmation, details, cancellation, .ics."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import SelectField

from ..domain import bookings as rules
from ..domain.errors import CancellationClosed, DomainError, InvalidSeats, InvalidTransition
from ..domain.notifications import booking_calendar
from ..extensions import db
from ..models import Booking, Occurrence, OccurrenceStatus
from .forms import CancelForm
from .views import bp


class SeatsForm(FlaskForm):
    """Fewer places: the choices are 1 to the current count minus one."""

    seats = SelectField(_l("Number of places"), coerce=int)


def seats_form(booking: Booking) -> SeatsForm:
    form = SeatsForm()
    form.seats.choices = [
        (n, ngettext("%(num)d place", "%(num)d places", n)) for n in range(booking.seats - 1, 0, -1)
    ]
    return form


def get_booking(token: str) -> Booking:
    booking = db.session.scalar(
        select(Booking)
        .where(Booking.token == token)
        .options(
            joinedload(Booking.occurrence).joinedload(Occurrence.event),
            joinedload(Booking.occurrence).joinedload(Occurrence.venue),
        )
    )
    if booking is None or booking.anonymised_at is not None:
        abort(404)
    return booking


@bp.route("/bookings/<token:token>/confirmation")
def confirmation(token: str):
    booking = get_booking(token)
    return render_template("public/confirmation.html", booking=booking)


@bp.route("/bookings/<token:token>")
def booking(token: str):
    return render_booking(get_booking(token))


def render_booking(booking: Booking, seats: SeatsForm | None = None, status: int = 200):
    can_change = rules.can_attendee_cancel(booking)
    return (
        render_template(
            "public/booking.html",
            booking=booking,
            form=CancelForm(),
            seats_form=seats or seats_form(booking),
            can_cancel=can_change,
            can_reduce=can_change and booking.seats > 1,
            deadline=rules.cancellation_deadline(booking.occurrence),
        ),
        status,
    )


@bp.route("/bookings/<token:token>/seats", methods=["POST"])
def reduce_seats(token: str):
    booking = get_booking(token)
    form = seats_form(booking)
    if not form.validate_on_submit():
        if form.seats.errors:
            return render_booking(booking, form, 422)
        abort(400)
    try:
        rules.change_seats(booking.id, form.seats.data)
    except CancellationClosed:
        flash(
            _("It is too late to change your booking online; please contact the organiser."),
            "error",
        )
    except InvalidSeats:
        flash(_("You can only reduce the number of places here."), "error")
    except (InvalidTransition, DomainError):
        flash(_("This booking is no longer active."), "info")
    else:
        message = ngettext(
            "Your booking now has %(num)d place. Thank you for freeing the others.",
            "Your booking now has %(num)d places. Thank you for freeing the others.",
            form.seats.data,
        )
        flash(message, "success")
    return redirect(url_for("public.booking", token=token))


@bp.route("/bookings/<token:token>/cancel", methods=["POST"])
def cancel_booking(token: str):
    booking = get_booking(token)
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        rules.cancel_by_attendee(booking.id)
    except CancellationClosed:
        flash(_("It is too late to cancel online; please contact the organiser."), "error")
    except (InvalidTransition, DomainError):
        flash(_("This booking is no longer active."), "info")
    else:
        flash(_("Your booking is cancelled. Thank you for freeing your places."), "success")
    return redirect(url_for("public.booking", token=token))


@bp.route("/bookings/<token:token>.ics")
def booking_ics(token: str):
    booking = get_booking(token)
    occurrence = booking.occurrence
    method = "PUBLISH"
    if not booking.is_active or occurrence.status == OccurrenceStatus.CANCELLED:
        method = "CANCEL"
    body = booking_calendar(booking, method)
    return (
        body,
        200,
        {
            # RFC 5545 §3.7.2: the METHOD in the file and the one of its media type go together
            "Content-Type": f"text/calendar; charset=utf-8; method={method}",
            "Content-Disposition": f'attachment; filename="{booking.reference}.ics"',
            "Cache-Control": "private, no-store",
        },
    )
