"""What one imported file may cost, and what its texts may hold (issue 17, points 1 and 6).

A recurrence rule walked from 1900 every second, a rule whose filters never match, a file
of more dates than a programme has: each is refused within seconds and reported with its
reason, and the events beside it are imported. Texts go through the catalogue's checks: a
NUL, an escape character, a UID too long for its column are reported, never a 500 and
never an import stopped half-way.
"""

from __future__ import annotations

import time

import pytest

from calendrier.extensions import db
from calendrier.models import Event, Occurrence, Venue

from .test_import import YEAR, calendar, count, log_in, occurrence_by_uid, run, upload, vevent

BOMB = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:bomb@example.org\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Bombe\r\n"
    b"DTSTART:19000101T000000Z\r\nDURATION:PT1S\r\nRRULE:FREQ=SECONDLY\r\n"
    b"LOCATION:Grande halle\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def fine_event(uid: str = "fine@example.org") -> str:
    return vevent(
        uid,
        "Projection",
        dtstart=f"{YEAR}0201T100000Z",
        dtend=f"{YEAR}0201T110000Z",
        location="Grande halle",
    )


def recurring(uid: str, rule: str, start: str = "19000101T100000Z") -> str:
    return vevent(uid, "Série", dtstart=start, duration="PT1H", rrule=rule, location="Grande halle")


def reasons(report) -> dict[str, str]:
    return {line.uid: line.reason for line in report.skipped}


@pytest.fixture
def organisation(make):
    organisation = make.organisation(slug="cinema", name="Cinéma")
    make.venue(name="Grande halle")
    return organisation


def test_the_rule_bomb_is_refused_within_seconds(organisation):
    started = time.monotonic()
    report = run(BOMB, organisation)
    elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    assert "bomb@example.org" in reasons(report)
    assert "seconde" in reasons(report)["bomb@example.org"]  # why, in French
    assert count(Occurrence) == 0


@pytest.mark.parametrize("frequency", ["SECONDLY", "MINUTELY", "HOURLY"])
def test_rules_more_frequent_than_daily_are_refused(organisation, frequency):
    start = f"{YEAR}0101T100000Z"
    data = calendar(recurring("r@example.org", f"FREQ={frequency};COUNT=3", start), fine_event())
    report = run(data, organisation)
    assert "r@example.org" in reasons(report)
    assert occurrence_by_uid("fine@example.org") is not None  # the rest is imported


def test_rules_that_never_give_a_date_are_refused_quickly(organisation):
    """dateutil would search day by day up to the year 9999 (about 15 s) for nothing."""
    never = [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;INTERVAL=7;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=31;COUNT=5",
    ]
    events = [recurring(f"never{n}@example.org", rule) for n, rule in enumerate(never)]
    started = time.monotonic()
    report = run(calendar(*events, fine_event()), organisation)
    assert time.monotonic() - started < 10
    for n in range(len(never)):
        assert (
            reasons(report)[f"never{n}@example.org"]
            == "La règle de répétition ne donne aucune date."
        )
    assert report.occurrences_created == 1


def test_walking_a_rule_counts_the_dates_before_the_window(organisation):
    """Every day since 1900: 46,000 dates walked before today, none of them kept."""
    started = time.monotonic()
    report = run(calendar(recurring("daily@example.org", "FREQ=DAILY")), organisation)
    assert time.monotonic() - started < 10
    assert "20000" in reasons(report)["daily@example.org"].replace("\u202f", "").replace(" ", "")
    assert count(Occurrence) == 0


def test_a_rare_but_real_rule_is_imported(organisation):
    """Friday the 13th, weekly from a few years back: walked well within the budget."""
    start = f"{YEAR - 5}0101T200000Z"
    data = calendar(recurring("friday@example.org", "FREQ=DAILY;BYDAY=FR;BYMONTHDAY=13", start))
    report = run(data, organisation)
    assert report.skipped == []
    assert report.occurrences_created >= 2


@pytest.mark.config(IMPORT_MAX_DATES=3)
def test_a_file_has_a_budget_of_dates(organisation):
    start = f"{YEAR}0101T100000Z"
    data = calendar(
        recurring("weekly@example.org", "FREQ=WEEKLY;COUNT=2", start),
        recurring("many@example.org", "FREQ=WEEKLY;COUNT=5", start),
        fine_event(),
    )
    report = run(data, organisation)
    assert "3" in reasons(report)["many@example.org"]
    assert "fichier" in reasons(report)["many@example.org"]
    assert report.occurrences_created == 3  # the two weekly dates and the single one


@pytest.mark.config(IMPORT_TIME_LIMIT=0)
def test_an_import_has_a_time_limit(organisation):
    report = run(calendar(fine_event("a@example.org"), fine_event("b@example.org")), organisation)
    assert set(reasons(report)) == {"a@example.org", "b@example.org"}
    assert "secondes" in reasons(report)["a@example.org"]
    assert count(Event) == 0


def test_the_upload_page_reports_the_bomb(client, make, organisation):
    log_in(client, make.user(organisation=organisation))
    started = time.monotonic()
    response = upload(client, BOMB)
    assert time.monotonic() - started < 10
    assert response.status_code == 200
    assert "Bombe" in response.get_data(as_text=True)
    assert count(Occurrence) == 0


# --- texts --------------------------------------------------------------------------------


def test_imported_texts_go_through_the_catalogues_checks(organisation):
    data = calendar(
        vevent("nul@example.org", "Titre\x00nul", dtstart=f"{YEAR}0201T100000Z"),
        vevent("esc@example.org", "\x1b[31mRouge", dtstart=f"{YEAR}0201T100000Z"),
        vevent(
            "desc@example.org",
            "Description",
            dtstart=f"{YEAR}0201T100000Z",
            description="Ligne\x07bip",
        ),
        vevent("long@example.org", "T" * 201, dtstart=f"{YEAR}0201T100000Z"),
        vevent("u" * 501, "UID trop longue", dtstart=f"{YEAR}0201T100000Z"),
        vevent(
            "place@example.org",
            "Lieu",
            dtstart=f"{YEAR}0201T100000Z",
            location="Salle\x00secrète",
        ),
        fine_event(),
    )
    venues = count(Venue)
    report = run(data, organisation)
    found = reasons(report)
    for uid in ("nul", "esc", "desc", "place"):
        assert "caractères" in found[f"{uid}@example.org"], found
    assert "200" in found["long@example.org"]
    assert "UID" in found["u" * 501]
    assert count(Event) == 1 and occurrence_by_uid("fine@example.org") is not None
    assert count(Venue) == venues  # no venue made for a refused event
    db.session.rollback()


def test_an_event_the_database_refuses_is_reported_and_the_rest_imported(organisation):
    """Event by event, by design: each UID is committed on its own (see the README)."""
    data = calendar(
        vevent("a@example.org", "Avant", dtstart=f"{YEAR}0201T100000Z", location="Grande halle"),
        vevent("b@example.org", "B\x00", dtstart=f"{YEAR}0201T100000Z", location="Grande halle"),
        vevent("c@example.org", "Après", dtstart=f"{YEAR}0201T100000Z", location="Grande halle"),
    )
    report = run(data, organisation)
    assert set(reasons(report)) == {"b@example.org"}
    assert report.events_created == 2
