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
from sqlalchemy import func, select

from ..extensions import db
from ..models import Booking
from .errors import TooManyForAddress

PUBLIC_SOURCES = ("web", "api")
DEFAULT_PER_HOUR = 10


def check_confirmations_per_address(email: str, now: datetime) -> None:
    """Raise TooManyForAddress if this address had its hour's share of public bookings."""
    limit = int(current_app.config.get("BOOKINGS_PER_ADDRESS_PER_HOUR", DEFAULT_PER_HOUR))
    recent = db.session.scalar(
        select(func.count(Booking.id)).where(
            Booking.email == email.strip().lower(),
            Booking.source.in_(PUBLIC_SOURCES),
            Booking.created_at > now - timedelta(hours=1),
        )
    )
    if recent >= limit:
        raise TooManyForAddress()
