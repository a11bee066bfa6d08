"""Feedback after every event: asked once of those who came, answered once (changeable),
read by the organiser on the dashboard, the API and the exports."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from calendrier.accounts import issue_api_token
from calendrier.domain import bookings as rules
from calendrier.domain import feedback as opinions
from calendrier.domain import outbox, privacy, trainings
from calendrier.domain.errors import InvalidInput, InvalidTransition
from calendrier.extensions import db
from calendrier.models import Feedback, OutboxMessage
from calendrier.timeutil import utcnow

from .test_api import API
from .test_trainings import bearer, book, log_in, move_into_the_past


@pytest.fixture
def screening(make):
    """A screening (no sittings) that ended yesterday: who came, who did not, who cancelled."""
    occurrence = make.occurrence(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    came = book(occurrence, email="came@example.org", name="Ana Martin")
    english = book(occurrence, email="english@example.org", name="Jo Smith", locale="en")
    no_show = book(occurrence, email="noshow@example.org", name="Léo Petit")
    cancelled = book(occurrence, email="cancelled@example.org", name="Eva Roux")
    for booking in (came, english, cancelled):
        trainings.mark(booking.id, 0)
    rules.cancel_by_organiser(cancelled.id)
    move_into_the_past(occurrence, days=4)
    return occurrence, came, english, no_show, cancelled


def asked() -> list[str]:
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "feedback_request"))
    return sorted(m.recipient for m in rows)


def test_only_those_who_came_are_asked_once_in_their_language(runner, smtp, screening):
    _occurrence, came, _english, _no_show, _cancelled = screening
    first = runner.invoke(args=["mail", "feedback"])
    assert first.exit_code == 0 and "queued 2 feedback request(s)" in first.output
    outbox.deliver_all()
    second = runner.invoke(args=["mail", "feedback"])
    assert "queued 0 feedback request(s)" in second.output
    outbox.deliver_all()
    assert asked() == ["came@example.org", "english@example.org"]
    requests = {m["To"]: m for m in smtp.messages if "/feedback" in str(m.get_body(("plain",)))}
    assert sorted(requests) == ["came@example.org", "english@example.org"]
    assert requests["english@example.org"]["Subject"].startswith("How was it?")
    assert requests["came@example.org"]["Subject"].startswith("Alors, c'était comment")
    body = requests["came@example.org"].get_body(("plain",)).get_content()
    assert f"https://agenda.example.org/bookings/{came.token}/feedback" in body


def test_anonymised_and_future_dates_are_not_asked(make, screening):
    _occurrence, came, *_ = screening
    privacy.erase(came.email)  # the right to erasure: anonymised at once
    coming = make.occurrence(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    trainings.mark(book(coming, email="soon@example.org").id, 0)
    opinions.queue_requests()
    assert asked() == ["english@example.org"]


def test_the_form_takes_a_rating_and_a_comment_and_can_change_it(client, screening):
    _occurrence, came, *_ = screening
    url = f"/bookings/{came.token}/feedback"
    page = client.get(url)
    assert page.status_code == 200 and 'name="rating"' in page.get_data(as_text=True)
    assert client.post(url, data={"rating": "9"}).status_code == 422
    assert client.post(url, data={"comment": "no rating"}).status_code == 422
    assert db.session.scalar(select(Feedback)) is None
    sent = client.post(url, data={"rating": "4", "comment": "Très bien ; =1+1"})
    assert sent.status_code == 302
    client.post(url, data={"rating": "5", "comment": "Mieux encore"})
    [answer] = db.session.scalars(select(Feedback)).all()
    assert (answer.rating, answer.comment) == (5, "Mieux encore")


def test_no_form_for_no_shows_cancelled_or_before_the_end(client, make, screening):
    _occurrence, _came, _english, no_show, cancelled = screening
    assert client.get(f"/bookings/{no_show.token}/feedback").status_code == 403
    assert (
        client.post(f"/bookings/{no_show.token}/feedback", data={"rating": "1"}).status_code == 403
    )
    assert client.get(f"/bookings/{cancelled.token}/feedback").status_code == 404
    with pytest.raises(InvalidTransition):
        opinions.record(no_show.id, 3)
    coming = make.occurrence(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    early = book(coming, email="early@example.org")
    trainings.mark(early.id, 0)
    assert client.get(f"/bookings/{early.token}/feedback").status_code == 403


def test_bad_ratings_are_field_errors(screening):
    _occurrence, came, *_ = screening
    for rating in (0, 6, "x", True, None):
        with pytest.raises(InvalidInput):
            opinions.record(came.id, rating)
    with pytest.raises(InvalidInput):
        opinions.record(came.id, 3, "\x00")


def test_results_in_the_api_the_dashboard_and_the_exports(client, make, screening):
    occurrence, came, english, *_ = screening
    opinions.record(came.id, 4, "=HYPERLINK(1)")
    opinions.record(english.id, 2, "")
    user = make.user(organisation=occurrence.event.organisation)
    token = issue_api_token(user)
    stranger = issue_api_token(make.user())
    db.session.commit()

    url = f"{API}/occurrences/{occurrence.id}/feedback"
    body = client.get(url, headers=bearer(token)).get_json()
    assert body["count"] == 2 and body["average"] == 3.0
    assert body["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert {a["reference"]: a["rating"] for a in body["answers"]} == {
        came.reference: 4,
        english.reference: 2,
    }
    assert client.get(url, headers=bearer(stranger)).status_code == 403
    assert client.get(url).status_code == 401

    log_in(client, make, occurrence.event.organisation)
    dashboard = client.get("/manage/").get_data(as_text=True)
    assert "<svg" in dashboard and "=HYPERLINK(1)" in dashboard
    assert re.search(r"3 / 5", dashboard)
    csv = client.get(f"/manage/occurrences/{occurrence.id}/attendees.csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in csv  # a formula is kept as text
    header = csv.splitlines()[0]
    assert "Note" in header and "Heures de présence" in header


def test_feedback_is_in_the_right_of_access_and_its_comment_goes_with_anonymisation(screening):
    _occurrence, came, *_ = screening
    opinions.record(came.id, 5, "Merci à Paul, le formateur")
    exported = privacy.export(came.email)
    [booking] = exported["bookings"]
    assert booking["feedback"]["rating"] == 5
    assert booking["feedback"]["comment"] == "Merci à Paul, le formateur"
    privacy.erase(came.email)
    answer = db.session.scalar(select(Feedback))
    db.session.refresh(answer)
    assert (answer.rating, answer.comment) == (5, "")
