"""Personal data, for cluster admins: what is held about one address, and erasing it."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..domain import privacy
from ..timeutil import utcnow
from .forms import EraseForm, PersonalDataForm
from .views import admin_required, bp


@bp.route("/personal-data", methods=["GET", "POST"])
@admin_required
def personal_data():
    """One address, two answers: its data as a JSON file, or the erasure's confirmation.

    A POST, so the address stays out of URLs and server logs.
    """
    form = PersonalDataForm()
    if form.validate_on_submit():
        email = form.email.data
        if request.form.get("action") == "erase":
            return erase_confirmation(email)
        data = privacy.export(email, actor=current_user)
        if privacy.holds_anything(data):
            filename = f"personal-data-{utcnow():%Y-%m-%d}.json"
            return Response(
                json.dumps(data, ensure_ascii=False, indent=2),
                mimetype="application/json",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        flash(nothing_held(data["email"]), "info")
    status = 422 if request.method == "POST" else 200
    return render_template("manage/personal_data.html", form=form), status


def nothing_held(email: str) -> str:
    return _(
        "Nothing is held about %(email)s: no booking, no email, no account. "
        "Check the spelling, or the data may already have been anonymised.",
        email=email,
    )


def erase_confirmation(email: str, form: EraseForm | None = None, status: int = 200):
    data = privacy.export(email)  # what the page lists; the erasure itself is audited
    if not data["bookings"] and not data.get("newsletter"):
        flash(
            _("No booking holds %(email)s: there is nothing to erase.", email=data["email"])
            if privacy.holds_anything(data)
            else nothing_held(data["email"]),
            "info",
        )
        return redirect(url_for("manage.personal_data"))
    form = form or EraseForm(formdata=None, email=data["email"])
    return (
        render_template(
            "manage/personal_data_erase.html",
            form=form,
            email=data["email"],
            bookings=[
                {**b, "starts_at": datetime.fromisoformat(b["starts_at"])} for b in data["bookings"]
            ],
            account=data["organiser_account"],
        ),
        status,
    )


@bp.route("/personal-data/erase", methods=["POST"])
@admin_required
def erase_personal_data():
    form = EraseForm()
    if not form.validate_on_submit():
        if not form.email.data:
            return redirect(url_for("manage.personal_data"))
        return erase_confirmation(form.email.data, form, 422)
    report = privacy.erase(form.email.data, actor=current_user)
    flash(
        _(
            "Done: %(bookings)d booking(s) anonymised, of which %(cancelled)d cancelled "
            "(their places went to the waiting list), and %(emails)d email(s).",
            bookings=report.bookings,
            cancelled=report.cancelled,
            emails=report.emails,
        ),
        "success",
    )
    return redirect(url_for("manage.personal_data"))
