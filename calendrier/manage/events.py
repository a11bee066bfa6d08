"""Organiser pages for events and their dates: create, edit, duplicate, publish, recur."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..domain import accessibility, catalogue, trainings
from ..domain import bookings as rules
from ..domain.errors import InvalidInput
from ..extensions import db
from ..models import Event, EventKind, Occurrence, OccurrenceStatus, Organisation, Venue
from .forms import (
    CancelOccurrenceForm,
    CapacityForm,
    DuplicateForm,
    EventForm,
    OccurrenceForm,
    PostForm,
    RecurrenceForm,
    options,
    parse_dates,
)
from .views import (
    back,
    bp,
    managed_event,
    managed_occurrence,
    scoped,
    show_field_errors,
)

# --- events -------------------------------------------------------------------


@bp.route("/events")
@login_required
def events():
    query = scoped(select(Event).options(selectinload(Event.occurrences)))
    q = (request.args.get("q") or "").strip()
    if q:
        query = query.where(func.lower(Event.title).contains(q.lower(), autoescape=True))
    page = db.paginate(
        query.order_by(Event.status, func.lower(Event.title)), per_page=50, error_out=False
    )
    return render_template("manage/events.html", page=page, q=q)


def _organisations_for_user() -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.name)
    if not current_user.is_admin:
        query = query.where(Organisation.id == current_user.organisation_id)
    return list(db.session.scalars(query))


def _festivals(organisation_id: int | None, exclude: int | None = None) -> list[Event]:
    query = select(Event).where(Event.kind == EventKind.FESTIVAL).order_by(Event.title)
    if not current_user.is_admin:
        query = query.where(Event.organisation_id == organisation_id)
    if exclude is not None:
        query = query.where(Event.id != exclude)
    return list(db.session.scalars(query))


def _prepare_event_form(form: EventForm, event: Event | None) -> None:
    organisations = _organisations_for_user()
    form.organisation.choices = options((o.id, o.name) for o in organisations)
    if not current_user.is_admin or event is not None:
        del form.organisation  # an organiser's events belong to their organisation
    org_id = event.organisation_id if event else current_user.organisation_id
    festivals = _festivals(org_id, exclude=event.id if event else None)
    form.parent.choices = options([("", _("— none —")), *((f.slug, f.title) for f in festivals)])
    if event is not None:
        del form.status  # published or not: the buttons on the event page


def _english(form: EventForm) -> dict[str, str]:
    return {name: form[name].data or "" for name in ("title_en", "summary_en", "description_en")}


@bp.route("/events/new", methods=["GET", "POST"])
@login_required
def event_new():
    form = EventForm()
    _prepare_event_form(form, None)
    if request.method == "GET" and request.args.get("parent"):
        form.parent.data = request.args["parent"]
        form.kind.data = request.args.get("kind", "screening")
    if form.validate_on_submit():
        organisation_id = form.organisation.data if "organisation" in form else None
        if organisation_id is None:
            organisation_id = current_user.organisation_id
        if organisation_id is None:
            abort(403)
        try:
            event = catalogue.create_event(
                organisation_id,
                title=form.title.data,
                kind=form.kind.data,
                summary=form.summary.data or "",
                description=form.description.data or "",
                parent=form.parent.data or None,
                status=form.status.data,
                **_english(form),
                actor=current_user,
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Event created. Now add its dates."), "success")
            return redirect(url_for("manage.event", event_id=event.id))
    return render_template("manage/event_form.html", form=form, event=None)


@bp.route("/events/<int:event_id>")
@login_required
def event(event_id: int):
    event = managed_event(event_id)
    occurrences = list(
        db.session.scalars(
            select(Occurrence)
            .where(Occurrence.event_id == event.id)
            .options(selectinload(Occurrence.venue))
            .order_by(Occurrence.starts_at)
        )
    )
    taken = rules.seats_taken_by_occurrence([o.id for o in occurrences])
    programme = catalogue.festival_programme(event.id) if event.kind == EventKind.FESTIVAL else []
    return render_template(
        "manage/event.html",
        event=event,
        rows=[(o, taken[o.id]) for o in occurrences],
        programme=programme,
        form=PostForm(),
    )


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def event_edit(event_id: int):
    event = managed_event(event_id)
    form = EventForm(obj=event)
    _prepare_event_form(form, event)
    if request.method == "GET":
        form.parent.data = event.parent.slug if event.parent else ""
    if form.validate_on_submit():
        try:
            catalogue.update_event(
                event.id,
                title=form.title.data,
                kind=form.kind.data,
                summary=form.summary.data or "",
                description=form.description.data or "",
                parent=form.parent.data or None,
                actor=current_user,
                **_english(form),
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for("manage.event", event_id=event.id))
    return render_template("manage/event_form.html", form=form, event=event)


@bp.route("/events/<int:event_id>/publish", methods=["POST"])
@login_required
def event_publish(event_id: int):
    event = managed_event(event_id)
    if PostForm().validate_on_submit():
        catalogue.publish_event(event.id, actor=current_user)
        flash(_("Published: the event is visible to the public."), "success")
    return redirect(url_for("manage.event", event_id=event.id))


@bp.route("/events/<int:event_id>/unpublish", methods=["POST"])
@login_required
def event_unpublish(event_id: int):
    event = managed_event(event_id)
    if PostForm().validate_on_submit():
        catalogue.unpublish_event(event.id, actor=current_user)
        flash(_("Back to draft: the public no longer sees the event."), "success")
    return redirect(url_for("manage.event", event_id=event.id))


@bp.route("/events/<int:event_id>/duplicate", methods=["GET", "POST"])
@login_required
def event_duplicate(event_id: int):
    event = managed_event(event_id)
    form = DuplicateForm()
    if request.method == "GET":
        form.title.data = _("%(title)s (copy)", title=event.title)[:200]
    if form.validate_on_submit():
        try:
            copy = catalogue.duplicate_event(
                event.id,
                title=form.title.data,
                shift_days=form.shift_days.data,
                with_occurrences=form.with_occurrences.data,
                actor=current_user,
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Copy made, as a draft. Check it, then publish it."), "success")
            return redirect(url_for("manage.event", event_id=copy.id))
    return render_template("manage/event_duplicate.html", form=form, event=event)


# --- dates --------------------------------------------------------------------


def _venue_choices(form) -> None:
    venues = db.session.scalars(select(Venue).order_by(Venue.name))
    form.venue.choices = options(
        (v.slug, f"{v.name} ({v.capacity})" if v.capacity else v.name) for v in venues
    )


def _wall_clock(moment: datetime | None) -> datetime | None:
    """For a datetime-local input: the time at the venue, without its zone."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).replace(tzinfo=None)


# The form's fields are named as the domain's: one list for both.
OCCURRENCE_FORM_FIELDS = sorted(catalogue.OCCURRENCE_FIELDS)


@bp.route("/events/<int:event_id>/occurrences/new", methods=["GET", "POST"])
@login_required
def occurrence_new(event_id: int):
    event = managed_event(event_id)
    form = OccurrenceForm()
    _venue_choices(form)
    if request.method == "GET":
        form.max_seats_per_booking.data = current_app.config["DEFAULT_MAX_SEATS_PER_BOOKING"]
    if form.validate_on_submit():
        data = {name: form[name].data for name in OCCURRENCE_FORM_FIELDS}
        data["sittings"] = form.sittings_given(None)
        try:
            occurrence = catalogue.create_occurrence(event.id, actor=current_user, **data)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Date added."), "success")
            return redirect(url_for("manage.attendees", occurrence_id=occurrence.id))
    return render_template("manage/occurrence_form.html", form=form, event=event, occurrence=None)


@bp.route("/occurrences/<int:occurrence_id>/edit", methods=["GET", "POST"])
@login_required
def occurrence_edit(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    form = OccurrenceForm(obj=occurrence)
    _venue_choices(form)
    zone = ZoneInfo(occurrence.venue.timezone)
    if request.method == "GET":
        form.venue.data = occurrence.venue.slug
        form.accessibility.data = accessibility.decode(occurrence.accessibility)
        for name in ("starts_at", "ends_at", "booking_opens_at", "booking_closes_at"):
            form[name].data = _wall_clock(getattr(occurrence, name))
        form.sittings.data = trainings.as_lines(occurrence, zone)
    if form.validate_on_submit():
        data = {name: form[name].data for name in OCCURRENCE_FORM_FIELDS}
        data["sittings"] = form.sittings_given(trainings.as_lines(occurrence, zone))
        if data["sittings"] is None:
            del data["sittings"]  # unchanged
        for name in ("starts_at", "ends_at", "booking_opens_at", "booking_closes_at"):
            if data[name] == _wall_clock(getattr(occurrence, name)):
                del data[name]  # unchanged: keep the stored instant as it is
        try:
            catalogue.update_occurrence(occurrence.id, actor=current_user, **data)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for("manage.attendees", occurrence_id=occurrence.id))
    return render_template(
        "manage/occurrence_form.html", form=form, event=occurrence.event, occurrence=occurrence
    )


@bp.route("/events/<int:event_id>/occurrences/recurring", methods=["GET", "POST"])
@login_required
def occurrence_recurring(event_id: int):
    event = managed_event(event_id)
    form = RecurrenceForm()
    _venue_choices(form)
    if request.method == "GET":
        form.max_seats_per_booking.data = current_app.config["DEFAULT_MAX_SEATS_PER_BOOKING"]
    if form.validate_on_submit():
        rule = catalogue.Recurrence(
            first_day=form.first_day.data,
            last_day=form.last_day.data,
            weekdays=frozenset(form.weekdays.data),
            start_time=form.start_time.data,
            end_time=form.end_time.data,
            every_weeks=form.every_weeks.data,
            except_dates=frozenset(parse_dates(form.except_dates.data)),
        )
        try:
            created = catalogue.create_recurring_occurrences(
                event.id,
                rule,
                venue=form.venue.data,
                capacity=form.capacity.data,
                waitlist=form.waitlist.data,
                requires_approval=form.requires_approval.data,
                max_seats_per_booking=form.max_seats_per_booking.data,
                booking_opens_days_before=form.booking_opens_days_before.data,
                cancellation_deadline_hours=form.cancellation_deadline_hours.data,
                actor=current_user,
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(ngettext("%(num)d date added.", "%(num)d dates added.", len(created)), "success")
            return redirect(url_for("manage.event", event_id=event.id))
    return render_template("manage/recurrence_form.html", form=form, event=event)


@bp.route("/occurrences/<int:occurrence_id>/capacity", methods=["POST"])
@login_required
def occurrence_capacity(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    form = CapacityForm()
    if form.validate_on_submit():
        try:
            catalogue.change_capacity(occurrence.id, form.capacity.data, actor=current_user)
        except InvalidInput as error:
            flash(" ".join(" ".join(m) for m in error.messages().values()), "error")
        else:
            flash(_("Capacity changed to %(num)d.", num=form.capacity.data), "success")
    else:
        flash(_("Enter a number of places."), "error")
    return redirect(back(url_for("manage.attendees", occurrence_id=occurrence.id)))


@bp.route("/occurrences/<int:occurrence_id>/cancel", methods=["GET", "POST"])
@login_required
def occurrence_cancel(occurrence_id: int):
    occurrence = managed_occurrence(occurrence_id)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        flash(_("This date is already cancelled."), "error")
        return redirect(url_for("manage.attendees", occurrence_id=occurrence.id))
    form = CancelOccurrenceForm()
    if form.validate_on_submit():
        try:
            catalogue.cancel_occurrence(occurrence.id, form.reason.data, actor=current_user)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Date cancelled. Every attendee is being told by email."), "success")
            return redirect(url_for("manage.attendees", occurrence_id=occurrence.id))
    return render_template("manage/occurrence_cancel.html", form=form, occurrence=occurrence)
