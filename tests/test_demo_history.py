"""The demo has a past: a new organiser sees every chart and list of the dashboard filled.

``flask seed-demo`` loads past dates with their bookings, check-ins and no-shows, and the
bookings of the dates to come (one full with people waiting, requests awaiting approval),
all relative to today; loading it again changes nothing. And the day labels under the
bookings chart never overlap, however many days it shows.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from sqlalchemy import func, select

from calendrier.domain import dashboard
from calendrier.extensions import db
from calendrier.models import Booking, Event, Occurrence, Organisation
from calendrier.timeutil import utcnow


def seed(runner) -> dict[str, str]:
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return dict(re.findall(r"^\s+(\S+@\S+)\s+(\S+)$", result.output, re.MULTILINE))


def test_every_organisation_of_the_demo_has_a_filled_dashboard(runner):
    seed(runner)
    now = utcnow()
    for organisation in db.session.scalars(select(Organisation)):
        per_day = dashboard.bookings_per_day(organisation.id, days=30)
        assert sum(d.seats for d in per_day) > 0, organisation.slug
        assert dashboard.no_show_rates(organisation.id), organisation.slug
        assert any(taken for _o, taken in dashboard.upcoming(organisation.id)), organisation.slug
    per_day = dashboard.bookings_per_day(None, days=30)
    assert sum(1 for d in per_day if d.seats) >= 20  # bookings most days, not one spike
    summary = dashboard.summary(None)
    assert summary.seats_booked > 100 and summary.waiting > 0 and summary.pending_requests > 0
    rates = [n.rate for n in dashboard.no_show_rates(None)]
    assert any(rate > 0 for rate in rates) and all(rate < 0.6 for rate in rates)  # most came
    # believable: nobody booked in the future, nobody checked in at a date to come,
    # no date holds more confirmed places than it has, people wait only where it is full
    assert db.session.scalar(select(func.max(Booking.created_at))) <= now
    early = select(func.count(Booking.id)).join(Booking.occurrence)
    assert (
        db.session.scalar(
            early.where(Booking.checked_in_at.is_not(None), Occurrence.starts_at > now)
        )
        == 0
    )
    for occurrence in db.session.scalars(select(Occurrence)):
        statuses = [b.status for b in occurrence.bookings]
        confirmed = sum(b.seats for b in occurrence.bookings if b.status == "confirmed")
        assert confirmed <= occurrence.capacity
        if "waitlisted" in statuses:
            assert confirmed == occurrence.capacity
    past = select(func.count(Occurrence.id)).where(Occurrence.ends_at < now)
    assert db.session.scalar(past) >= 15
    assert db.session.scalar(select(func.min(Occurrence.starts_at))) > now - timedelta(
        days=90
    )  # relative to today, within the dashboard's windows


def test_the_demo_history_is_loaded_once(runner):
    seed(runner)
    counts = [db.session.scalar(select(func.count(m.id))) for m in (Booking, Occurrence, Event)]
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert [db.session.scalar(select(func.count(m.id))) for m in (Booking, Occurrence, Event)] == (
        counts
    )


def test_the_demo_dashboard_shows_its_history_to_an_organiser(runner, client):
    passwords = seed(runner)
    email = "patrimoine@cartoucherie.example"
    login = client.post("/manage/login", data={"email": email, "password": passwords[email]})
    assert login.status_code == 302
    page = client.get("/manage/").get_data(as_text=True)
    assert "No figures yet" not in page and "Aucun chiffre" not in page
    assert "Visite guidée du site" in page
    bars = re.findall(r'class="chart-bar"><title>[^<]*: (\d+)</title>', page)
    assert len(bars) == 30 and sum(map(int, bars)) > 0


def label_centres(page: str) -> list[tuple[float, str]]:
    return [
        (float(x), text)
        for x, text in re.findall(
            r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle" '
            r'class="chart-label chart-small">([^<]+)</text>',
            page,
        )
    ]


def test_day_labels_never_overlap(runner, client):
    for count in range(1, 200):
        shown = [i for i, labelled in enumerate(dashboard.axis_labels(count)) if labelled]
        assert shown[-1] == count - 1  # today always has its label
        gaps = [(b - a) * 600 / count for a, b in itertools.pairwise(shown)]
        assert all(gap >= dashboard.AXIS_LABEL_SPACING for gap in gaps), count
    passwords = seed(runner)
    email = "admin@cartoucherie.example"
    client.post("/manage/login", data={"email": email, "password": passwords[email]})
    centres = label_centres(client.get("/manage/").get_data(as_text=True))
    assert len(centres) >= 4
    xs = [x for x, _text in centres]
    assert all(b - a >= dashboard.AXIS_LABEL_SPACING for a, b in itertools.pairwise(xs))
    assert max(xs) + 20 <= 640  # the last label ("30/11") stays inside the chart
