"""Calendar feeds for subscribers: ``/calendar.ics`` and one per event, organisation, venue.

Subscribed calendars poll: each answer carries a strong ETag and a Last-Modified worked out
in one query, and a 304 costs no more than that query.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, request
from flask_babel import force_locale
from sqlalchemy import select
from werkzeug.http import http_date

from .. import cache
from ..domain import calendars, listing
from ..domain.languages import event_text
from ..domain.settings import current_settings
from ..extensions import db
from ..models import Event, EventStatus, Organisation, Venue
from ..timeutil import utcnow

bp = Blueprint("feeds", __name__)


def feed_language() -> str:
    """``?lang=en`` or the default: never a cookie or a header, so a URL always gives the
    same bytes (calendar clients keep neither)."""
    asked = request.args.get("lang")
    return asked if asked in current_app.config["LANGUAGES"] else "fr"


def serve_feed(scope: calendars.FeedScope, members, name: str, filename: str) -> Response:
    """The feed, or a 304 when the client's copy is current."""
    config = current_app.config
    language = feed_language()
    query = urlencode(list(request.args.items(multi=True)))
    source = f"{config['PUBLIC_URL']}{request.path}" + (f"?{query}" if query else "")
    key = (source, language, config["PUBLIC_URL"], config["TIMEZONE"], name)
    state = calendars.feed_state(scope, members, key)
    _remember_validators(state, filename)
    headers = _validator_headers(state)
    if _not_modified(state):
        return Response(status=304, headers=headers)
    body = _kept_body(state)
    if body is None:
        with force_locale(language):
            body = calendars.calendar_bytes(
                calendars.feed_occurrences(members),
                name,
                config["PUBLIC_URL"],
                source=source,
                timezone=config["TIMEZONE"],
            )
        _keep_body(state, body)
    return _feed_response(body, headers, filename)


def _feed_response(body: bytes, headers: dict[str, str], filename: str) -> Response:
    headers["Content-Disposition"] = f'inline; filename="{filename}.ics"'
    return Response(body, headers=headers, content_type="text/calendar; charset=utf-8")


# A feed's bytes are a function of its ETag (calendars.feed_state): kept under it, they are
# never out of date, and a poll without a validator costs the one indexed read too. Each
# process keeps its own copy (cache.NEAR_COPIES_BYTES, which holds the whole agenda's feed:
# about 7 MB for 10,000 dates), and Redis one for every process, up to LARGEST_SHARED_BODY.
BODY_SECONDS = 300
LARGEST_SHARED_BODY = 32 * 1024 * 1024


def _kept_body(state: calendars.FeedState) -> bytes | None:
    return cache.get_fixed(f"feed-body:{state.etag}", BODY_SECONDS)


def _keep_body(state: calendars.FeedState, body: bytes) -> None:
    cache.put_fixed(f"feed-body:{state.etag}", body, BODY_SECONDS, LARGEST_SHARED_BODY)


def _validator_headers(state: calendars.FeedState) -> dict[str, str]:
    headers = {"ETag": f'"{state.etag}"', "Cache-Control": "public, max-age=300"}
    if state.last_modified is not None:
        headers["Last-Modified"] = http_date(state.last_modified)
    return headers


# --- polling calendars: a 304 from the shared cache, without a query ------------------------
# A subscribed calendar asks again every few minutes, with the ETag it holds. The validators
# of each feed URL are kept FEED_VALIDATORS_SECONDS (default 5) in the cache: a poll within
# that time is answered at the cost of /healthz, and a change shows at most that late (the
# answer itself says max-age=300). Feeds show no places left. A request without the current
# ETag within that time gets the bytes kept under it (_kept_body), without a query either.


def _validators_key() -> str:
    return "feed:" + request.full_path


def _remember_validators(state: calendars.FeedState, filename: str) -> None:
    seconds = float(current_app.config["FEED_VALIDATORS_SECONDS"])
    if seconds > 0:
        modified = state.last_modified.timestamp() if state.last_modified else None
        cache.put(_validators_key(), [state.etag, modified, filename], seconds)


@bp.before_request
def answer_from_the_cache():
    """A 304, or the feed's kept bytes, when this URL was answered in the last few seconds."""
    if request.method != "GET" or float(current_app.config["FEED_VALIDATORS_SECONDS"]) <= 0:
        return None
    known = cache.get(_validators_key())
    if known is None or len(known) != 3:
        return None
    etag, modified, filename = known
    state = calendars.FeedState(
        etag=etag,
        last_modified=datetime.fromtimestamp(modified, UTC) if modified is not None else None,
    )
    headers = _validator_headers(state)
    if (request.if_none_match or request.if_modified_since) and _not_modified(state):
        return Response(status=304, headers=headers)
    body = _kept_body(state)
    return None if body is None else _feed_response(body, headers, filename)


def _not_modified(state: calendars.FeedState) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since otherwise."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(state.etag)
    since = request.if_modified_since
    return since is not None and state.last_modified is not None and state.last_modified <= since


def since() -> datetime:
    return utcnow() - timedelta(days=current_app.config["FEED_PAST_DAYS"])


def site_name(scope: str | None = None) -> str:
    """The cluster's name (a proper name: the same in every language), after the name of
    what the feed is about, if it is about one event, organiser or venue."""
    name = current_settings().name
    return f"{scope} · {name}" if scope else name


@bp.route("/calendar.ics")
def calendar_feed():
    """Every public date from 30 days ago on, or those matching the filters of ``/events``."""
    filters, refused = listing.feed_filters(request.args)
    if refused is not None:
        return Response(refused, status=400, content_type="text/plain; charset=utf-8")
    members = listing.occurrence_query(filters, since=since())
    return serve_feed(calendars.FeedScope(), members, site_name(), "agenda")


@bp.route("/events/<slug:slug>.ics")
def event_feed(slug: str):
    event = db.session.scalar(
        select(Event).where(Event.slug == slug, Event.status == EventStatus.PUBLISHED)
    )
    if event is None:
        abort(404)
    scope = calendars.FeedScope(event_id=event.id)
    title = event_text(event, "title", feed_language())
    return serve_feed(scope, calendars.scope_occurrences(scope, since()), site_name(title), slug)


@bp.route("/organisations/<slug:slug>.ics")
def organisation_feed(slug: str):
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
    if organisation is None:
        abort(404)
    scope = calendars.FeedScope(organisation_id=organisation.id)
    name = site_name(organisation.name)
    return serve_feed(scope, calendars.scope_occurrences(scope, since()), name, slug)


@bp.route("/venues/<slug:slug>.ics")
def venue_feed(slug: str):
    venue = db.session.scalar(select(Venue).where(Venue.slug == slug))
    if venue is None:
        abort(404)
    scope = calendars.FeedScope(venue_id=venue.id)
    name = site_name(venue.name)
    return serve_feed(scope, calendars.scope_occurrences(scope, since()), name, slug)
