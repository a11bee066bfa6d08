"""Organiser pages about people: attendee lists, approvals, bookings by hand, check-in,
exports, sign-in sheets and messages."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from ..domain import attendees as roster
from ..domain import bookings as rules
from ..domain import exports, trainings
from ..domain import feedback as training_columns
from ..domain.errors import DomainError, InvalidInput, OccurrenceFull
from ..i18n import current_language
from ..models import BookingStatus
from .forms import (
    CancelBookingForm,
    CapacityForm,
    ChangeSeatsForm,
    ManualBookingForm,
    MessageForm,
    PostForm,
)
from .views import back, bp, explain, managed_booking, managed_occurrence, show_field_errors


@bp.route("/occurrences/<int:occurrence_id>")
@login_required
def attendees(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    q = (request.args.get("q") or "").strip()[:100]
    sort = request.args.get("sort", "status")
    sort = sort if sort in roster.SORTS else "status"
    show = request.args.get("show", "active")
    show = show if show in roster.FILTERS else "active"
    bookings = roster.attendee_list(occurrence.id, q=q, sort=sort, show=show)
    capacity_form = CapacityForm(capacity=occurrence.capacity)
    return render_template(
        "manage/attendees.html",
        occurrence=occurrence,
        bookings=bookings,
        totals=roster.totals(occurrence),
        q=q,
        sort=sort,
        show=show,
        form=PostForm(),
        capacity_form=capacity_form,
        cancel_form=CancelBookingForm(),
    )


def _booking_action(reference: str, action, success: str, form: FlaskForm | None = None):
    booking = managed_booking(reference)
    default = url_for("manage.attendees", occurrence_id=booking.occurrence_id)
    form = form or PostForm()
    if not form.validate_on_submit():
        problems = [str(m) for f in form if f.name != "csrf_token" for m in f.errors]
        flash(" ".join(problems) or _("The form expired; please try again."), "error")
        return redirect(back(default))
    try:
        action(booking)
    except DomainError as error:
        flash(explain(error), "error")
    else:
        flash(success % {"name": booking.name}, "success")
    return redirect(back(default))


@bp.route("/bookings/<reference:reference>/approve", methods=["POST"])
@login_required
def booking_approve(reference: str):
    override = request.form.get("override_capacity") == "1"
    return _booking_action(
        reference,
        lambda b: rules.approve(b.id, actor=current_user, override_capacity=override),
        _("%(name)s is approved and told by email."),
    )


@bp.route("/bookings/<reference:reference>/reject", methods=["POST"])
@login_required
def booking_reject(reference: str):
    return _booking_action(
        reference,
        lambda b: rules.reject(b.id, actor=current_user),
        _("%(name)s is declined and told by email."),
    )


@bp.route("/bookings/<reference:reference>/cancel", methods=["POST"])
@login_required
def booking_cancel(reference: str):
    form = CancelBookingForm()
    return _booking_action(
        reference,
        lambda b: rules.cancel_by_organiser(
            b.id, actor=current_user, reason=(form.reason.data or "").strip()
        ),
        _("The booking of %(name)s is cancelled and they are told by email."),
        form,
    )


@bp.route("/bookings/<reference:reference>/seats", methods=["POST"])
@login_required
def booking_seats(reference: str):
    """A person calls to say they will be more, or fewer: same rules, told by email."""
    form = ChangeSeatsForm()

    def change(booking):
        try:
            rules.change_seats(booking.id, form.seats.data, actor=current_user)
        except OccurrenceFull:
            raise InvalidInput({"seats": _("Not enough places left for that.")}) from None

    return _booking_action(
        reference,
        change,
        _("The places of %(name)s are changed and they are told by email."),
        form,
    )


def _sitting(occurrence, value) -> int:
    """The sitting asked for (its position), else the one under way."""
    count = len(trainings.slots(occurrence))
    if value is not None and str(value).isdigit() and int(value) < count:
        return int(value)
    return trainings.current_position(occurrence)


@bp.route("/bookings/<reference:reference>/check-in", methods=["GET", "POST"])
@login_required
def booking_check_in(reference: str):
    """GET: what the QR code opens (one tap to confirm). POST: check in, or undo.

    A date in sittings: the sitting under way, or the one chosen (``sitting``)."""
    booking = managed_booking(reference)
    occurrence = booking.occurrence
    if request.method == "GET":
        position = _sitting(occurrence, request.args.get("sitting"))
        return render_template(
            "manage/check_in_booking.html",
            booking=booking,
            form=PostForm(),
            sittings=trainings.slots(occurrence),
            sitting=position,
            present=position in trainings.present_at(booking),
        )
    undo = request.form.get("undo") == "1"
    default = url_for("manage.booking_check_in", reference=booking.reference)
    if not PostForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(back(default))
    given = request.form.get("sitting")
    if given is None:
        position = trainings.current_position(occurrence)
    else:
        position = int(given) if given.isdigit() and len(given) < 4 else -1
    try:
        trainings.mark(booking.id, position, not undo, actor=current_user)
    except DomainError as error:
        flash(explain(error), "error")
    else:
        if undo:
            flash(_("%(name)s is no longer marked as arrived.", name=booking.name), "success")
        else:
            flash(_("%(name)s has arrived.", name=booking.name), "success")
    return redirect(back(default) + f"#booking-{booking.reference}")


@bp.route("/occurrences/<int:occurrence_id>/check-in")
@login_required
def check_in(occurrence_id: int):
    """The door list on a phone: big buttons, search, arrivals counted (per sitting)."""
    occurrence = managed_occurrence(occurrence_id)
    q = (request.args.get("q") or "").strip()[:100]
    bookings = [
        b
        for b in roster.attendee_list(occurrence.id, q=q, sort="name", show="confirmed")
        if b.status == BookingStatus.CONFIRMED
    ]
    sittings = trainings.slots(occurrence)
    position = _sitting(occurrence, request.args.get("sitting"))
    present = trainings.attendance_by_booking(bookings)
    here = {b.id for b in bookings if position in present.get(b.id, set())}
    return render_template(
        "manage/check_in.html",
        occurrence=occurrence,
        bookings=bookings,
        totals=roster.totals(occurrence),
        q=q,
        form=PostForm(),
        sittings=sittings,
        sitting=position,
        present_ids=here,
        arrived_here=sum(b.seats for b in bookings if b.id in here),
    )


@bp.route("/occurrences/<int:occurrence_id>/bookings/new", methods=["GET", "POST"])
@login_required
def booking_new(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    form = ManualBookingForm()
    if form.validate_on_submit():
        request_ = rules.BookingRequest(
            name=form.name.data,
            email=form.email.data,
            seats=form.seats.data,
            phone=form.phone.data or "",
            locale=form.locale.data,
            consent=True,
            source="manage",
        )
        try:
            result = rules.book(
                occurrence.id,
                request_,
                override_capacity=form.override_capacity.data,
                actor=current_user,
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        except DomainError as error:
            form.form_errors.append(explain(error))
        else:
            booking = result.booking
            if not result.created:
                flash(
                    _("%(email)s already has a booking for this date.", email=booking.email),
                    "error",
                )
            else:
                labels = {
                    "confirmed": _("confirmed"),
                    "waitlisted": _("on the waiting list"),
                    "pending": _("awaiting approval"),
                }
                flash(
                    _(
                        "Booking %(ref)s for %(name)s: %(status)s. A confirmation email is on "
                        "its way.",
                        ref=booking.reference,
                        name=booking.name,
                        status=labels.get(booking.status, booking.status),
                    ),
                    "success",
                )
            return redirect(url_for("manage.attendees", occurrence_id=occurrence.id))
    return render_template("manage/booking_form.html", form=form, occurrence=occurrence)


# --- exports --------------------------------------------------------------------


def _export_table(occurrence):
    bookings = roster.attendee_list(occurrence.id, sort="name", show="all")
    table = exports.table(bookings, current_language())
    return training_columns.with_attendance_and_feedback(table, bookings)


@bp.route("/occurrences/<int:occurrence_id>/attendees.csv")
@login_required
def export_csv(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    body = exports.to_csv(_export_table(occurrence), current_language())
    return _download(body, "text/csv; charset=utf-8", exports.filename(occurrence, "csv"))


@bp.route("/occurrences/<int:occurrence_id>/attendees.xlsx")
@login_required
def export_xlsx(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    body = exports.to_xlsx(_export_table(occurrence), occurrence.event.title)
    mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _download(body, mimetype, exports.filename(occurrence, "xlsx"))


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        headers={
            "Content-Type": mimetype,
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/occurrences/<int:occurrence_id>/sign-in-sheet")
@login_required
def sign_in_sheet(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    bookings = roster.attendee_list(occurrence.id, sort="name", show="confirmed")
    return render_template(
        "manage/sign_in_sheet.html",
        occurrence=occurrence,
        bookings=bookings,
        totals=roster.totals(occurrence),
        sittings=trainings.slots(occurrence),  # one sheet per sitting
    )


# --- messages -------------------------------------------------------------------


@bp.route("/occurrences/<int:occurrence_id>/message", methods=["GET", "POST"])
@login_required
def message(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            sent = roster.message_attendees(
                occurrence.id,
                form.message.data,
                statuses=form.statuses.data,
                actor=current_user,
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(
                ngettext(
                    "Message queued for %(num)d person.",
                    "Message queued for %(num)d people.",
                    sent,
                ),
                "success",
            )
            return redirect(url_for("manage.attendees", occurrence_id=occurrence.id))
    return render_template(
        "manage/message.html", form=form, occurrence=occurrence, totals=roster.totals(occurrence)
    )


# Certificates and feedback of trainings register themselves on ``bp`` too.
from . import trainings as _training_pages  # noqa: E402, F401
