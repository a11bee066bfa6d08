"""When a booking may still be changed: the rules the booking rules and the emails share.

Both ``bookings`` (which enforces them) and ``notifications`` (whose emails state them)
import this module, which imports neither: the imports flow one way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..models import Occurrence


def cancellation_deadline(occurrence: Occurrence) -> datetime:
    """Until when the attendee may cancel or reduce their booking themselves."""
    return occurrence.starts_at - timedelta(hours=occurrence.cancellation_deadline_hours or 0)
