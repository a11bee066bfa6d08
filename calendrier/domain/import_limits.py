"""How much work one imported file may cost: an .ics of eleven lines must not hold a worker.

A recurrence rule is a program: ``FREQ=SECONDLY`` from 1900 walks billions of instants
before it reaches today, and a rule whose filters never match (``BYMONTH=2;BYMONTHDAY=30``)
makes dateutil search day after day up to the year 9999 without giving anything back. So:

- rules repeating more often than daily are refused (no programme has dates every hour);
- a rule must give a date within one 400-year cycle of the calendar, tried near the year
  9999 so that the search is short (the Gregorian calendar repeats itself every 400
  years, so a rule that gives nothing there gives nothing ever);
- walking a rule counts every date it gives, kept or not (the ones before the import's
  window too), against a budget;
- a whole file has a budget of dates and of time, checked between events and while a rule
  is walked. What is refused is reported with its reason, as any other skipped event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import MAXYEAR, datetime

from flask import current_app

FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
MAX_STEPS = 20_000  # dates a rule may give, kept or not, before it is refused
MAX_FILE_DATES = 5_000  # dates of a whole file (configurable: IMPORT_MAX_DATES)
TIME_LIMIT = 60  # seconds an import may take (configurable: IMPORT_TIME_LIMIT)
CYCLE_YEARS = 400  # the Gregorian calendar's cycle: weekdays and leap years repeat


class LimitReached(Exception):
    """Walking a rule or a file went beyond a budget. ``code``: which one."""

    def __init__(self, code: str, **values) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


@dataclass
class Budget:
    """What is left to one import: dates and time."""

    dates_left: int
    deadline: float
    seconds: int
    steps: int = MAX_STEPS
    taken: int = field(default=0)

    @classmethod
    def for_import(cls) -> Budget:
        config = current_app.config
        seconds = int(config.get("IMPORT_TIME_LIMIT", TIME_LIMIT))
        return cls(
            dates_left=int(config.get("IMPORT_MAX_DATES", MAX_FILE_DATES)),
            deadline=time.monotonic() + seconds,
            seconds=seconds,
        )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitReached("time_limit", num=self.seconds)

    def take_dates(self, count: int) -> None:
        """Count an event's dates against the file's; refuse the event if they do not fit."""
        if count > self.dates_left:
            raise LimitReached("file_dates", num=self.taken + self.dates_left)
        self.dates_left -= count
        self.taken += count


def frequency_refused(rule) -> str | None:
    """The FREQ of an icalendar ``vRecur`` if no programme repeats that often, else None."""
    for value in rule.get("FREQ", []):
        frequency = str(value).upper()
        if frequency not in FREQUENCIES:
            return frequency
    return None


def gives_a_date(rule, start: datetime, interval: int) -> bool:
    """Whether a dateutil rule gives any date at all, found in a bounded search.

    The rule is tried from a start moved forward by whole cycles of 400 years times its
    interval (which keeps both the calendar and the rule's own rhythm), as late as the
    calendar allows: a rule that never matches then stops at the year 9999 soon.
    """
    span = CYCLE_YEARS * max(interval, 1)
    cycles = max(0, (MAXYEAR - 1 - span - start.year) // span)
    probe = rule.replace(dtstart=start.replace(year=start.year + cycles * span))
    if getattr(rule, "_until", None) is not None or getattr(rule, "_count", None) is not None:
        probe = probe.replace(until=None, count=None)
    return next(iter(probe), None) is not None


def walk(dates, budget: Budget):
    """The dates of a rule set, each counted against the step budget; time checked often."""
    for steps, moment in enumerate(dates, start=1):
        if steps > budget.steps:
            raise LimitReached("too_many_steps", num=budget.steps)
        if steps % 256 == 0:
            budget.check_time()
        yield moment
