"""The public door: finding what is on, booking, one's own booking."""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import secrets
from dataclasses import replace
from datetime import UTC, date, timedelta
from email.utils import parseaddr
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from .. import cache
from ..domain import accessibility, images, listing, questions, showcase, trainings
from ..domain import bookings as rules
from ..domain.errors import (
    BookingClosed,
    InvalidInput,
    OccurrenceFull,
    TooManyForAddress,
    TooManySeats,
)
from ..domain.settings import current_settings
from ..extensions import limiter
from ..i18n import current_language, when
from ..models import Event, EventKind
from ..resources import resource_dir
from ..timeutil import utcnow
from .forms import BookingForm

bp = Blueprint("public", __name__)
MIN_YEAR, MAX_YEAR = 2000, 2100
HOME_SIZE = 30
MONTH_PER_DAY = 4  # a busy day in the month grid links to the rest


def absolute_url(endpoint: str, **values) -> str:
    """An absolute URL on the public base URL (feeds are fetched by other machines)."""
    return current_app.config["PUBLIC_URL"] + url_for(endpoint, **values)


@bp.app_template_global()
def feed_links(filters: listing.Filters | None = None) -> dict[str, str]:
    """The filtered feed as a file, a webcal:// subscription and Google's subscribe link."""
    args = filters.to_args(page=False) if filters else {}
    ics = absolute_url("feeds.calendar_feed", **args)
    webcal = "webcal://" + ics.split("://", 1)[1]
    google = "https://calendar.google.com/calendar/render?" + urlencode({"cid": webcal})
    return {"ics": url_for("feeds.calendar_feed", **args), "webcal": webcal, "google": google}


# Front-end assets installed from the npm registry (package.json, `make assets`),
# served by the app itself: no CDN, nothing fetched elsewhere at run time.
NODE_MODULES = resource_dir("vendor", "node_modules")
VENDOR_FILES = {
    "modern-normalize.css": "modern-normalize/modern-normalize.css",
    **{
        f"fonts/atkinson-hyperlegible-{weight}.woff2": (
            f"@fontsource/atkinson-hyperlegible/files/atkinson-hyperlegible-latin-{weight}.woff2"
        )
        for weight in ("400-normal", "700-normal", "400-italic")
    },
}


@functools.cache
def _vendor_file(target: str) -> bytes:
    return (NODE_MODULES / target).read_bytes()


@bp.route("/vendor/<path:name>")
def vendor(name: str):
    """Served from memory: a few small files, read once, no file left open."""
    target = VENDOR_FILES.get(name)
    if target is None:
        abort(404)
    try:
        data = _vendor_file(target)
    except FileNotFoundError:
        abort(404)
    response = current_app.response_class(data, mimetype=mimetypes.guess_type(name)[0])
    response.cache_control.public = True
    response.cache_control.max_age = 7 * 24 * 3600
    response.add_etag()
    return response.make_conditional(request)


@bp.app_template_filter()
def upper_first(text: str) -> str:
    """Turns "mars 2026" into "Mars 2026", leaving the rest alone (unlike ``capitalize``)."""
    return text[:1].upper() + text[1:]


@bp.app_template_global()
def lang_url(code: str) -> str:
    """This page in another language (``?lang=`` is then remembered)."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


@bp.route("/")
@cache.shared_page
def home():
    today = listing.today()
    # this weekend: the one we are in, or the coming one
    saturday = today + timedelta(days=5 - today.weekday() if today.weekday() < 6 else -1)
    days = listing.by_day(listing.with_availability(listing.upcoming_occurrences(HOME_SIZE)))
    weekend = {"from": saturday.isoformat(), "to": (saturday + timedelta(days=1)).isoformat()}
    return render_template(
        "public/home.html",
        days=days,
        today=today,
        weekend=weekend,
        featured=showcase.featured_events(),
    )


@bp.route("/sitemap.xml")
def sitemap():
    events, venues, organisations = listing.sitemap_entries()
    body = render_template(
        "public/sitemap.xml", events=events, venues=venues, organisations=organisations
    )
    return body, 200, {"Content-Type": "application/xml; charset=utf-8"}


@bp.route("/robots.txt")
def robots():
    lines = [
        "User-agent: *",
        "Disallow: /manage/",
        "Disallow: /bookings/",
        "Disallow: /api/",
        f"Sitemap: {absolute_url('public.sitemap')}",
    ]
    return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/privacy")
def privacy():
    """The privacy notice the booking form's consent box refers to."""
    config = current_app.config
    return render_template(
        "public/privacy.html",
        controller=config["PRIVACY_CONTROLLER"] or current_settings().name,
        contact=config["PRIVACY_CONTACT"] or parseaddr(config["MAIL_DEFAULT_SENDER"])[1],
        dpo=config["PRIVACY_DPO"],
        retention_days=int(config["PRIVACY_RETENTION_DAYS"]),
    )


@bp.route("/events")
@cache.shared_page
def events():
    filters, context = _filters_and_choices()
    result = listing.search_occurrences(filters)
    if filters.page > result.pages:
        abort(404)
    return render_template("public/events.html", filters=filters, result=result, **context)


def _filters_and_choices():
    filters, errors = listing.parse_filters(request.args)
    venues, organisations = listing.filter_choices()
    return filters, {
        "errors": listing.filter_messages(errors),
        "venues": venues,
        "organisations": organisations,
    }


@bp.route("/calendar")
@bp.route("/calendar/<int:year>/<int:month>")
@cache.shared_page
def month(year: int | None = None, month: int | None = None):
    today = listing.today()
    year, month = year or today.year, month or today.month
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        abort(404)
    filters, context = _filters_and_choices()
    filters = replace(filters, date_from=None, date_to=None, page=1)
    first = date(year, month, 1)
    previous = first - timedelta(days=1)
    following = first + timedelta(days=31)
    return render_template(
        "public/month.html",
        filters=filters,
        weeks=listing.month_weeks(year, month, filters, per_day=MONTH_PER_DAY),
        first=first,
        today=today,
        previous=(previous.year, previous.month),
        following=(following.year, following.month),
        **context,
    )


@bp.route("/calendar/week")
@bp.route("/calendar/week/<day>")
@cache.shared_page
def week(day: str | None = None):
    today = listing.today()
    try:
        chosen = date.fromisoformat(day) if day else today
    except ValueError:
        abort(404)
    if not MIN_YEAR <= chosen.year <= MAX_YEAR:
        abort(404)
    monday = chosen - timedelta(days=chosen.weekday())
    if day and chosen != monday:
        # The query string goes along as it came, never into url_for: its own keywords
        # (_anchor, _scheme, _method, _external) would be taken for instructions.
        target = url_for("public.week", day=monday.isoformat())
        if request.query_string:
            target += "?" + urlencode(request.args.to_dict(flat=False), doseq=True)
        return redirect(target, 301)
    filters, context = _filters_and_choices()
    filters = replace(filters, date_from=None, date_to=None, page=1)
    return render_template(
        "public/week.html",
        filters=filters,
        days=listing.agenda(monday, monday + timedelta(days=6), filters),
        monday=monday,
        today=today,
        previous=(monday - timedelta(days=7)).isoformat(),
        following=(monday + timedelta(days=7)).isoformat(),
        **context,
    )


def what_is_on_at(template: str, found, filter_name: str, **context):
    """A venue's or organiser's page: the object, then what is on there, page by page."""
    if found is None:
        abort(404)
    filters, _errors = listing.parse_filters({"page": request.args.get("page")})
    filters = replace(filters, **{filter_name: (found.slug,)})
    result = listing.search_occurrences(filters)
    if filters.page > result.pages:
        abort(404)
    return render_template(template, filters=filters, result=result, **context)


@bp.route("/venues/<slug:slug>")
@cache.shared_page
def venue(slug: str):
    place = listing.venue_by_slug(slug)
    map_link = listing.map_link(place) if place else None
    return what_is_on_at("public/venue.html", place, "venues", venue=place, map_link=map_link)


@bp.route("/organisations/<slug:slug>")
@cache.shared_page
def organisation(slug: str):
    org = listing.organisation_by_slug(slug)
    return what_is_on_at("public/organisation.html", org, "organisations", organisation=org)


def get_public_event(slug: str) -> Event:
    event = listing.public_event(slug)
    if event is None:
        abort(404)
    return event


def bookable_choices(rows) -> list[tuple[int, str]]:
    choices = []
    for occurrence, avail in rows:
        if avail.can_request:
            choices.append((occurrence.id, when(occurrence.starts_at)))
    return choices


@bp.route("/events/<slug:slug>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"], methods=["POST"])
def event_detail(slug: str):
    if request.method == "GET" and (kept := cache.kept_page(refill=_fresh_form_tokens)):
        return kept
    event = get_public_event(slug)
    now = utcnow()
    visible = [o for o in event.occurrences if o.ends_at > now - timedelta(days=1)]
    rows = listing.with_availability(visible)
    asked = questions.event_questions(event.id)
    form = extras.booking_form(BookingForm, asked, visible)
    # A followed event (domain/sources.py) is booked at its source, never here.
    form.occurrence.choices = [] if event.source_url else bookable_choices(rows)
    if request.method == "GET":
        form.submission.data = secrets.token_urlsafe(24)
    if request.method == "GET" and form.occurrence.choices:
        _browser_nonce()  # in the session cookie before the form is sent
    if request.method == "GET" and len(form.occurrence.choices) == 1:
        form.occurrence.data = form.occurrence.choices[0][0]
    wanted = request.args.get("occurrence", type=int)
    if request.method == "GET" and wanted in dict(form.occurrence.choices):
        form.occurrence.data = wanted
    if form.validate_on_submit():
        submission_key = _submission_key(form.submission.data)
        booking_request = rules.BookingRequest(
            idempotency_key=submission_key,
            name=form.name.data,
            email=form.email.data,
            seats=form.seats.data,
            phone=form.phone.data or "",
            locale=current_language(),
            consent=form.consent.data,
            source="web",
            **extras.request_extras(form, asked),
        )
        try:
            result = rules.book(form.occurrence.data, booking_request)
        except InvalidInput as error:
            extras.show_errors(form, error, asked)
        except TooManySeats as error:
            form.seats.errors.append(_("At most %(n)d places per booking.", n=error.maximum))
        except OccurrenceFull:
            form.occurrence.errors.append(_("Sorry, this date has just become full."))
        except BookingClosed:
            form.occurrence.errors.append(_("Booking is closed for this date."))
        except TooManyForAddress:
            form.email.errors.append(_too_many_for_address())
        else:
            booking = result.booking
            same_key = submission_key is not None and booking.idempotency_key == submission_key
            same_request = booking.occurrence_id == form.occurrence.data and (
                booking.email == rules.normalise_email(form.email.data)
            )
            if result.created or (same_key and same_request):
                # this very page made the booking (a double submission lands here too)
                return redirect(url_for("public.confirmation", token=booking.token))
            if same_key:
                # The page was sent before with another date or email (someone else at
                # a shared computer, going back): never hand out that booking.
                form.submission.data = secrets.token_urlsafe(24)
                form.form_errors.append(
                    _("This form was already sent for another booking. Check it and send it again.")
                )
                return _event_page(event, rows, form, 422, asked)
            # Someone typed an email that already holds a booking: its link goes to
            # that address, never to whoever typed it.
            rules.resend_booking_link(booking.id)
            flash(
                _(
                    "There is already a booking for this date with this email address. "
                    "We have sent its link to that address again."
                ),
                "info",
            )
            return redirect(url_for("public.event_detail", slug=event.slug), 303)
    if request.method == "POST":
        return _event_page(event, rows, form, 422, asked)
    response = make_response(_event_page(event, rows, form, 200, asked))
    # Kept for visitors without a session, its form's tokens punched out: each gets their own.
    holes = {form.submission.data: SUBMISSION_HOLE}
    if "csrf_token" in form:
        holes[form.csrf_token.current_token] = CSRF_HOLE
    # (Flask-Login's strong session protection adds "_remember" to a session with no user.)
    cache.keep_page(response, holes, session_keys={"booking_nonce", "csrf_token", "_remember"})
    return response


# Markers for a form's tokens in a kept event page (cache.keep_page): nothing else looks so.
SUBMISSION_HOLE = "@@calendrier-submission-key@@"
CSRF_HOLE = "@@calendrier-csrf-token@@"


def _fresh_form_tokens() -> dict[str, str]:
    """This visitor's own tokens for a kept event page's form, in their new session."""
    tokens = {SUBMISSION_HOLE: secrets.token_urlsafe(24)}
    _browser_nonce()
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        tokens[CSRF_HOLE] = generate_csrf()
    return tokens


def _event_page(event: Event, rows, form: BookingForm, status: int, asked):
    trainings.preload_sittings([o for o, _ in rows])  # the page lists them: one query for all
    programme = None
    if event.kind == EventKind.FESTIVAL or event.children:
        programme = listing.by_day(listing.with_availability(listing.festival_programme(event)))
    headers = {}
    if form.occurrence.choices:
        # The page holds a booking form: going Back in a shared browser must not show
        # the previous person's answers (nor their submission key) to the next one.
        headers["Cache-Control"] = "no-store"
    return (
        render_template(
            "public/event.html",
            event=event,
            rows=rows,
            form=form,
            asked=asked,
            programme=programme,
            json_ld=event_json_ld(event, rows),
            og_image=images.image_json(event.image),
        ),
        status,
        headers,
    )


def _browser_nonce() -> str:
    """A random value of this browser's session (its signed cookie), made once."""
    if "booking_nonce" not in session:
        session["booking_nonce"] = secrets.token_urlsafe(16)
    return session["booking_nonce"]


def _submission_key(submission: str | None) -> str | None:
    """The idempotency key of a booking form's submission, tied to the browser's session:
    the same key sent from another browser names another request."""
    if not submission:
        return None
    digest = hashlib.sha256(f"{_browser_nonce()}:{submission}".encode()).hexdigest()
    return f"web:{digest[:48]}"


def _too_many_for_address() -> str:
    return _(
        "This address has been sent too many booking emails in the last hour. "
        "Please try again later."
    )


SCHEMA_AVAILABILITY = {
    "open": "InStock",
    "last_places": "LimitedAvailability",
    "waitlist": "SoldOut",
    "full": "SoldOut",
    "not_yet_open": "PreOrder",
    "closed": "SoldOut",
    "cancelled": "SoldOut",
    "past": "SoldOut",
}


def event_json_ld(event: Event, rows) -> list[dict]:
    """schema.org ``Event`` data for search engines, one per date still to come."""
    page = absolute_url("public.event_detail", slug=event.slug)
    organizer = {
        "@type": "Organization",
        "name": event.organisation.name,
        "url": absolute_url("public.organisation", slug=event.organisation.slug),
    }
    items = []
    for occurrence, avail in rows:
        if avail.state == "past":
            continue
        venue = occurrence.venue
        place = {
            "@type": "Place",
            "name": venue.name,
            "address": {
                "@type": "PostalAddress",
                "streetAddress": venue.address,
                "postalCode": venue.postcode,
                "addressLocality": venue.city,
                "addressCountry": "FR",
            },
        }
        if venue.latitude is not None and venue.longitude is not None:
            place["geo"] = {
                "@type": "GeoCoordinates",
                "latitude": venue.latitude,
                "longitude": venue.longitude,
            }
        item = {
            "@context": "https://schema.org",
            "@type": "Event",
            "name": event.title,
            "description": event.summary or event.description[:300],
            "url": page,
            "startDate": occurrence.starts_at.astimezone(listing.site_zone()).isoformat(),
            "endDate": occurrence.ends_at.astimezone(listing.site_zone()).isoformat(),
            "eventStatus": "https://schema.org/"
            + ("EventCancelled" if occurrence.is_cancelled else "EventScheduled"),
            "eventAttendanceMode": "https://schema.org/OfflineEventAttendanceMode",
            "location": place,
            "organizer": organizer,
            **accessibility.json_ld(accessibility.occurrence_codes(occurrence)),
            "inLanguage": "fr",
            "maximumAttendeeCapacity": occurrence.capacity,
            "remainingAttendeeCapacity": avail.seats_left,
            "offers": {
                "@type": "Offer",
                "url": absolute_url(
                    "public.event_detail", slug=event.slug, occurrence=occurrence.id
                ),
                "availability": "https://schema.org/" + SCHEMA_AVAILABILITY[avail.state],
            },
        }
        if avail.opens_at:
            item["offers"]["validFrom"] = avail.opens_at.isoformat()
        if event.image is not None:
            item["image"] = [images.image_json(event.image)["url"]]
        if event.parent is not None:
            item["superEvent"] = {
                "@type": "Event",
                "name": event.parent.title,
                "url": absolute_url("public.event_detail", slug=event.parent.slug),
            }
        items.append(item)
    return items[:50]


@bp.app_template_global()
def google_calendar_link(occurrence) -> str:
    """Google Calendar's "add this event" link for one date."""

    def stamp(moment):
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    venue = occurrence.venue
    details = absolute_url("public.event_detail", slug=occurrence.event.slug)
    if occurrence.event.summary:
        details = occurrence.event.summary + "\n\n" + details
    query = {
        "action": "TEMPLATE",
        "text": occurrence.event.title,
        "dates": f"{stamp(occurrence.starts_at)}/{stamp(occurrence.ends_at)}",
        "details": details,
        "location": ", ".join(p for p in (venue.name, venue.full_address) if p),
        "ctz": current_app.config.get("TIMEZONE", "Europe/Paris"),
    }
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


# the attendee's own pages, and the booking form's extras (wheelchair, questions, groups)
from . import bookings, extras  # noqa: E402, F401
