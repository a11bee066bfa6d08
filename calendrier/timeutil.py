"""Aware datetimes only: stored in UTC, shown in the venue's zone."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

_clock_shift = timedelta(0)


def utcnow() -> datetime:
    """Now, in UTC: every rule that depends on the time of day asks here."""
    return datetime.now(UTC) + _clock_shift


@contextmanager
def clock_set_to(moment: datetime) -> Iterator[None]:
    """Run as if it were ``moment`` now, the clock still ticking from there.

    For tests whose point is a fixed date (a clock change, how a weekday is written):
    they then never expire. The process's whole clock moves, server threads included.
    """
    global _clock_shift
    previous = _clock_shift
    _clock_shift = moment - datetime.now(UTC)
    try:
        yield
    finally:
        _clock_shift = previous


class UTCDateTime(TypeDecorator):
    """Stores UTC and hands back aware datetimes, on SQLite as on PostgreSQL.

    SQLite keeps no offset, so a naive value read back is UTC by construction;
    a naive value written is refused: it would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach a zone to a wall-clock time, refusing times the clock skips or repeats.

    Raises ValueError for a time that does not exist (spring forward) and for
    one that happens twice (fall back), since a booking service cannot guess.
    """
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != naive:
        raise ValueError("nonexistent")
    if first.utcoffset() != second.utcoffset():
        raise ValueError("ambiguous")
    return first
