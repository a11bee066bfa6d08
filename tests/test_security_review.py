"""What a security review found (issue 17), one test per finding, on both databases."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage
from calendrier.timeutil import utcnow

API = "/api/v1"


def book(occurrence, email: str, seats: int = 1, **kwargs) -> Booking:
    request = rules.BookingRequest(name="Ana", email=email, seats=seats, consent=True)
    return rules.book(occurrence.id, request, **kwargs).booking


def api_book(client, occurrence, email: str, seats: int = 1):
    body = {"name": "Curieux", "email": email, "seats": seats, "consent": True}
    return client.post(f"{API}/occurrences/{occurrence.id}/bookings", json=body)


def answer(response) -> tuple:
    body = response.get_json()
    return response.status_code, body.get("error"), body.get("message")


def bookings() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(Booking.id)))


# --- 2. the API does not tell whether an address holds a booking ---------------------


def test_a_past_date_answers_the_same_whether_the_address_booked_or_not(client, make):
    started = utcnow().replace(microsecond=0) - timedelta(days=2)
    occurrence = make.occurrence(capacity=10, starts_at=started)
    book(occurrence, "ana@example.org", now=started - timedelta(days=5))
    holder = api_book(client, occurrence, "ana@example.org")
    stranger = api_book(client, occurrence, "bob@example.org")
    assert answer(holder) == answer(stranger)
    assert answer(holder)[:2] == (409, "closed")


def test_a_full_date_answers_the_same_whether_the_address_booked_or_not(client, make):
    occurrence = make.occurrence(capacity=1)
    book(occurrence, "ana@example.org")
    holder = api_book(client, occurrence, "ana@example.org")
    stranger = api_book(client, occurrence, "bob@example.org")
    assert answer(holder) == answer(stranger)
    assert answer(holder)[:2] == (409, "full")
    assert bookings() == 1


def test_an_open_date_sends_the_link_to_the_holder_never_to_the_caller(client, make):
    occurrence = make.occurrence(capacity=10)
    booking = book(occurrence, "ana@example.org")
    response = api_book(client, occurrence, "ana@example.org")
    assert answer(response)[:2] == (409, "already_booked")
    assert booking.token not in response.get_data(as_text=True)
    db.session.rollback()
    resent = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind.like("%existing%"))
    ).all()
    assert [m.recipient for m in resent] == ["ana@example.org"]


# --- 3. the form's submission key returns only one's own booking -----------------------


def form_data(occurrence, email: str, submission: str, **extra) -> dict:
    data = {
        "occurrence": occurrence.id,
        "name": "Ana Martin",
        "email": email,
        "seats": "1",
        "consent": "y",
        "submission": submission,
    }
    return data | extra


def submission_of(page) -> str:
    return re.search(r'name="submission"[^>]*value="([^"]+)"', page.get_data(as_text=True))[1]


def test_a_repeated_submission_with_another_email_never_shows_that_booking(client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"/events/{occurrence.event.slug}"
    page = client.get(url)
    assert "no-store" in page.headers["Cache-Control"]  # Back does not show it from cache
    key = submission_of(page)
    first = client.post(url, data=form_data(occurrence, "ana@example.org", key))
    assert "/confirmation" in first.location
    ana = first.location.split("/bookings/")[1].split("/")[0]

    again = client.post(url, data=form_data(occurrence, "ana@example.org", key))
    assert again.location == first.location  # a double click: the same booking

    # the next person at the same computer, going Back to the same page
    other = client.post(url, data=form_data(occurrence, "bob@example.org", key))
    assert other.status_code == 422
    assert ana not in other.get_data(as_text=True)
    assert "déjà été envoyé" in other.get_data(as_text=True)
    assert submission_of(other) != key  # sending it again makes Bob's booking
    bob = client.post(url, data=form_data(occurrence, "bob@example.org", submission_of(other)))
    assert "/confirmation" in bob.location and ana not in bob.location


def test_a_submission_key_from_another_browser_names_another_request(app, client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"/events/{occurrence.event.slug}"
    key = submission_of(client.get(url))
    first = client.post(url, data=form_data(occurrence, "ana@example.org", key))
    elsewhere = app.test_client()
    elsewhere.get(url)
    copied = elsewhere.post(url, data=form_data(occurrence, "ana@example.org", key))
    assert copied.location != first.location  # the existing booking's link goes by email
    assert "/confirmation" not in copied.location


# --- 9. names are one line; confirmations per address are limited ---------------------


def test_the_booking_form_refuses_a_name_on_two_lines(client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"/events/{occurrence.event.slug}"
    data = form_data(occurrence, "ana@example.org", "", name="Ana\r\nBcc: x@example.org")
    assert client.post(url, data=data).status_code == 422
    assert bookings() == 0


@pytest.mark.config(BOOKINGS_PER_ADDRESS_PER_HOUR=3)
def test_an_address_gets_a_limited_number_of_confirmations_an_hour(client, make):
    event = make.event()
    dates = [make.occurrence(event=event, capacity=10) for _ in range(5)]
    for occurrence in dates[:3]:
        assert api_book(client, occurrence, "victim@example.org").status_code == 201
    refused = api_book(client, dates[3], "victim@example.org")
    assert answer(refused)[:2] == (429, "too_many_for_address")
    page = client.post(f"/events/{event.slug}", data=form_data(dates[4], "Victim@example.org", ""))
    assert page.status_code == 422
    assert "trop de" in page.get_data(as_text=True)
    assert bookings() == 3
    # another address is not concerned, nor an organiser booking by hand
    assert api_book(client, dates[3], "other@example.org").status_code == 201
    organiser = make.user(organisation=event.organisation)
    book(dates[4], "victim@example.org", actor=organiser)
    assert bookings() == 5


# --- 4. the per-account login limit counts failures, per account and address --------------

PASSWORD = "correct horse battery"


def login(client, email, password, address="192.0.2.1"):
    return client.post(
        "/manage/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.mark.config(
    RATELIMIT_ENABLED=True,
    LOGIN_RATE_LIMIT="1000 per minute",
    LOGIN_ACCOUNT_RATE_LIMIT="5 per hour",
)
def test_wrong_passwords_from_elsewhere_do_not_lock_the_real_person_out(app, make):
    organiser = make.user()
    attacker = app.test_client()
    for n in range(30):
        assert login(attacker, organiser.email, "wrong", f"198.51.100.{n}").status_code == 401
    assert login(app.test_client(), organiser.email, PASSWORD).status_code == 302
    # one address's failures are counted for that address and account
    for _ in range(5):
        login(attacker, organiser.email, "wrong", "203.0.113.9")
    assert login(attacker, organiser.email, PASSWORD, "203.0.113.9").status_code == 429
    # successes are not failures
    person = app.test_client()
    for _ in range(8):
        assert login(person, organiser.email, PASSWORD, "192.0.2.77").status_code == 302


# --- 5. the time of a login does not tell which addresses have accounts --------------------


def test_a_password_hash_is_checked_whether_the_account_exists_or_not(client, make, monkeypatch):
    from werkzeug import security

    from calendrier import accounts

    checks = []

    def counted(stored, password):
        checks.append(stored)
        return security.check_password_hash(stored, password)

    monkeypatch.setattr(accounts, "check_password_hash", counted)
    organiser = make.user()
    assert login(client, organiser.email, "wrong").status_code == 401
    assert login(client, "nobody@example.org", "wrong").status_code == 401
    assert len(checks) == 2
    method = organiser.password_hash.split("$", 1)[0]
    assert checks[1].split("$", 1)[0] == method  # the same kind of hash, the same cost

    def timed(email):
        started = time.perf_counter()
        login(client, email, "wrong")
        return time.perf_counter() - started

    known = min(timed(organiser.email) for _ in range(3))
    unknown = min(timed("nobody@example.org") for _ in range(3))
    assert unknown > known / 5, (known, unknown)


# --- 7. a request size limit, answered clearly ----------------------------------------------


def test_a_huge_request_is_refused_with_413(client, make):
    big = b"x" * (12 * 1024 * 1024)
    page = client.post("/manage/login", data=big, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 413
    assert "trop volumineux" in page.get_data(as_text=True)
    occurrence = make.occurrence()
    api = client.post(
        f"{API}/occurrences/{occurrence.id}/bookings", data=big, content_type="application/json"
    )
    assert api.status_code == 413
    assert api.get_json()["error"] == "request_entity_too_large"


# --- 8. a password change ends the other sessions; tokens can be revoked --------------------


def test_a_password_reset_ends_the_sessions_opened_before(app, client, make):
    from calendrier import accounts
    from calendrier.domain import accounts as domain_accounts

    organiser = make.user()
    assert login(client, organiser.email, PASSWORD).status_code == 302
    assert client.get("/manage/").status_code == 200
    token = domain_accounts.password_reset_token(organiser)
    assert accounts.reset_password(token, "a brand new password") is not None
    with app.app_context():  # a request of its own, as on a server (g is not shared)
        assert client.get("/manage/").status_code == 302  # logged out
    fresh = app.test_client()
    assert login(fresh, organiser.email, "a brand new password").status_code == 302
    assert fresh.get("/manage/").status_code == 200


def test_tokens_show_their_last_use_and_can_be_revoked(client, runner, make):
    from calendrier.accounts import issue_api_token
    from calendrier.models import ApiToken

    organiser = make.user()
    first, second = issue_api_token(organiser), issue_api_token(organiser)
    db.session.commit()
    headers = {"Authorization": f"Bearer {first}"}
    venue = {"name": "Salle", "address": "1 rue", "city": "Valence"}
    assert client.post(f"{API}/venues", json=venue, headers=headers).status_code == 201
    db.session.rollback()
    used = db.session.scalar(
        select(ApiToken.last_used_at).where(ApiToken.last_used_at.is_not(None))
    )
    assert used is not None

    login(client, organiser.email, PASSWORD)
    page = client.get("/manage/tokens")
    assert page.status_code == 200
    assert "jamais" in page.get_data(as_text=True)  # the second token was never used
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.last_used_at.is_not(None)))
    assert client.post(f"/manage/tokens/{token_id}/revoke").status_code == 302
    assert client.post(f"{API}/venues", json=venue, headers=headers).status_code == 401

    result = runner.invoke(args=["users", "revoke-tokens", organiser.email])
    assert result.exit_code == 0 and "revoked 1 token" in result.output
    headers = {"Authorization": f"Bearer {second}"}
    assert client.post(f"{API}/venues", json=venue, headers=headers).status_code == 401


# --- 10. query strings never reach url_for ----------------------------------------------


@pytest.mark.parametrize("key", ["_anchor", "_scheme", "_method", "_external"])
def test_url_for_keywords_in_a_query_string_are_harmless(client, make, key):
    make.occurrence()
    wednesday = utcnow().date() + timedelta(days=(2 - utcnow().weekday()) % 7 + 7)
    response = client.get(f"/calendar/week/{wednesday.isoformat()}?{key}=x&kind=visit")
    assert response.status_code == 301
    assert f"{key}=x" in response.location and "kind=visit" in response.location
    for _n in range(3):
        make.event()  # enough events for a second page of the API's list
    api = client.get(f"{API}/events?per_page=1&{key}=x")
    assert api.status_code in (200, 422)


# --- 11. minor ---------------------------------------------------------------------------


def test_another_organisations_booking_reference_is_not_found_as_a_missing_one(client, make):
    from calendrier.accounts import issue_api_token

    organiser = make.user()
    elsewhere = book(make.occurrence(capacity=5), "ana@example.org")
    token = issue_api_token(organiser)
    db.session.commit()
    login(client, organiser.email, PASSWORD)
    for reference in (elsewhere.reference, "ZZZZ-ZZZZ"):
        assert client.get(f"/manage/bookings/{reference}/check-in").status_code == 404
        api = client.post(
            f"{API}/bookings/{reference}/check-in",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert api.status_code == 404, reference


def test_a_first_login_link_lives_two_hours_like_a_reset(make):
    from calendrier import accounts

    assert accounts.INVITE_MAX_AGE == accounts.RESET_MAX_AGE == 2 * 3600


def test_the_purge_blanks_the_texts_of_the_audit_log(client, make):
    from calendrier.domain import attendees, privacy
    from calendrier.models import AuditEntry

    organiser = make.user()
    started = utcnow().replace(microsecond=0) - timedelta(days=400)
    occurrence = make.occurrence(
        capacity=5, starts_at=started, event=make.event(organisation=organiser.organisation)
    )
    booking = book(occurrence, "ana@example.org", now=started - timedelta(days=3))
    rules.cancel_by_organiser(
        booking.id, actor=organiser, reason="Ana Martin a appelé", now=started - timedelta(days=2)
    )
    later = make.occurrence(
        capacity=5, starts_at=started, event=occurrence.event, venue=occurrence.venue
    )
    book(later, "bob@example.org", now=started - timedelta(days=3))
    assert attendees.message_attendees(later.id, "Bonjour Bob, secret", actor=organiser) == 1
    privacy.purge(365)
    db.session.rollback()
    texts = [str(e.details) for e in db.session.scalars(select(AuditEntry))]
    assert texts and not any("Ana Martin" in t or "secret" in t for t in texts), texts
    assert any(e.action == "booking.cancelled" for e in db.session.scalars(select(AuditEntry)))


def test_database_errors_are_logged_without_their_parameters(app):
    assert db.engine.hide_parameters


def test_an_erasure_blanks_what_organisers_wrote_about_the_person(make):
    from calendrier.domain import privacy
    from calendrier.models import AuditEntry

    organiser = make.user()
    occurrence = make.occurrence(capacity=5, event=make.event(organisation=organiser.organisation))
    booking = book(occurrence, "ana@example.org")
    rules.cancel_by_organiser(booking.id, actor=organiser, reason="Ana Martin, malade")
    privacy.erase("ana@example.org", actor=organiser)
    db.session.rollback()
    texts = [str(e.details) for e in db.session.scalars(select(AuditEntry))]
    assert texts and not any("Ana Martin" in t for t in texts), texts
