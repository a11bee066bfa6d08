"""Organiser pages of trainings: certificates (one, or all as a zip) and feedback results."""

from __future__ import annotations

from flask import Response, render_template
from flask_babel import gettext as _
from flask_login import login_required

from ..domain import certificates, trainings
from ..domain import feedback as opinions
from .views import bp, managed_booking, managed_occurrence, scope_organisation


def _download(body: bytes, mimetype: str, filename: str, disposition: str = "attachment"):
    return Response(
        body,
        headers={
            "Content-Type": mimetype,
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.route("/bookings/<reference:reference>/certificate.pdf")
@login_required
def booking_certificate(reference: str):
    booking = managed_booking(reference)  # 403 for another organisation's booking
    reason = certificates.why_not(booking)
    if reason is not None:
        messages = {
            "not_ended": _("The certificate is ready once the last sitting has ended."),
            "absent": _("No certificate: this person was present at no sitting."),
        }
        message = messages.get(reason, _("This booking has no certificate of attendance."))
        return render_template("errors/error.html", code=404, message=message), 404
    pdf = certificates.certificate_pdf(booking)
    return _download(pdf, "application/pdf", certificates.filename(booking), "inline")


@bp.route("/occurrences/<int:occurrence_id>/certificates.zip")
@login_required
def occurrence_certificates(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    body = certificates.certificates_zip(occurrence)
    name = certificates.export_name(occurrence, "zip").replace(".zip", "-certificates.zip")
    return _download(body, "application/zip", name)


@bp.route("/occurrences/<int:occurrence_id>/feedback")
@login_required
def occurrence_feedback(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    return render_template(
        "manage/feedback.html",
        occurrence=occurrence,
        results=opinions.results(occurrence_id=occurrence.id),
        holders=certificates.holders(occurrence),
        ended=trainings.has_ended(occurrence),
    )


def feedback_overview() -> opinions.Results:
    """The dashboard's feedback figures, for what the user manages (a template global)."""
    return opinions.results(organisation_id=scope_organisation(), limit=20)


def rating_rows(results: opinions.Results) -> list[tuple]:
    """The distribution as rows of the dashboard's bar chart, 5 down to 1."""
    top = max(results.distribution.values()) or 1
    return [
        (_("%(num)d out of 5", num=rating), count / top, str(count), None)
        for rating, count in sorted(results.distribution.items(), reverse=True)
    ]


bp.add_app_template_global(feedback_overview, "feedback_overview")
bp.add_app_template_global(rating_rows, "rating_rows")
