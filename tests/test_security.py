"""Security, as an attacker or a careless proxy would test it: one test per promise."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from calendrier import create_app
from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import ApiToken, Booking, BookingStatus

from .conftest import make_config


@pytest.fixture
def app_config(app_config, request):
    """``@pytest.mark.config(KEY=value)`` changes the app's config for one test."""
    marker = request.node.get_closest_marker("config")
    if marker:
        app_config.update(marker.kwargs)
    return app_config


def booking_data(occurrence, n: int = 0, **overrides) -> dict:
    data = {
        "occurrence": occurrence.id,
        "name": f"Personne {n}",
        "email": f"personne{n}@example.org",
        "seats": 1,
        "consent": "y",
    }
    data.update(overrides)
    return data


def booking_count() -> int:
    return db.session.scalar(select(func.count(Booking.id)))


def log_in(client, user, password="correct horse battery"):
    response = client.post("/manage/login", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)


# --- rate limits --------------------------------------------------------------


@pytest.mark.config(RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="3 per minute")
def test_booking_form_is_rate_limited_per_client(client, make):
    occurrence = make.occurrence(capacity=50)
    url = f"/events/{occurrence.event.slug}"
    for n in range(3):
        assert client.post(url, data=booking_data(occurrence, n)).status_code == 302
    refused = client.post(url, data=booking_data(occurrence, 99))
    assert refused.status_code == 429
    assert "Trop de demandes" in refused.get_data(as_text=True)
    assert booking_count() == 3
    assert client.get(url).status_code == 200  # reading the page is never limited

    other = client.post(
        url, data=booking_data(occurrence, 4), environ_base={"REMOTE_ADDR": "192.0.2.44"}
    )
    assert other.status_code == 302  # another person is not punished
    assert booking_count() == 4


@pytest.mark.config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
def test_login_is_rate_limited_even_for_the_right_password(client, make):
    organiser = make.user()
    for _ in range(3):
        wrong = client.post("/manage/login", data={"email": organiser.email, "password": "x"})
        assert wrong.status_code == 401
    right = client.post(
        "/manage/login", data={"email": organiser.email, "password": "correct horse battery"}
    )
    assert right.status_code == 429
    assert client.get("/manage/").status_code == 302  # still not logged in


@pytest.mark.config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
def test_a_forged_forwarded_for_header_does_not_escape_the_limit(client, make):
    organiser = make.user()
    for n in range(3):
        response = client.post(
            "/manage/login",
            data={"email": organiser.email, "password": "x"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
    assert response.status_code == 429


@pytest.mark.config(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=1)
def test_behind_a_load_balancer_each_client_has_its_own_limit(client, make):
    organiser = make.user()

    def attempt(address):
        return client.post(
            "/manage/login",
            data={"email": organiser.email, "password": "x"},
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [attempt("198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert attempt("198.51.100.2") == 401


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_app_servers_share_their_limits_through_redis(database_uri, tmp_path, make):
    """Two app servers behind a load balancer count one client's attempts together."""
    config = make_config(
        database_uri,
        tmp_path,
        RATELIMIT_ENABLED=True,
        LOGIN_RATE_LIMIT="3 per minute",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
    )
    first, second = create_app(config), create_app(config)
    with first.app_context():
        from .conftest import clean_database

        clean_database()
        email = make.user().email
        db.session.remove()
    codes = []
    for app in (first, second, first, second):
        with app.test_client() as c:
            codes.append(
                c.post("/manage/login", data={"email": email, "password": "x"}).status_code
            )
    assert codes == [401, 401, 401, 429]
    for app in (first, second):
        with app.app_context():
            db.engine.dispose()


# --- headers and cookies ------------------------------------------------------


def test_every_kind_of_answer_carries_the_security_headers(client, make):
    occurrence = make.occurrence()
    slug = occurrence.event.slug
    for url in (
        "/",
        f"/events/{slug}",
        f"/events/{slug}.ics",
        "/calendar.ics",
        "/nope",
        "/healthz",
    ):
        headers = client.get(url).headers
        assert headers["X-Content-Type-Options"] == "nosniff", url
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin", url
        assert headers["X-Frame-Options"] == "DENY", url
        assert headers["Strict-Transport-Security"].startswith("max-age="), url


def test_pages_with_personal_data_are_not_cached_nor_leaked_as_referer(client, make):
    occurrence = make.occurrence()
    booking = rules.book(
        occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    for url in (f"/bookings/{booking.token}", f"/bookings/{booking.token}.ics", "/manage/login"):
        headers = client.get(url).headers
        assert "no-store" in headers["Cache-Control"], url
        assert headers["Referrer-Policy"] == "same-origin", url


def test_no_hsts_when_served_over_plain_http(database_uri, tmp_path):
    app = create_app(make_config(database_uri, tmp_path, PUBLIC_URL="http://127.0.0.1:5000"))
    response = app.test_client().get("/healthz")
    assert "Strict-Transport-Security" not in response.headers
    with app.app_context():
        db.engine.dispose()


class AssetAudit(HTMLParser):
    """Collects whatever a strict CSP (no inline code, same origin only) would block."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"inline handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"inline style on <{tag}>")
            if (
                name in ("href", "src", "action")
                and value
                and value.strip().lower().startswith("javascript:")
            ):
                self.problems.append(f"javascript: URL on <{tag}>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            if attrs.get("type") == "application/ld+json":
                pass  # a data block (schema.org): never run, so CSP has nothing to block
            elif not attrs.get("src"):
                self._in_script = True
            elif re.match(r"^(https?:)?//", attrs["src"]):
                self.problems.append(f"script from elsewhere: {attrs['src']}")
        if (
            tag == "link"
            and "stylesheet" in (attrs.get("rel") or "")
            and re.match(r"^(https?:)?//", attrs.get("href") or "")
        ):
            self.problems.append(f"stylesheet from elsewhere: {attrs['href']}")
        if tag == "img" and re.match(r"^(https?:)?//", attrs.get("src") or ""):
            self.problems.append(f"image from elsewhere: {attrs['src']}")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("inline <script>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def csp_problems(html: str) -> list[str]:
    audit = AssetAudit()
    audit.feed(html)
    return audit.problems


def test_the_pages_work_under_their_own_content_security_policy(client, make):
    """The CSP forbids inline code and foreign assets: no page may rely on them."""
    occurrence = make.occurrence()
    organiser = make.user(organisation=occurrence.event.organisation)
    booking = rules.book(
        occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    urls = [
        "/",
        "/events",
        "/calendar",
        f"/events/{occurrence.event.slug}",
        f"/events/{occurrence.event.slug}?lang=en",
        f"/bookings/{booking.token}",
        f"/bookings/{booking.token}/confirmation",
        "/manage/login",
        "/nope",
    ]
    seen = 0
    for url in urls:
        response = client.get(url)
        if (response.mimetype == "text/html" and response.status_code != 404) or url == "/nope":
            assert csp_problems(response.get_data(as_text=True)) == [], url
            seen += 1
    log_in(client, organiser)
    for url in ("/manage/", f"/manage/occurrences/{occurrence.id}"):
        response = client.get(url)
        assert response.status_code == 200
        assert csp_problems(response.get_data(as_text=True)) == [], url
        seen += 1
    assert seen >= 8


def test_session_cookie_is_secure_httponly_and_samesite(client, make):
    organiser = make.user()
    response = client.post(
        "/manage/login", data={"email": organiser.email, "password": "correct horse battery"}
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookie_is_not_marked_secure_for_a_plain_http_development_server(database_uri, tmp_path):
    app = create_app(make_config(database_uri, tmp_path, PUBLIC_URL="http://127.0.0.1:5000"))
    response = app.test_client().get("/?lang=en")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie
    with app.app_context():
        db.engine.dispose()


# --- tokens -------------------------------------------------------------------


def test_booking_tokens_are_long_random_and_the_only_key_to_a_booking(client, make):
    occurrence = make.occurrence(capacity=100, max_seats_per_booking=1)
    tokens, references = set(), set()
    for n in range(60):
        booking = rules.book(
            occurrence.id,
            rules.BookingRequest(name=f"P{n}", email=f"p{n}@example.org", seats=1),
        ).booking
        tokens.add(booking.token)
        references.add(booking.reference)
    assert len(tokens) == 60 and len(references) == 60
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", t) for t in tokens)  # >= 256 bits
    # Tokens do not share structure (no counter, no timestamp prefix).
    assert len({t[:6] for t in tokens}) == 60

    token, reference = sorted(tokens)[0], sorted(references)[0]
    assert client.get(f"/bookings/{token}").status_code == 200
    assert client.get(f"/bookings/{reference}").status_code == 404
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/bookings/{flipped}").status_code == 404
    assert client.get(f"/bookings/{token[:20]}").status_code == 404


def test_api_tokens_are_stored_only_as_hashes(runner, make):
    organiser = make.user()
    result = runner.invoke(args=["users", "token", organiser.email])
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 40
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert stored and all(token not in h and h not in token for h in stored)


def test_an_anonymised_booking_page_is_gone(client, make):
    occurrence = make.occurrence()
    booking = rules.book(
        occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    from calendrier.timeutil import utcnow

    booking.anonymised_at = utcnow()
    db.session.commit()
    assert client.get(f"/bookings/{booking.token}").status_code == 404


# --- no attendee data in public places -----------------------------------------

SECRET_NAME = "Zebulon Quatrezero"
SECRET_EMAIL = "zebulon.quatrezero@example.org"
SECRET_PHONE = "0699887766"


def _unfold(body: str) -> str:
    return body.replace("\r\n ", "").replace("\r\n\t", "")


def test_no_attendee_data_in_public_pages_feeds_or_the_public_api(client, make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    pending = make.occurrence(event=occurrence.event, capacity=5, requires_approval=True)
    slug = occurrence.event.slug
    secrets_ = [SECRET_NAME, SECRET_EMAIL, SECRET_PHONE, "Quatrezero", "zebulon"]
    for target, n in ((occurrence, 0), (occurrence, 1), (occurrence, 2), (pending, 3)):
        booking = rules.book(
            target.id,
            rules.BookingRequest(
                name=f"{SECRET_NAME} {n}",
                email=f"zebulon.quatrezero{n}@example.org",
                phone=SECRET_PHONE,
                seats=1,
            ),
        ).booking
        secrets_ += [booking.token, booking.reference]
    assert {b.status for b in db.session.scalars(select(Booking))} == {
        "confirmed",
        "waitlisted",
        "pending",
    }
    urls = [
        "/",
        "/?lang=en",
        "/events",
        f"/events?q={slug}",
        "/calendar",
        f"/events/{slug}",
        f"/events/{slug}.ics",
        "/calendar.ics",
        "/api/v1/events",
        f"/api/v1/events/{slug}",
        f"/api/v1/occurrences/{occurrence.id}",
        f"/api/v1/occurrences/{pending.id}",
        "/api/v1/openapi.json",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        body = _unfold(response.get_data(as_text=True)).lower()
        for secret in secrets_:
            assert secret.lower() not in body, (url, secret)


# --- CSRF -----------------------------------------------------------------------


@pytest.mark.config(WTF_CSRF_ENABLED=True)
def test_forms_refuse_posts_without_the_csrf_token(client, make):
    occurrence = make.occurrence()
    organiser = make.user(organisation=occurrence.event.organisation)
    url = f"/events/{occurrence.event.slug}"

    assert client.post(url, data=booking_data(occurrence)).status_code == 400
    assert booking_count() == 0
    forged = client.post(url, data=booking_data(occurrence, csrf_token="forged"))
    assert forged.status_code == 400
    assert booking_count() == 0

    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    # Over https Flask-WTF also wants a same-site Referer (pages send it: Referrer-Policy).
    elsewhere = {"Referer": "https://evil.example/page"}
    data = booking_data(occurrence, csrf_token=token)
    assert client.post(url, data=data, headers=elsewhere).status_code == 400
    assert booking_count() == 0
    same_site = {"Referer": f"https://localhost{url}"}
    assert client.post(url, data=data, headers=same_site).status_code == 302
    booking = db.session.scalar(select(Booking))

    assert client.post(f"/bookings/{booking.token}/cancel").status_code == 400
    db.session.refresh(booking)
    assert booking.status == BookingStatus.CONFIRMED
    assert client.get(f"/bookings/{booking.token}/cancel").status_code == 405

    login = client.post(
        "/manage/login", data={"email": organiser.email, "password": "correct horse battery"}
    )
    assert login.status_code == 400
    assert client.get("/manage/").status_code == 302


# --- escaping -------------------------------------------------------------------

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


def test_html_escapes_organiser_and_attendee_text(client, make, smtp):
    event = make.event(title=f"Titre {SCRIPT}", summary=IMG, description=SCRIPT)
    occurrence = make.occurrence(event=event, venue=make.venue(name=f"Salle {IMG}"))
    organiser = make.user(organisation=event.organisation)
    booking = rules.book(
        occurrence.id,
        rules.BookingRequest(name=f"Ana {IMG}", email="ana@example.org", seats=1),
    ).booking
    pages = ["/", f"/events/{event.slug}", f"/bookings/{booking.token}"]
    log_in(client, organiser)
    pages += ["/manage/", f"/manage/occurrences/{occurrence.id}"]
    for url in pages:
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
    attendees = client.get(f"/manage/occurrences/{occurrence.id}").get_data(as_text=True)
    assert "Ana &lt;img src=x" in attendees

    outbox.deliver()
    [message] = smtp.messages
    html_body = message.get_body(("html",)).get_content()
    assert "<img src=x" not in html_body and "<script>alert" not in html_body


def test_icalendar_text_cannot_inject_properties(client, make):
    event = make.event(
        title="Projection\r\nATTENDEE:mailto:evil@example.org\r\nX-INJECTED:1",
        summary="Un, deux; trois\\ quatre\nligne",
    )
    make.occurrence(event=event, venue=make.venue(name="Salle\nORGANIZER:mailto:evil@example.org"))
    for url in (f"/events/{event.slug}.ics", "/calendar.ics"):
        body = client.get(url).get_data(as_text=True)
        lines = _unfold(body).split("\r\n")
        assert not any(
            line.startswith(("ATTENDEE", "X-INJECTED", "ORGANIZER")) for line in lines
        ), url
        [vevent] = Calendar.from_ical(body).walk("VEVENT")
        assert str(vevent["summary"]).startswith("Projection")
        assert "ATTENDEE:mailto:evil@example.org" in str(vevent["summary"])  # kept as text
        assert str(vevent["description"]).startswith("Un, deux; trois\\ quatre\nligne")
        assert str(vevent["location"]).startswith("Salle\nORGANIZER:mailto:evil")  # as text


def test_no_open_redirect_after_login(client, make):
    organiser = make.user()
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:x"):
        response = client.post(
            f"/manage/login?next={target}",
            data={"email": organiser.email, "password": "correct horse battery"},
        )
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), target
        client.post("/manage/logout")
