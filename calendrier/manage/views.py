"""The organiser door: everything under /manage/.

Thin views: they check who may see what, turn forms into calls to the domain and
domain errors into form errors or messages. The other pages of this door live
in ``events``, ``attendees`` and ``admin``, on the same blueprint.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .. import accounts, i18n
from ..accounts import find_user, require_organisation_access
from ..domain import bookings as rules
from ..domain import check_in_codes
from ..domain import dashboard as figures
from ..domain.accounts import record_login
from ..domain.errors import (
    BookingClosed,
    CancellationClosed,
    CapacityBelowBookings,
    DomainError,
    InvalidInput,
    InvalidSeats,
    InvalidTransition,
    OccurrenceFull,
    TooManySeats,
)
from ..extensions import db, limiter
from ..models import Booking, Event, Occurrence
from ..timeutil import utcnow
from .forms import LoginForm, NewPasswordForm, PostForm, ResetRequestForm

bp = Blueprint(
    "manage",
    __name__,
    static_folder="static",
    static_url_path="/static",
)


# --- helpers shared by the pages of this door -----------------------------------


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return url_for("manage.dashboard")
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return url_for("manage.dashboard")
    return target


def back(default: str) -> str:
    """Where a button's form asked to go back to (a path on this site), else ``default``."""
    target = request.form.get("next") or request.args.get("next")
    return safe_next(target) if target else default


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def scope_organisation() -> int | None:
    """The organisation whose data this user sees; None: all of them (cluster admin)."""
    return None if current_user.is_admin else current_user.organisation_id


def scoped(query):
    """Limit a query joined to Event to what the user may manage."""
    organisation_id = scope_organisation()
    if organisation_id is not None:
        query = query.where(Event.organisation_id == organisation_id)
    return query


def managed_event(event_id: int) -> Event:
    event = db.get_or_404(Event, event_id)
    require_organisation_access(event.organisation_id)
    return event


def managed_occurrence(occurrence_id: int) -> Occurrence:
    occurrence = db.get_or_404(Occurrence, occurrence_id)
    require_organisation_access(occurrence.event.organisation_id)
    return occurrence


def managed_booking(reference: str) -> Booking:
    booking = db.session.scalar(select(Booking).where(Booking.reference == reference.upper()))
    if booking is None:
        abort(404)
    require_organisation_access(booking.occurrence.event.organisation_id)
    return booking


def show_field_errors(form: FlaskForm, error: InvalidInput) -> None:
    """Put the domain's field errors on the form's fields (or above the form)."""
    for name, messages in error.errors.items():
        target = form[name].errors if name in form else form.form_errors
        if isinstance(target, tuple):  # a field not validated yet
            target = form[name].errors = list(target)
        target.extend(str(m) for m in messages)


def explain(error: DomainError) -> str:
    """A sentence for an organiser about why a booking change was refused."""
    if isinstance(error, OccurrenceFull):
        return _("Not enough places left. Tick “even if full” to override.")
    if isinstance(error, BookingClosed):
        return _("Booking is closed for this date.")
    if isinstance(error, TooManySeats):
        return _("At most %(num)d places per booking.", num=error.maximum)
    if isinstance(error, CapacityBelowBookings):
        return _(
            "%(num)d places are already confirmed: cancel or reduce bookings first.",
            num=error.confirmed,
        )
    if isinstance(error, InvalidSeats):
        return _("This number of places is not allowed.")
    if isinstance(error, CancellationClosed):
        return _("It is too late to cancel.")
    if isinstance(error, InvalidTransition):
        return _("This booking has already changed; the list shows where it is now.")
    if isinstance(error, InvalidInput):
        return " ".join(" ".join(m) for m in error.messages().values())
    return _("This change is not possible.")


@bp.app_context_processor
def inject_manage_globals():
    if has_request_context() and request.blueprint == "manage" and current_user.is_authenticated:
        return {"logout_form": PostForm()}
    return {}


bp.add_app_template_global(check_in_codes.check_in_qr, "check_in_qr")


# --- logging in and out, passwords -----------------------------------------------


def _login_account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config.get("LOGIN_ACCOUNT_RATE_LIMIT", "30 per hour"),
    methods=["POST"],
    key_func=_login_account_key,
)
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user(form.email.data)
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user)
            record_login(user.id)
            return redirect(safe_next(request.args.get("next")))
        form.password.errors.append(_("Wrong email or password."))
    status = 401 if request.method == "POST" else 200
    return render_template("manage/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    if PostForm().validate_on_submit():
        logout_user()
    return redirect(url_for("manage.login"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config.get("PASSWORD_RESET_RATE_LIMIT", "5 per hour"), methods=["POST"]
)
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        flash(
            _(
                "If an account exists for this address, an email with a link to choose a "
                "new password is on its way."
            ),
            "success",
        )
        return redirect(url_for("manage.login"))
    return render_template("manage/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def reset_password(token: str):
    if accounts.user_for_reset_token(token) is None:
        return render_template("manage/reset_invalid.html"), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.reset_password(token, form.password.data)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            if user is None:
                return render_template("manage/reset_invalid.html"), 404
            flash(_("Your password is changed. You can log in with it now."), "success")
            return redirect(url_for("manage.login"))
    return render_template("manage/reset_password.html", form=form)


# --- dashboard and dates ----------------------------------------------------------


@bp.route("/")
@login_required
def dashboard():
    organisation_id = scope_organisation()
    upcoming = figures.upcoming(organisation_id, limit=12)
    per_day = figures.bookings_per_day(organisation_id, days=30)
    no_shows = figures.no_show_rates(organisation_id)
    # Chart rows: (label, value, text shown, link)
    fill_rows = [
        (
            f"{i18n.day(o.starts_at)} · {o.event.title}",
            taken / o.capacity if o.capacity else 0.0,
            f"{taken} / {o.capacity}",
            None,
        )
        for o, taken in upcoming
    ]
    day_points = [
        (format_date(d.day, "full"), d.seats, format_date(d.day, "d/M") if labelled else "")
        for d, labelled in zip(per_day, figures.axis_labels(len(per_day)), strict=True)
    ]
    no_show_rows = [(n.title, n.rate, f"{round(100 * n.rate)} %", None) for n in no_shows]
    return render_template(
        "manage/dashboard.html",
        rows=upcoming,
        summary=figures.summary(organisation_id),
        per_day=per_day,
        no_shows=no_shows,
        fill_rows=fill_rows,
        day_points=day_points,
        no_show_rows=no_show_rows,
    )


@bp.route("/occurrences")
@login_required
def occurrences():
    show_past = request.args.get("past") == "1"
    query = scoped(
        select(Occurrence)
        .join(Occurrence.event)
        .options(joinedload(Occurrence.event), joinedload(Occurrence.venue))
    )
    now = utcnow()
    if show_past:
        query = query.where(Occurrence.ends_at <= now).order_by(Occurrence.starts_at.desc())
    else:
        query = query.where(Occurrence.ends_at > now).order_by(Occurrence.starts_at)
    page = db.paginate(query, per_page=50, error_out=False)
    taken = rules.seats_taken_by_occurrence([o.id for o in page.items])
    rows = [(o, taken[o.id]) for o in page.items]
    return render_template("manage/occurrences.html", rows=rows, page=page, show_past=show_past)


# The other pages of this door register themselves on ``bp``.
from . import admin, attendees, events, imports, privacy  # noqa: E402, F401
