"""The attendee's side of trainings: their certificate of attendance, their feedback."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from ..domain import certificates, trainings
from ..domain import feedback as opinions
from ..domain.errors import InvalidInput, InvalidTransition
from ..forms import no_control_characters
from ..models import Booking
from .bookings import get_booking
from .views import bp

RATINGS = [
    SelectChoice(5, _l("5: excellent")),
    SelectChoice(4, _l("4: good")),
    SelectChoice(3, _l("3: fair")),
    SelectChoice(2, _l("2: poor")),
    SelectChoice(1, _l("1: very poor")),
]


class FeedbackForm(FlaskForm):
    rating = RadioField(
        _l("Your rating"),
        choices=RATINGS,
        coerce=int,
        validators=[InputRequired(message=_l("Choose a rating from 1 to 5."))],
    )
    comment = TextAreaField(
        _l("Your comment (optional)"),
        validators=[Optional(), Length(max=opinions.MAX_COMMENT), no_control_characters],
        render_kw={"rows": 5},
    )


def training_state(booking: Booking) -> dict:
    """What the attendee's own page offers after the date (a template global)."""
    return {
        "sittings": trainings.slots(booking.occurrence),
        "certificate": certificates.why_not(booking) is None,
        "feedback": opinions.can_answer(booking),
        "answer": opinions.answer_of(booking) if opinions.can_answer(booking) else None,
    }


bp.add_app_template_global(training_state, "training_state")
bp.add_app_template_filter(certificates.format_hours, "hours")


def _refused(message: str, code: int = 403):
    return render_template("errors/error.html", code=code, message=message), code


@bp.route("/bookings/<token:token>/certificate.pdf")
def certificate(token: str):
    booking = get_booking(token)
    reason = certificates.why_not(booking)
    if reason == "not_ended":
        return _refused(_("Your certificate of attendance is ready once the training is over."))
    if reason == "absent":
        return _refused(
            _("No certificate: you were not marked present. Please contact the organiser.")
        )
    if reason is not None:
        return _refused(_("This booking has no certificate of attendance."), 404)
    return Response(
        certificates.certificate_pdf(booking),
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": f'inline; filename="{certificates.filename(booking)}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/bookings/<token:token>/feedback", methods=["GET", "POST"])
def feedback(token: str):
    """One answer per booking; sending the form again replaces it."""
    booking = get_booking(token)
    if not opinions.can_answer(booking):
        if booking.status != "confirmed" or booking.occurrence.is_cancelled:
            return _refused(_("This booking cannot give an opinion."), 404)
        if not trainings.has_ended(booking.occurrence):
            return _refused(_("You can give your opinion once the date is over."))
        return _refused(_("Only people who came can give their opinion."))
    answer = opinions.answer_of(booking)
    form = FeedbackForm(obj=answer)
    if form.validate_on_submit():
        try:
            opinions.record(booking.id, form.rating.data, form.comment.data or "")
        except InvalidInput as error:
            for name, messages in error.messages().items():
                if name in form:
                    form[name].errors = list(messages)
        except InvalidTransition:
            return _refused(_("Only people who came can give their opinion."))
        else:
            flash(_("Thank you: your opinion is saved. You may change it here."), "success")
            return redirect(url_for("public.feedback", token=booking.token))
    status = 422 if form.errors else 200
    return render_template(
        "public/feedback.html", booking=booking, form=form, answer=answer
    ), status
