"""Cluster administration (organisations, venues, accounts) and the audit log."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from ..domain import catalogue
from ..domain.errors import InvalidInput
from ..extensions import db
from ..models import AuditEntry, Organisation, User, Venue
from .forms import OrganisationForm, UserForm, VenueForm, options
from .views import admin_required, bp, scope_organisation, show_field_errors

NO_ORGANISATION = 0


def _organisation_choices(form_field, empty_label: str | None) -> None:
    organisations = db.session.scalars(select(Organisation).order_by(Organisation.name))
    choices = [(o.id, o.name) for o in organisations]
    if empty_label is not None:
        choices.insert(0, (NO_ORGANISATION, empty_label))
    form_field.choices = options(choices)


def _or_none(value: int | None) -> int | None:
    return None if value in (None, NO_ORGANISATION) else value


# --- organisations ---------------------------------------------------------------


@bp.route("/organisations")
@admin_required
def organisations():
    rows = db.session.execute(
        select(Organisation, func.count(User.id))
        .outerjoin(User, User.organisation_id == Organisation.id)
        .group_by(Organisation.id)
        .order_by(Organisation.name)
    ).all()
    return render_template("manage/organisations.html", rows=rows)


@bp.route("/organisations/new", methods=["GET", "POST"])
@bp.route("/organisations/<int:org_id>/edit", methods=["GET", "POST"])
@admin_required
def organisation_form(org_id: int | None = None):
    org = db.get_or_404(Organisation, org_id) if org_id else None
    form = OrganisationForm(obj=org)
    if form.validate_on_submit():
        data = {
            "name": form.name.data,
            "slug": form.slug.data or None,
            "description": form.description.data or "",
            "website": form.website.data or "",
            "email": form.email.data or "",
        }
        try:
            if org is None:
                catalogue.create_organisation(actor=current_user, **data)
            else:
                catalogue.update_organisation(org.id, actor=current_user, **data)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Organisation saved."), "success")
            return redirect(url_for("manage.organisations"))
    return render_template("manage/organisation_form.html", form=form, org=org)


# --- venues ---------------------------------------------------------------------


@bp.route("/venues")
@login_required
def venues():
    rows = db.session.scalars(
        select(Venue).options(joinedload(Venue.organisation)).order_by(Venue.name)
    ).all()
    return render_template("manage/venues.html", venues=rows)


@bp.route("/venues/new", methods=["GET", "POST"])
@bp.route("/venues/<int:venue_id>/edit", methods=["GET", "POST"])
@admin_required
def venue_form(venue_id: int | None = None):
    venue = db.get_or_404(Venue, venue_id) if venue_id else None
    form = VenueForm(obj=venue)
    _organisation_choices(form.organisation_id, _("— shared by the cluster —"))
    if request.method == "GET" and venue is not None:
        form.organisation_id.data = venue.organisation_id or NO_ORGANISATION
    if form.validate_on_submit():
        data = {
            name: form[name].data
            for name in ("name", "address", "postcode", "city", "access", "capacity")
        }
        data.update(
            latitude=form.latitude.data,
            longitude=form.longitude.data,
            organisation_id=_or_none(form.organisation_id.data),
        )
        try:
            if venue is None:
                catalogue.create_venue(actor=current_user, **data)
            else:
                catalogue.update_venue(venue.id, actor=current_user, **data)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Venue saved."), "success")
            return redirect(url_for("manage.venues"))
    return render_template("manage/venue_form.html", form=form, venue=venue)


# --- accounts -------------------------------------------------------------------


@bp.route("/users")
@admin_required
def users():
    rows = db.session.scalars(
        select(User).options(joinedload(User.organisation)).order_by(User.email)
    ).all()
    return render_template("manage/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@admin_required
def user_form(user_id: int | None = None):
    user = db.get_or_404(User, user_id) if user_id else None
    form = UserForm(obj=user)
    _organisation_choices(form.organisation_id, _("— none (cluster admin) —"))
    if request.method == "GET" and user is not None:
        form.organisation_id.data = user.organisation_id or NO_ORGANISATION
    if user is not None:
        del form.email  # the login stays; make a new account for another address
    if form.validate_on_submit():
        data = {
            "name": form.name.data or "",
            "organisation_id": _or_none(form.organisation_id.data),
            "is_admin": form.is_admin.data,
            "active": form.active.data,
            "locale": form.locale.data,
        }
        try:
            if user is None:
                # No password shown: the person chooses theirs from the welcome email.
                created = catalogue.invite_user(form.email.data, actor=current_user, **data)
                flash(
                    _(
                        "Account created. %(email)s receives an email to choose a password.",
                        email=created.email,
                    ),
                    "success",
                )
            else:
                catalogue.update_user(user.id, actor=current_user, **data)
                flash(_("Account saved."), "success")
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            return redirect(url_for("manage.users"))
    return render_template("manage/user_form.html", form=form, user=user)


# --- audit log ------------------------------------------------------------------


@bp.route("/audit")
@login_required
def audit_log():
    query = select(AuditEntry).options(joinedload(AuditEntry.user))
    organisation_id = scope_organisation()
    if organisation_id is not None:
        query = query.where(AuditEntry.organisation_id == organisation_id)
    kind = request.args.get("object", "")
    if kind in ("event", "occurrence", "booking", "venue", "organisation", "user"):
        query = query.where(AuditEntry.object_type == kind)
    q = (request.args.get("q") or "").strip()[:100]
    if q:
        query = query.outerjoin(AuditEntry.user).where(
            or_(
                func.lower(AuditEntry.action).contains(q.lower(), autoescape=True),
                func.lower(User.email).contains(q.lower(), autoescape=True),
            )
        )
    page = db.paginate(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), per_page=50, error_out=False
    )
    return render_template("manage/audit.html", page=page, kind=kind, q=q)
