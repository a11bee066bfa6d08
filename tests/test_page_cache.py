"""Public list pages shared for a few seconds by visitors without a session (issue 12)."""

from __future__ import annotations

import re
import time

import pytest

from calendrier import create_app
from calendrier.domain import bookings as rules
from calendrier.extensions import db

from .conftest import make_config
from .test_fixed_cost import queries_during, redis_is_up

FRENCH = {"Accept-Language": "fr"}


def book(occurrence, seats: int, email: str = "ana@example.org") -> None:
    request = rules.BookingRequest(name="Ana", email=email, seats=seats)
    rules.book(occurrence.id, request)


@pytest.mark.config(PAGE_CACHE_SECONDS=60)
def test_a_crowd_shares_one_page_and_a_visitor_with_a_session_sees_it_fresh(app, make):
    occurrence = make.occurrence(capacity=40)
    crowd = app.test_client(use_cookies=False)
    first = crowd.get("/events", headers=FRENCH)
    assert "40 places restantes" in first.text
    answers = []
    sent = queries_during(lambda: answers.append(crowd.get("/events", headers=FRENCH)))
    assert sent == []
    assert answers[0].status_code == 200
    assert answers[0].text == first.text
    # the security headers are every answer's, kept or not
    assert answers[0].headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in answers[0].headers

    book(occurrence, 3)
    # within the window, the crowd's page is the one kept: at most that many seconds late
    assert "40 places restantes" in crowd.get("/events", headers=FRENCH).text
    # a visitor who carries a session (an organiser, anyone who opened a form) never is
    regular = app.test_client()
    regular.set_cookie(app.config["SESSION_COOKIE_NAME"], "x")
    assert "37 places restantes" in regular.get("/events", headers=FRENCH).text


@pytest.mark.config(PAGE_CACHE_SECONDS=0.5)
def test_a_kept_page_is_asked_again_once_its_seconds_are_over(app, make):
    occurrence = make.occurrence(capacity=40)
    page = f"/organisations/{occurrence.event.organisation.slug}"
    crowd = app.test_client(use_cookies=False)
    assert "40 places restantes" in crowd.get(page, headers=FRENCH).text
    book(occurrence, 5)
    deadline = time.monotonic() + 30
    while "35 places restantes" not in crowd.get(page, headers=FRENCH).text:
        assert time.monotonic() < deadline, "the kept page never expired"
        time.sleep(0.05)  # between polls: the wait is on the page, its deadline above


@pytest.mark.config(PAGE_CACHE_SECONDS=60)
def test_each_language_and_address_has_its_own_page(app, make):
    make.occurrence(capacity=40)
    crowd = app.test_client(use_cookies=False)
    french = crowd.get("/events", headers=FRENCH)
    english = crowd.get("/events", headers={"Accept-Language": "en"})
    assert 'lang="fr"' in french.text and "40 places restantes" in french.text
    assert 'lang="en"' in english.text and "40 places left" in english.text
    second_page = crowd.get("/events?kind=talk", headers=FRENCH)
    assert "40 places restantes" not in second_page.text  # a filter is another page


@pytest.mark.config(PAGE_CACHE_SECONDS=60)
def test_what_is_not_a_plain_page_is_never_kept(app, make):
    crowd = app.test_client(use_cookies=False)
    # an error: the venue created a moment later shows at once
    assert crowd.get("/venues/la-halle").status_code == 404
    make.occurrence(venue=make.venue(slug="la-halle", name="La Halle"))
    assert crowd.get("/venues/la-halle").status_code == 200
    # a page that writes the session (?lang= remembers the choice) is that visitor's own
    english = crowd.get("/calendar?lang=en")
    assert "Set-Cookie" in english.headers
    sent = queries_during(lambda: crowd.get("/calendar?lang=en"))
    assert sent  # worked out again, not served from the first visitor's answer
    # a query string nobody shares is not kept (no one fills the cache with variants)
    long_query = "/events?q=" + "a" * 600
    crowd.get(long_query)
    assert queries_during(lambda: crowd.get(long_query))


@pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")
def test_app_servers_share_their_pages_through_redis(app, database_uri, tmp_path, make):
    make.occurrence(capacity=40)
    config = make_config(
        database_uri,
        tmp_path,
        CACHE_REDIS_URL="redis://127.0.0.1:6379/15",
        PAGE_CACHE_SECONDS=60,
        PUBLIC_URL=f"https://{tmp_path.name}.example.org",  # this test's pages only
    )
    one, two = create_app(config), create_app(config)
    url = f"https://{tmp_path.name}.example.org/events"
    with one.app_context():
        first = one.test_client(use_cookies=False).get(url, headers=FRENCH)
        db.session.remove()  # the requests ran in this context: it holds their connection
        db.engine.dispose()
    assert "40 places restantes" in first.text
    with two.app_context():
        client = two.test_client(use_cookies=False)
        sent = queries_during(lambda: client.get(url, headers=FRENCH))
        assert sent == []
        assert client.get(url, headers=FRENCH).text == first.text
        db.session.remove()  # the requests ran in this context: it holds their connection
        db.engine.dispose()


def hidden(page: str, name: str) -> str:
    return re.search(rf'name="{name}" type="hidden" value="([^"]+)"', page).group(1)


def test_an_event_page_is_shared_and_each_visitor_books_with_their_own_form(app, app_config, make):
    occurrence = make.occurrence(capacity=40)
    url, occurrence_id = f"/events/{occurrence.event.slug}", occurrence.id
    db.session.commit()  # SQLite: the test's read transaction would keep the site waiting
    # A site of its own, whose requests each have their own context, as when served
    # (the test's context would keep one request's CSRF token for the next).
    overrides = {"PAGE_CACHE_SECONDS": 60, "WTF_CSRF_ENABLED": True}
    overrides["PUBLIC_URL"] = "http://agenda.example.org"  # its cookies go back over http
    site = create_app({**app_config, **overrides})
    with site.app_context():
        engine = db.engine
    ana, bruno = site.test_client(), site.test_client()
    first = ana.get(url, headers=FRENCH).text
    answers = []
    sent = queries_during(lambda: answers.append(bruno.get(url, headers=FRENCH)), engine)
    assert sent == [], sent  # the page Ana's visit made
    second = answers[0].text
    assert answers[0].headers["Cache-Control"] == "no-store"  # for the browser: never kept
    assert "@@" not in first + second
    # each visitor's form has tokens of their own, valid in their own session
    assert hidden(first, "csrf_token") != hidden(second, "csrf_token")
    assert hidden(first, "submission") != hidden(second, "submission")
    for client, page, name in ((ana, first, "ana"), (bruno, second, "bruno")):
        sent = client.post(
            url,
            data={
                "csrf_token": hidden(page, "csrf_token"),
                "submission": hidden(page, "submission"),
                "occurrence": occurrence_id,
                "name": name.title(),
                "email": f"{name}@example.org",
                "seats": 1,
                "consent": "y",
            },
        )
        assert sent.status_code == 302, sent.text
        assert "/bookings/" in sent.headers["Location"]
    assert seats_taken(occurrence_id) == 2
    # Bruno's token is his: sent from Ana's session it is refused, nothing booked
    refused = ana.post(
        url,
        data={
            "csrf_token": hidden(second, "csrf_token"),
            "occurrence": occurrence_id,
            "name": "Chloé",
            "email": "chloe@example.org",
            "seats": 1,
            "consent": "y",
        },
    )
    assert refused.status_code in (400, 422)
    assert seats_taken(occurrence_id) == 2
    # now they carry a session: their page is worked out for them, with the places left
    assert "38 places restantes" in ana.get(url, headers=FRENCH).text
    engine.dispose()


def seats_taken(occurrence_id: int) -> int:
    try:
        return rules.seats_taken(occurrence_id)
    finally:
        db.session.rollback()  # no transaction left open for the site to wait on
