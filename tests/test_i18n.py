"""Dates the way each language writes them, and the same words Babel's CLDR patterns give."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale, format_datetime

from calendrier.i18n import clock, day, when

# Fixed dates (clock changes, weekdays) are the point here: run on the suite's fixed day.
pytestmark = pytest.mark.clock

PARIS = ZoneInfo("Europe/Paris")


def test_french_and_english_dates(app):
    moment = datetime(2030, 3, 8, 17, 30, tzinfo=PARIS)
    on_the_hour = datetime(2030, 3, 8, 9, tzinfo=PARIS)
    with app.test_request_context():
        with force_locale("fr"):
            assert when(moment) == "vendredi 8 mars 2030 à 17 h 30"
            assert when(moment, with_year=False) == "vendredi 8 mars à 17 h 30"
            assert when(on_the_hour, with_year=False) == "vendredi 8 mars à 9 h"
            assert clock(moment) == "17 h 30"
            assert day(moment, with_year=False) == "vendredi 8 mars"
        with force_locale("en"):
            assert when(moment) == "Friday 8 March 2030 at 5:30 PM"
            assert when(on_the_hour, with_year=False) == "Friday 8 March at 9 AM"
            assert clock(datetime(2030, 3, 8, 0, 5, tzinfo=PARIS)) == "12:05 AM"


def test_the_year_is_written_only_when_it_is_not_this_year(app):
    now = datetime.now(UTC)
    with app.test_request_context(), force_locale("fr"):
        assert str(now.astimezone(PARIS).year) not in day(now)
        assert str(now.year + 1) in day(now.replace(year=now.year + 1))


def test_same_words_as_babel_patterns_in_paris_time(app):
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    patterns = {
        "fr": ("EEEE d MMMM y", "H 'h' mm", "H 'h'"),
        "en": ("EEEE d MMMM y", "h:mm a", "h a"),
    }
    with app.test_request_context():
        for language, (date_pattern, time_pattern, hour_pattern) in patterns.items():
            with force_locale(language):
                for _ in range(300):
                    # every kind of instant, around the clock changes too
                    moment = start + timedelta(minutes=30 * rng.randrange(0, 2 * 24 * 800))
                    assert day(moment, with_year=True) == format_datetime(moment, date_pattern)
                    on_hour = format_datetime(moment, "m") == "0"
                    expected = format_datetime(moment, hour_pattern if on_hour else time_pattern)
                    assert clock(moment) == expected, moment
