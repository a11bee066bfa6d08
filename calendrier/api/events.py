"""Public reading: events and their occurrences, for websites and apps (CORS open)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..domain import listing, trainings
from ..extensions import db
from ..models import Event, EventStatus, Occurrence
from ..timeutil import utcnow
from .common import EVENT_SLUG, OCCURRENCE_ID, allow_any_origin, blueprint
from .errors import ErrorSchema, fail
from .fields import is_slug
from .schemas import PAGE_HEADERS, EventSchema, FilterArgs, OccurrenceSchema, VenueSchema

bp = blueprint("Events", __name__, "Public reading: no token needed, any website may call it.")
bp.after_request(allow_any_origin)

INT_MAX = 2_147_483_647
SLUG_RULE = "<string(maxlength=120):slug>"
ID_RULE = f"<int(max={INT_MAX}):occurrence_id>"


class Shown:
    """An occurrence with what a person sees at a glance, ready for the schema."""

    def __init__(self, occurrence: Occurrence, availability):
        self._occurrence = occurrence
        self.availability = availability

    def __getattr__(self, name):
        return getattr(self._occurrence, name)


def shown(occurrences) -> list[Shown]:
    occurrences = list(occurrences)
    if any("sittings" not in o.__dict__ for o in occurrences):
        trainings.preload_sittings(occurrences)  # one query for all of them
    return [Shown(o, a) for o, a in listing.with_availability(occurrences)]


class EventView:
    """An event with only the occurrences to show, each with its availability."""

    def __init__(self, event: Event, occurrences):
        self._event = event
        self.occurrences = shown(occurrences)

    def __getattr__(self, name):
        return getattr(self._event, name)


def public_occurrence(occurrence_id: int) -> Occurrence:
    occurrence = db.session.scalar(
        select(Occurrence)
        .join(Occurrence.event)
        .where(Occurrence.id == occurrence_id, Event.status == EventStatus.PUBLISHED)
        .options(joinedload(Occurrence.event), joinedload(Occurrence.venue))
    )
    if occurrence is None:
        fail(404, "not_found")
    return occurrence


def _filters(args: dict) -> listing.Filters | None:
    """The shared filters; None for a period that ends before it starts (nothing in it)."""
    filters, problems = listing.parse_filters(args)
    if problems.pop("to", None) == "before_from":
        return None
    if problems:  # the schema let through something the listing refuses
        errors = {key: [_("Invalid value.")] for key in problems}
        fail(422, "unprocessable_entity", errors=errors)
    return filters


def _paged(items, filters: listing.Filters, total: int):
    """The page's items, with the total and the links to the pages around it."""
    pages = max(1, -(-total // filters.per_page))
    links = []
    for rel, page in (("prev", filters.page - 1), ("next", filters.page + 1)):
        if 1 <= page <= pages:
            # the query string beside url_for, never in it (_anchor, _scheme… are its own)
            args = {**request.args.to_dict(flat=False), "page": page}
            target = url_for(request.endpoint, **(request.view_args or {}))
            links.append(f'<{target}?{urlencode(args, doseq=True)}>; rel="{rel}"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return items, headers


@bp.route("/events")
@bp.arguments(FilterArgs(), location="query")
@bp.response(200, EventSchema(many=True), headers=PAGE_HEADERS)
@bp.alt_response(422, schema=ErrorSchema, description="Invalid filters, listed in `errors`.")
def events(args: dict):
    """Events with their occurrences, filtered as on /events, page by page

    Each event comes with its occurrences that match the filters, in the order
    of its first one. Occurrences that are over are always left out: `from`
    narrows the window, it never reaches into the past; a period that ends
    before it starts holds nothing.
    """
    filters = _filters(args)
    if filters is None:
        return [], {"X-Total-Count": "0"}
    found, total = listing.search_events(filters)
    trainings.preload_sittings([o for e in found for o in e.matching_occurrences])
    return _paged([EventView(e, e.matching_occurrences) for e in found], filters, total)


@bp.route("/occurrences")
@bp.arguments(FilterArgs(), location="query")
@bp.response(200, OccurrenceSchema(many=True), headers=PAGE_HEADERS)
@bp.alt_response(422, schema=ErrorSchema, description="Invalid filters, listed in `errors`.")
def occurrences(args: dict):
    """Occurrences, filtered as on /events, in order of their start, page by page"""
    filters = _filters(args)
    if filters is None:
        return [], {"X-Total-Count": "0"}
    page = listing.search_occurrences(filters)
    trainings.preload_sittings([o for o, _a in page.rows])
    return _paged([Shown(o, a) for o, a in page.rows], filters, page.total)


@bp.route(f"/events/{SLUG_RULE}", parameters=[EVENT_SLUG])
@bp.response(200, EventSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No published event has this slug.")
def event(slug: str):
    """One event with its occurrences that are not over yet"""
    found = listing.public_event(slug) if is_slug(slug) else None
    if found is None:
        fail(404, "not_found")
    now = utcnow()
    return EventView(found, [o for o in found.occurrences if o.ends_at > now])


@bp.route(f"/occurrences/{ID_RULE}", parameters=[OCCURRENCE_ID])
@bp.response(200, OccurrenceSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No public occurrence has this id.")
def occurrence(occurrence_id: int):
    """One occurrence: its date, place, places left and whether it can be booked"""
    return shown([public_occurrence(occurrence_id)])[0]


@bp.route("/venues")
@bp.response(200, VenueSchema(many=True))
def venues():
    """Every venue, by name: the slugs the filters and new occurrences name"""
    venues, _organisations = listing.filter_choices()
    return venues
