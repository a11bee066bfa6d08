"""Limits that keep the public booking doors from being turned against someone.

Anyone may type any address into the booking form or the API, and each booking sends a
confirmation there: without a limit, the site would mail a stranger as fast as the
per-client rate limit allows, from as many clients as one has. So an address gets the
bookings (and so the confirmation emails) of at most ``BOOKINGS_PER_ADDRESS_PER_HOUR``
public bookings an hour, counted from the bookings themselves. Beyond it the booking is
refused with a clear message (try again later), rather than taken without its email:
a booking nobody was told of would hold seats that its supposed holder does not know
about. Organisers booking by hand are not counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, String, bindparam, func, select

from ..models import Booking
from ..timeutil import UTCDateTime
from .errors import TooManyForAddress

PUBLIC_SOURCES = ("web", "api")
DEFAULT_PER_HOUR = 10


def recent_public_bookings() -> Select:
    """The count ``check_recent`` takes, with the parameters ``recent_public_bookings_values``
    gives (a booking's first read asks it as a column)."""
    return select(func.count(Booking.id)).where(
        Booking.email == bindparam("recent_email", type_=String),
        Booking.source.in_(PUBLIC_SOURCES),
        Booking.created_at > bindparam("recent_since", type_=UTCDateTime),
    )


def recent_public_bookings_values(email: str, now: datetime) -> dict:
    return {"recent_email": email.strip().lower(), "recent_since": now - timedelta(hours=1)}


def check_recent(recent: int) -> None:
    """Raise TooManyForAddress if ``recent`` public bookings are the hour's share."""
    limit = int(current_app.config.get("BOOKINGS_PER_ADDRESS_PER_HOUR", DEFAULT_PER_HOUR))
    if recent >= limit:
        raise TooManyForAddress()
