"""Cluster admins reach beyond the site: /manage/newsletter (the monthly letter's introduction,
preview and test), /manage/sources (the agendas followed), and the embed's snippet."""

from __future__ import annotations

from flask import (
    Response,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Length, Optional

from ..domain import newsletter, sources
from ..domain.calendars import KIND_LABELS
from ..domain.errors import InvalidInput
from ..extensions import db
from ..models import Organisation
from ..timeutil import utcnow
from .forms import PostForm, options
from .views import admin_required, bp, show_field_errors

LETTER_CSP = (
    "default-src 'none'; img-src 'self' https: data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


class IntroductionForm(FlaskForm):
    month = StringField(_l("Month (YYYY-MM)"), validators=[DataRequired(), Length(max=7)])
    introduction = TextAreaField(_l("Introduction"), validators=[Optional(), Length(max=5000)])
    introduction_en = TextAreaField(
        _l("Introduction in English (optional)"), validators=[Optional(), Length(max=5000)]
    )


class SourceForm(FlaskForm):
    url = URLField(
        _l("Address of the iCalendar feed"), validators=[DataRequired(), Length(max=500)]
    )
    organisation = SelectField(_l("Organisation"))
    kind = SelectField(_l("Kind of the new events"))


def _next_month() -> str:
    today = utcnow().date()
    return newsletter.month_key(newsletter.next_month(today.replace(day=1)))


@bp.app_context_processor
def inject_newsletter_counts():
    if (
        has_request_context()
        and request.endpoint == "manage.dashboard"
        and current_user.is_authenticated
    ):
        return {"newsletter_counts": newsletter.counts()}
    return {}


@bp.route("/newsletter", methods=["GET", "POST"])
@admin_required
def newsletter_page():
    month = request.values.get("month") or _next_month()
    try:
        key = newsletter.month_key(newsletter.parse_month(month))
    except InvalidInput:
        key = _next_month()
    issue = newsletter.get_issue(key)
    form = IntroductionForm(
        month=key,
        introduction=issue.introduction if issue else "",
        introduction_en=issue.introduction_en if issue else "",
    )
    if form.validate_on_submit():
        try:
            newsletter.save_introduction(
                form.month.data, form.introduction.data, form.introduction_en.data
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Introduction saved."), "success")
            return redirect(url_for("manage.newsletter_page", month=form.month.data), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "manage/newsletter.html",
            form=form,
            month=key,
            issue=issue,
            counts=newsletter.counts(),
            test_form=PostForm(),
            preview=newsletter.preview(key, "fr")["page"],
        ),
        status,
    )


@bp.route("/newsletter/<month>/preview")
@admin_required
def newsletter_preview(month: str):
    """The email itself, as subscribers will see it (its inline styles need their own CSP)."""
    language = request.args.get("lang") if request.args.get("lang") in ("fr", "en") else "fr"
    try:
        letter = newsletter.preview(month, language)
    except InvalidInput:
        return redirect(url_for("manage.newsletter_page"))
    html = letter["html"].replace(newsletter.UNSUBSCRIBE_PLACEHOLDER, "#")
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = LETTER_CSP
    return response


@bp.route("/newsletter/<month>/test", methods=["POST"])
@admin_required
def newsletter_test(month: str):
    form = PostForm()
    if form.validate_on_submit():
        try:
            newsletter.send_test(month, current_user.email, current_user.locale or "fr")
        except InvalidInput:
            return redirect(url_for("manage.newsletter_page"))
        flash(_("A test letter is on its way to %(email)s.", email=current_user.email), "success")
    return redirect(url_for("manage.newsletter_page", month=month), 303)


@bp.route("/embed")
@admin_required
def embed_page():
    return render_template("manage/embed.html")


# --- sources -------------------------------------------------------------------------------


def _source_form() -> SourceForm:
    form = SourceForm()
    organisations = db.session.scalars(select(Organisation).order_by(Organisation.name))
    form.organisation.choices = options((o.slug, o.name) for o in organisations)
    form.kind.choices = options(
        [("", _("From the feed's categories, else screening"))]
        + [(kind.value, str(label)) for kind, label in KIND_LABELS.items()]
    )
    return form


@bp.route("/sources", methods=["GET", "POST"])
@admin_required
def sources_page():
    form = _source_form()
    if form.validate_on_submit():
        try:
            sources.add_source(
                form.url.data, form.organisation.data, form.kind.data or None, actor=current_user
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Source added: it is fetched at the next sync."), "success")
            return redirect(url_for("manage.sources_page"), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "manage/sources.html",
            form=form,
            rows=sources.list_sources(),
            sync_form=PostForm(),
        ),
        status,
    )


@bp.route("/sources/sync", methods=["POST"])
@admin_required
def sources_sync():
    if PostForm().validate_on_submit():
        reports = sources.sync_all()
        failed = sum(1 for r in reports if r.status == "failed")
        flash(
            _(
                "%(num)d source(s) synchronised, %(failed)d failed.",
                num=len(reports),
                failed=failed,
            ),
            "success" if not failed else "error",
        )
    return redirect(url_for("manage.sources_page"), 303)
