"""What the home page leads with: the festival under way or coming, and pictured events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, func, or_, select

from ..extensions import db
from ..models import Event, EventKind, EventStatus, Occurrence, OccurrenceStatus
from ..timeutil import utcnow

FEATURED = 3


def featured_events(limit: int = FEATURED) -> list[tuple[Event, datetime]]:
    """(event, its next start) for the events to show first: festivals, then events with a
    picture, the soonest first; only events of their own (not a festival's programme items).
    An event with neither is in the agenda below, not here."""
    now = utcnow()
    first = (
        select(Occurrence.event_id, func.min(Occurrence.starts_at).label("first"))
        .where(Occurrence.ends_at > now, Occurrence.status == OccurrenceStatus.SCHEDULED)
        .group_by(Occurrence.event_id)
        .subquery()
    )
    query = (
        select(Event, first.c.first)
        .join(first, first.c.event_id == Event.id)
        .where(
            Event.status == EventStatus.PUBLISHED,
            Event.parent_id.is_(None),
            or_(Event.kind == EventKind.FESTIVAL, Event.image_id.is_not(None)),
        )
        .order_by(
            case((Event.kind == EventKind.FESTIVAL, 0), else_=1),
            case((Event.image_id.is_(None), 1), else_=0),
            first.c.first,
            Event.id,
        )
        .limit(limit)
    )
    return [(event, _aware(start)) for event, start in db.session.execute(query).unique()]


def _aware(moment) -> datetime:
    # min() through a subquery comes back as the driver gives it (naive, or text, on SQLite)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
