"""The doors that reach beyond the site: the newsletter's pages, ``/events.atom``, ``/embed``.

Thin views: the newsletter's rules live in ``domain/newsletter.py``, the filters and
queries in ``domain/listing.py``; the Atom document and the embed are templates.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _

from ..domain import listing, newsletter
from ..domain.errors import InvalidInput, NotFound
from ..domain.settings import current_settings
from ..extensions import csrf, limiter
from ..i18n import current_language
from .forms import ButtonForm, SubscribeForm

bp = Blueprint("outreach", __name__)

ATOM_SIZE = 50
EMBED_SIZE = 10
EMBED_MAX = 50
# An origin as CSP writes it: scheme://host[:port], nothing else (no path, no ; or space).
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?$")
EMBED_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
)


# --- the newsletter ----------------------------------------------------------------------


@bp.route("/newsletter", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["BOOKING_RATE_LIMIT"], methods=["POST"])
def subscribe():
    form = SubscribeForm()
    if request.method == "GET":
        form.language.data = current_language()
    if form.validate_on_submit():
        try:
            newsletter.subscribe(form.email.data, form.language.data, form.consent.data)
        except InvalidInput as error:
            for name, messages in error.errors.items():
                target = form[name].errors if name in form else form.form_errors
                if isinstance(target, tuple):
                    target = form[name].errors = list(target)
                target.extend(str(m) for m in messages)
        else:
            return redirect(url_for("outreach.subscribed"), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render_template("outreach/subscribe.html", form=form, issues=newsletter.sent_issues()),
        status,
    )


@bp.route("/newsletter/check-your-email")
def subscribed():
    return render_template(
        "outreach/message.html",
        title=_("Check your inbox"),
        message=_(
            "We have sent you an email with a link. Open it to confirm your subscription: "
            "until then, you will receive nothing."
        ),
    )


@bp.route("/newsletter/confirm/<token:token>", methods=["GET", "POST"])
def confirm(token: str):
    """A button, not the link itself, confirms: mail scanners that follow links do not."""
    subscriber = newsletter.find_by_token(token)
    if subscriber is None:
        abort(404)
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            newsletter.confirm(token)
        except NotFound:
            abort(404)
        return render_template(
            "outreach/message.html",
            title=_("Subscription confirmed"),
            message=_(
                "Thank you: you will receive the news of the month at the start of each month."
            ),
        )
    return render_template("outreach/confirm.html", form=form, confirmed=subscriber.confirmed_at)


@bp.route("/newsletter/unsubscribe/<token:token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: mail programs POST here with no cookie and no token
def unsubscribe(token: str):
    if request.method == "POST":
        newsletter.unsubscribe(token)  # already gone: the same answer
        return render_template(
            "outreach/message.html",
            title=_("Unsubscribed"),
            message=_("You will no longer receive the monthly news, and your address is deleted."),
        )
    known = newsletter.find_by_token(token) is not None
    return render_template("outreach/unsubscribe.html", known=known), 200 if known else 404


@bp.route("/newsletter/<month>")
def archive(month: str):
    """A letter as it was sent, at ``/newsletter/YYYY-MM``."""
    issue = newsletter.get_issue(month) if newsletter.MONTH.match(month) else None
    if issue is None or not issue.content:
        abort(404)
    letter = issue.content.get(current_language()) or issue.content["fr"]
    return render_template(
        "outreach/archive.html", issue=issue, letter=letter, issues=newsletter.sent_issues()
    )


# --- Atom ----------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def feed_language() -> str:
    asked = request.args.get("lang")
    return asked if asked in current_app.config["LANGUAGES"] else "fr"


@bp.route("/events.atom")
def atom():
    """Upcoming events (RFC 4287), with the filters of ``/events``; one entry per event."""
    filters, refused = listing.feed_filters(request.args)
    if refused is not None:
        return Response(refused, status=400, content_type="text/plain; charset=utf-8")
    filters = replace(filters, page=1, per_page=ATOM_SIZE)
    events, _total = listing.search_events(filters)
    public_url = current_app.config["PUBLIC_URL"]
    args = filters.to_args(page=False)
    language = feed_language()
    if language != "fr":
        args["lang"] = language
    self_url = public_url + url_for("outreach.atom", **args)
    entries = []
    for event in events:
        moments = [event.updated_at, *(o.changed_at for o in event.matching_occurrences)]
        entries.append(
            {
                "event": event,
                "url": f"{public_url}/events/{event.slug}",
                "updated": _rfc3339(max(moments)),
                "published": _rfc3339(event.created_at),
                "occurrences": event.matching_occurrences,
            }
        )
    epoch = _rfc3339(datetime(2000, 1, 1, tzinfo=UTC))
    updated = max((e["updated"] for e in entries), default=epoch)
    with force_locale(language):
        body = render_template(
            "outreach/events.atom.xml",
            entries=entries,
            self_url=self_url,
            alternate_url=public_url + url_for("public.events", **filters.to_args(page=False)),
            feed_id=self_url,
            updated=updated,
            language=language,
            title=current_settings().name,
        )
    response = Response(body, content_type="application/atom+xml; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.add_etag()
    return response.make_conditional(request)


# --- the embed -----------------------------------------------------------------------------


def embed_origins() -> list[str]:
    """Who may frame ``/embed``: ``EMBED_ORIGINS`` (space-separated), malformed ones left out."""
    configured = current_app.config.get("EMBED_ORIGINS") or ""
    if isinstance(configured, list | tuple):
        configured = " ".join(str(o) for o in configured)
    return [o.rstrip("/") for o in str(configured).split() if ORIGIN.match(o.rstrip("/"))]


def accent_colour() -> str:
    colour = str(current_app.config.get("ACCENT_COLOUR") or "#6b21a8")
    return colour if re.fullmatch(r"#[0-9a-fA-F]{6}", colour) else "#6b21a8"


@bp.route("/embed")
def embed():
    """A compact list of what is on, made to be framed in a partner's page: the filters of
    ``/events``, and what it left out said as ``/events`` says it."""
    filters, errors = listing.parse_filters(
        request.args, per_page=EMBED_SIZE, max_per_page=EMBED_MAX
    )
    filters = replace(filters, page=1)
    result = listing.search_occurrences(filters)
    messages = listing.filter_messages({k: c for k, c in errors.items() if k != "page"})
    body = render_template("outreach/embed.html", result=result, filters=filters, errors=messages)
    response = Response(body, content_type="text/html; charset=utf-8")
    ancestors = " ".join(["'self'", *embed_origins()])
    response.headers["Content-Security-Policy"] = EMBED_CSP.format(ancestors=ancestors)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/embed/style.css")
def embed_style():
    body = render_template("outreach/embed.css", accent=accent_colour())
    response = Response(body, content_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def embed_snippet(args: dict | None = None) -> str:
    """The HTML a partner pastes into their page (shown to organisers)."""
    public_url = current_app.config["PUBLIC_URL"]
    src = public_url + url_for("outreach.embed", **(args or {}))
    script = public_url + url_for("static", filename="js/embed-host.js")
    return render_template("outreach/snippet.html", src=src, script=script).strip()


@bp.app_context_processor
def inject_embed_snippet():
    return {"embed_snippet": embed_snippet, "embed_origins": embed_origins}
