"""The organiser's iCalendar upload: /manage/import (on the manage blueprint)."""

from __future__ import annotations

from flask import abort, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from ..accounts import require_organisation_access
from ..domain import importer
from ..domain.calendars import KIND_LABELS
from ..extensions import db
from ..models import Organisation, Venue
from .views import bp


class ImportForm(FlaskForm):
    file = FileField(
        _l("iCalendar file (.ics)"),
        validators=[FileRequired(), FileSize(max_size=importer.MAX_BYTES)],
        render_kw={"accept": ".ics,text/calendar"},
    )
    organisation = SelectField(_l("Organisation"), coerce=int)
    kind = SelectField(_l("Kind of the new events"))
    venue = SelectField(_l("Venue of the events without a place"), coerce=int)
    capacity = IntegerField(
        _l("Places per new date"), validators=[Optional(), NumberRange(min=0, max=100_000)]
    )
    draft = BooleanField(_l("Keep the new events unpublished"))


def _organisations() -> list[Organisation]:
    if current_user.is_admin:
        return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))
    return [current_user.organisation] if current_user.organisation is not None else []


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_calendar():
    organisations = _organisations()
    if not organisations:
        abort(403)
    form = ImportForm()
    form.organisation.choices = [(o.id, o.name) for o in organisations]
    form.kind.choices = [(kind.value, str(label)) for kind, label in KIND_LABELS.items()]
    venues = db.session.scalars(select(Venue).order_by(Venue.name)).all()
    form.venue.choices = [
        (0, "—"),
        *((v.id, f"{v.name} ({v.city})" if v.city else v.name) for v in venues),
    ]
    if len(organisations) == 1 and not form.organisation.raw_data:
        form.organisation.data = organisations[0].id  # the only choice: not even shown
    report = None
    if form.validate_on_submit():
        require_organisation_access(form.organisation.data)
        options = importer.ImportOptions(
            organisation_id=form.organisation.data,
            default_kind=form.kind.data,
            default_venue_id=form.venue.data or None,
            capacity=form.capacity.data,
            publish=not form.draft.data,
            actor=current_user,
        )
        try:
            report = importer.import_calendar(form.file.data.read(), options)
        except importer.UnreadableCalendar as error:
            form.file.errors.append(importer.unreadable_message(error))
    status = 422 if form.errors else 200
    summary = importer.summary_lines(report) if report else []
    return render_template("manage/import.html", form=form, report=report, summary=summary), status
