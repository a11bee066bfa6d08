"""Bad input, generated: every form and every API body, fed what people and robots send.

Unicode of every script, NUL bytes, 100k-character strings, numbers far out of range,
the wrong JSON types, impossible dates and the Paris clock changes. The promise: never
a 500, and never half a write. A refused request leaves every table as it was; an
accepted one stores exactly what was typed (once stripped of surrounding spaces).

Each test builds its world once, then lets hypothesis hammer it: the examples share the
database, so each one compares row counts before and after its own request.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import json
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from sqlalchemy import func, select

from calendrier.accounts import issue_api_token
from calendrier.extensions import db
from calendrier.models import (
    AuditEntry,
    Booking,
    Event,
    Occurrence,
    Organisation,
    OutboxMessage,
    User,
    Venue,
)
from calendrier.timeutil import utcnow

from .test_manage import log_in

# Fixed dates (clock changes, weekdays) are the point here: run on the suite's fixed day.
pytestmark = pytest.mark.clock

API = "/api/v1"
PARIS = ZoneInfo("Europe/Paris")
PASSWORD = "correct horse battery"

# Reproducible in CI: the same examples on every run, nothing remembered between runs.
hammer = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_unique = itertools.count(1)

# --- what people and robots send ----------------------------------------------------


class Long(str):
    """A huge string that hypothesis reports in a few characters."""

    def __repr__(self) -> str:
        return f"{self[0]!r} * {len(self)}"


NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "Ana\x00Martin",
    "\x00" * 8,
    Long("a" * 100_000),
    Long("é" * 100_000),
    "שלום עולם",  # Hebrew, right to left
    "مرحبا بالعالم",  # Arabic
    "\u202egnp.exe\u202c",  # right-to-left override
    "🎉🎫 👩‍👩‍👧‍👦",  # emoji, a ZWJ family
    "e\u0301\u0301\u0301\u0301",  # a pile of combining accents
    "Z̸̢̛͓a̷l̶g̸o̵",
    "\ufeffAna",  # byte order mark
    "Ana\u2028Martin",  # line separator
    "\u3000",  # ideographic space: blank
    "\t",
    "a\r\nb",
    "\x1b[31mred",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "NaN",
    "-1",
    "1e309",
    str(10**30),
]
# Forms travel as UTF-8: lone surrogates cannot be sent there (the API gets them below).
_chars = st.characters(exclude_categories=("Cs",))
texts = st.one_of(st.sampled_from(NASTY_TEXT), st.text(_chars, max_size=40))

NUMBER_TEXT = [
    "-1",
    "0",
    "1",
    "2",
    "1.5",
    "-0",
    str(10**30),
    str(-(10**30)),
    "1e3",
    "NaN",
    "inf",
    "-inf",
    "",
    " 3 ",
    "٣",  # Arabic-Indic three
    "３",  # fullwidth three  # noqa: RUF001
    "0x10",
    "1_000",
    "2147483648",
    "\x00",
]
number_texts = st.one_of(
    st.sampled_from(NUMBER_TEXT),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    texts,
)

LOCAL_TIMES = [
    "2027-03-28T02:30",  # does not exist in Paris: the clocks go forward
    "2027-10-31T02:30",  # happens twice in Paris: the clocks go back
    "2027-03-28T03:00",
    "2027-10-31T03:00",
    "2027-02-29T10:00",
    "2027-13-01T10:00",
    "2027-06-31T10:00",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "2027-06-01T24:00",
    "2027-06-01 10:00",
    "2027-06-01T10:00:00+02:00",
    "2027-06-01",
    "10:00",
    "",
    "demain",
    "\x00",
]
local_times = st.one_of(
    st.sampled_from(LOCAL_TIMES),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    texts,
)
DAYS = [
    "2027-03-28",
    "2027-02-29",
    "2027-13-01",
    "0001-01-01",
    "9999-12-31",
    "14/05/2027",
    "2027-06-01T10:00",
    "2027-06-01T10:00+02:00",
    "2027-06-01T10:00Z",
    "0001-01-01T00:00+14:00",
    "9999-12-31T23:59-14:00",
    "",
    "\x00",
]
days = st.one_of(st.sampled_from(DAYS), st.dates().map(str), st.datetimes().map(str), texts)
TIMES_WITH_OFFSET = [
    "2027-03-28T02:30:00+01:00",
    "2027-10-31T02:30:00+02:00",
    "2027-10-31T02:30:00+01:00",
    "2027-06-01T10:00:00",  # no offset: refused
    "2027-06-01T10:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2027-02-30T10:00:00+01:00",
    "2027-06-01T10:00:00+25:00",
    "2027-06-01",
    "",
]

# JSON: the right type, or any other.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),  # lone surrogates included: JSON can carry them
    st.sampled_from(NASTY_TEXT),
)
json_any = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def mostly(good, bad):
    """Three times in four the good value: whole requests are then often accepted too,
    and what was stored can be compared with what was sent."""
    return st.integers(0, 3).flatmap(lambda n: bad if n == 0 else good)


def good_or_spoilt(good: dict, bad: dict):
    """A whole good form half the time, else the same form with one field spoilt: the
    accepting branch and each field's refusal both really run."""
    form = st.fixed_dictionaries(good)
    one_spoilt = st.tuples(form, st.sampled_from(sorted(bad))).flatmap(
        lambda drawn: bad[drawn[1]].map(lambda value: drawn[0] | {drawn[1]: value})
    )
    return st.one_of(form, one_spoilt)


def maybe(good, *others):
    """A JSON field's value: mostly a good one, else a bad one or any JSON at all."""
    return mostly(good, st.one_of(*others, json_any))


# Text a person may well type: it must be stored exactly (once stripped).
nice_texts = st.one_of(
    st.sampled_from(
        [
            "Zoë Ézéchiel",
            "שלום עולם",
            "مرحبا بالعالم",
            "李小龙",
            "🎉 Ana 🎫",
            "e\u0301 combining",
            "\u202eRTL override",
            "\ufeffAna",
            "  Ana Martin  ",
        ]
    ),
    st.text(_chars, min_size=1, max_size=30),
)


# --- helpers -----------------------------------------------------------------------

COUNTED = (Organisation, User, Venue, Event, Occurrence, Booking, OutboxMessage, AuditEntry)


def snapshot() -> dict:
    """What a refused request must leave as it was."""
    db.session.rollback()  # what the request's teardown would do; read afresh
    state = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in COUNTED
    }
    state["seats"] = db.session.scalar(
        select(func.coalesce(func.sum(Booking.seats), 0)).where(
            Booking.status.in_(["confirmed", "waitlisted", "pending"])
        )
    )
    state["capacities"] = tuple(
        db.session.execute(
            select(Occurrence.id, Occurrence.capacity, Occurrence.status).order_by(Occurrence.id)
        )
    )
    return state


def tally(label: str) -> None:
    """What the examples got, shown by ``pytest --hypothesis-show-statistics``."""
    with contextlib.suppress(InvalidArgument):  # outside an example
        event(label)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def json_or_raw(client, method, url, body, headers=None):
    """Send ``body`` as JSON, even what Flask's own encoder would refuse (surrogates)."""
    raw = json.dumps(body, ensure_ascii=True)
    response = client.open(
        url, method=method, data=raw, content_type="application/json", headers=headers or {}
    )
    tally(f"{method} {response.status_code}")
    return response


def assert_api_refusal(response, allowed=(422,)) -> None:
    assert response.status_code in allowed, (response.status_code, response.get_data()[:500])
    assert response.content_type == "application/json"
    body = response.get_json()
    assert isinstance(body.get("error"), str)
    if response.status_code == 422:
        assert isinstance(body.get("errors"), dict), body
        assert body["errors"], body


def unique_email() -> str:
    return f"person{next(_unique)}@example.org"


# --- the public booking form --------------------------------------------------------


def test_public_booking_form_refuses_cleanly_or_stores_exactly(client, make):
    occurrence = make.occurrence(capacity=100_000, max_seats_per_booking=1000)
    url = f"/events/{occurrence.event.slug}"
    occurrence_id = occurrence.id

    @hammer
    @given(
        name=mostly(nice_texts, texts),
        email=mostly(st.just("ok"), st.one_of(st.sampled_from(NASTY_TEXT), st.emails())),
        seats=mostly(st.integers(1, 5).map(str), number_texts),
        phone=mostly(st.sampled_from(["", "+33 6 12 34 56 78"]), texts),
        consent=mostly(st.just("y"), st.sampled_from(["", "n", "\x00", "on"])),
        chosen=mostly(st.just(str(occurrence_id)), number_texts),
        submission=mostly(st.just(""), texts),
    )
    def check(name, email, seats, phone, consent, chosen, submission):
        if email == "ok":
            email = unique_email()
        before = snapshot()
        data = {
            "occurrence": chosen,
            "name": name,
            "email": email,
            "seats": seats,
            "phone": phone,
            "submission": submission,
        }
        if consent:
            data["consent"] = consent
        response = client.post(url, data=data)
        assert response.status_code in (302, 303, 400, 422), response.status_code
        after = snapshot()
        if response.status_code != 302 or "/confirmation" not in response.location:
            assert after == before
            return
        token = response.location.split("/bookings/")[1].split("/")[0]
        booking = db.session.scalar(select(Booking).where(Booking.token == token))
        assert booking.name == name.strip()
        assert booking.phone == phone.strip()
        assert booking.seats == int(seats)
        assert after["Booking"] == before["Booking"] + 1

    check()


def test_public_booking_form_with_bytes_that_are_not_utf8(client, make):
    occurrence = make.occurrence(capacity=10)
    before = snapshot()
    body = (
        b"occurrence=" + str(occurrence.id).encode() + b"&name=%FF%FE%00&email=a%C0%AF%40b.org"
        b"&seats=%EF%BC%93&consent=y"
    )
    response = client.post(
        f"/events/{occurrence.event.slug}",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 422
    assert snapshot() == before


# --- the attendee's own page --------------------------------------------------------


def test_attendee_page_actions_never_half_done(client, make):
    from calendrier.domain import bookings as rules

    occurrence = make.occurrence(capacity=100, max_seats_per_booking=30)
    booking = rules.book(
        occurrence.id,
        rules.BookingRequest(name="Ana", email="ana@example.org", seats=30, consent=True),
    ).booking
    token, booking_id = booking.token, booking.id
    accepted = collections.Counter()

    @hammer
    @given(
        seats=mostly(st.integers(1, 29).map(str), number_texts),
        path_token=mostly(st.just(token), st.one_of(st.sampled_from(NASTY_TEXT[:12]), texts)),
        action=st.sampled_from(["seats", "seats", "cancel", "page", "ics", "confirmation"]),
    )
    @example(seats="12", path_token=token, action="seats")
    @example(seats=" 3 ", path_token=token, action="seats")
    def check(seats, path_token, action):
        before = snapshot()
        held = db.session.get(Booking, booking_id).seats
        quoted = path_token.replace("%", "%25").replace("/", "%2F").replace("?", "%3F")
        quoted = quoted.replace("#", "%23")
        if action == "seats":
            response = client.post(f"/bookings/{quoted}/seats", data={"seats": seats})
        elif action == "cancel":
            # only refusals here: the booking must stay for the other actions
            if path_token == token:
                quoted += "x"
            response = client.post(f"/bookings/{quoted}/cancel", data={"seats": seats})
        elif action == "page":
            response = client.get(f"/bookings/{quoted}")
        elif action == "ics":
            response = client.get(f"/bookings/{quoted}.ics")
        else:
            response = client.get(f"/bookings/{quoted}/confirmation")
        assert response.status_code in (200, 302, 400, 404, 405, 422), response.status_code
        changed = (
            action == "seats"
            and path_token == token
            and response.status_code == 302
            and not flashed_an_error(client)
        )
        if not changed:
            assert snapshot() == before
            return
        # a real change: exactly the places asked for, fewer than before
        accepted["seats"] += 1
        db.session.rollback()
        now_held = db.session.get(Booking, booking_id).seats
        assert now_held == int(seats.strip()) < held

    check()
    assert accepted["seats"] >= 3, accepted  # the change was really made and checked
    db.session.rollback()
    stored = db.session.get(Booking, booking_id)
    assert stored.status == "confirmed"


def test_a_path_naming_something_by_a_nul_byte_is_not_found(client, make):
    """PostgreSQL refuses NUL even in a lookup: the router answers before SQL is reached."""
    make.occurrence()
    for path in (
        "/bookings/%00",
        "/bookings/%00/confirmation",
        "/bookings/%00.ics",
        "/events/%00",
        "/events/a%00b.ics",
        "/venues/%00",
        "/venues/%00.ics",
        "/organisations/%00",
        "/organisations/%00.ics",
    ):
        assert client.get(path).status_code == 404, path
    for path in ("/bookings/%00/cancel", "/bookings/%00/seats", "/events/%00"):
        assert client.post(path, data={"seats": "1"}).status_code == 404, path


# --- the public API: booking ----------------------------------------------------------


def test_api_booking_body_refused_as_422_or_stored_exactly(client, make):
    occurrence = make.occurrence(capacity=100_000, max_seats_per_booking=1000)
    url = f"{API}/occurrences/{occurrence.id}/bookings"

    @hammer
    @given(
        name=maybe(nice_texts, texts),
        email=maybe(st.just("ok"), st.emails()),
        seats=maybe(
            st.integers(min_value=1, max_value=5), st.sampled_from([0, -1, 10**30, 1.0, 1.5, "2"])
        ),
        consent=maybe(st.just(True)),
        phone=maybe(st.just("+33 6 12 34 56 78"), texts),
        locale=maybe(st.sampled_from(["fr", "en"]), texts),
        drop=mostly(
            st.sets(st.sampled_from(["phone", "locale"])),
            st.sets(st.sampled_from(["name", "email", "seats", "consent", "phone", "locale"])),
        ),
        key=st.one_of(
            st.none(), st.sampled_from(["", "\x00", "é", "k" * 300]), st.uuids().map(str)
        ),
    )
    def check(name, email, seats, consent, phone, locale, drop, key):
        if email == "ok":
            email = unique_email()
        body = {"name": name, "email": email, "seats": seats, "consent": consent}
        body |= {"phone": phone, "locale": locale}
        for field in drop:
            body.pop(field)
        headers = {} if key is None else {"Idempotency-Key": key}
        before = snapshot()
        response = json_or_raw(client, "POST", url, body, headers)
        if response.status_code != 201:
            assert_api_refusal(response, (400, 409, 413, 422))
            assert snapshot() == before
            return
        created = response.get_json()
        booking = db.session.scalar(select(Booking).where(Booking.token == created["token"]))
        assert booking.name == name.strip()
        assert booking.seats == seats
        assert booking.phone == body.get("phone", "").strip()

    check()


def test_api_booking_body_that_is_not_an_object(client, make):
    occurrence = make.occurrence(capacity=10)
    url = f"{API}/occurrences/{occurrence.id}/bookings"

    @hammer
    @given(body=json_any)
    def check(body):
        before = snapshot()
        response = json_or_raw(client, "POST", url, body)
        assert_api_refusal(response, (400, 413, 422))
        assert snapshot() == before

    check()
    for raw in (b"{", b"\xff\xfe", b'{"name": "\\ud800"', b"\x00", b"[]" * 50_000):
        response = client.post(url, data=raw, content_type="application/json")
        assert_api_refusal(response, (400, 413, 422))


# --- the organiser API ------------------------------------------------------------------


def good_moment(days: int) -> str:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat()


moments = st.one_of(
    st.sampled_from(TIMES_WITH_OFFSET),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(min_value=20, max_value=400).map(good_moment),
)


def test_api_new_venue_refused_as_422_or_stored_exactly(client, make):
    token = issue_api_token(make.user())
    db.session.commit()

    @hammer
    @given(
        name=maybe(nice_texts, texts),
        address=maybe(nice_texts, texts),
        city=maybe(st.just("Valence"), texts),
        postcode=maybe(st.just("26000"), texts),
        access=maybe(texts),
        capacity=maybe(
            st.integers(min_value=1, max_value=500), st.sampled_from([0, -1, 10**30, 1.5])
        ),
        latitude=maybe(
            st.floats(min_value=-90, max_value=90), st.sampled_from([91, -1e308, "44.9"])
        ),
        longitude=maybe(st.floats(min_value=-180, max_value=180)),
        timezone=maybe(st.sampled_from(["Europe/Paris", "Mars/Olympus", "Etc/GMT+14", "UTC"])),
        slug=maybe(st.from_regex(r"\A[a-z0-9]{1,10}(-[a-z0-9]{1,5})?\Z"), texts),
        drop=st.sets(
            st.sampled_from(
                ["postcode", "access", "capacity", "latitude", "longitude", "timezone", "slug"]
            )
        ),
    )
    def check(drop, **body):
        for field in drop:
            body.pop(field)
        before = snapshot()
        response = json_or_raw(client, "POST", f"{API}/venues", body, bearer(token))
        if response.status_code != 201:
            assert_api_refusal(response, (413, 422))
            assert snapshot() == before
            return
        venue = db.session.scalar(select(Venue).where(Venue.slug == response.get_json()["slug"]))
        for field in ("name", "address", "city", "postcode", "access"):
            if field in body:
                assert getattr(venue, field) == (body[field] or "").strip(), field
        for field in ("capacity", "latitude", "longitude"):
            if field in body:
                assert getattr(venue, field) == body[field], field

    check()


def test_api_new_event_refused_as_422_or_stored_exactly(client, make):
    user = make.user()
    festival = make.event(kind="festival", organisation=user.organisation)
    token = issue_api_token(user)
    db.session.commit()
    festival_slug = festival.slug

    @hammer
    @given(
        title=maybe(nice_texts, texts),
        kind=maybe(
            st.sampled_from(["festival", "visit", "screening", "training", "talk", "workshop"]),
            texts,
        ),
        description=maybe(nice_texts, texts),
        summary=maybe(nice_texts, texts),
        parent=maybe(st.just(festival_slug), st.just("no-such-festival"), texts),
        status=maybe(st.sampled_from(["draft", "published"]), texts),
        organisation=maybe(st.just(user.organisation.slug), texts),
        drop=st.sets(
            st.sampled_from(["description", "summary", "parent", "status", "organisation"])
        ),
    )
    def check(drop, **body):
        for field in drop:
            body.pop(field)
        before = snapshot()
        response = json_or_raw(client, "POST", f"{API}/events", body, bearer(token))
        if response.status_code != 201:
            assert_api_refusal(response, (403, 413, 422))
            assert snapshot() == before
            return
        event = db.session.scalar(select(Event).where(Event.slug == response.get_json()["slug"]))
        assert event.title == body["title"].strip()
        assert event.summary == (body.get("summary") or "").strip()
        assert event.description == (body.get("description") or "").strip()

    check()


def test_api_new_occurrence_refused_as_422_or_stored_exactly(client, make):
    user = make.user()
    event = make.event(organisation=user.organisation)
    venue = make.venue(capacity=None)
    token = issue_api_token(user)
    db.session.commit()
    url = f"{API}/events/{event.slug}/occurrences"

    @hammer
    @given(
        starts_at=maybe(moments),
        ends_at=maybe(moments),
        venue=maybe(st.just(venue.slug), texts),
        capacity=maybe(st.integers(min_value=0, max_value=200), st.sampled_from([-1, 10**30, 2.0])),
        waitlist=maybe(st.booleans()),
        requires_approval=maybe(st.booleans()),
        max_seats_per_booking=maybe(st.integers(min_value=-1, max_value=2000)),
        booking_opens_at=maybe(moments),
        booking_closes_at=maybe(moments),
        cancellation_deadline_hours=maybe(st.integers(min_value=-1, max_value=10_000)),
        drop=st.sets(
            st.sampled_from(
                [
                    "waitlist",
                    "requires_approval",
                    "max_seats_per_booking",
                    "booking_opens_at",
                    "booking_closes_at",
                    "cancellation_deadline_hours",
                ]
            )
        ),
    )
    def check(drop, **body):
        for field in drop:
            body.pop(field)
        before = snapshot()
        response = json_or_raw(client, "POST", url, body, bearer(token))
        if response.status_code != 201:
            assert_api_refusal(response, (413, 422))
            assert snapshot() == before
            return
        from datetime import datetime

        stored = db.session.get(Occurrence, response.get_json()["id"])
        assert stored.starts_at == datetime.fromisoformat(body["starts_at"])
        assert stored.ends_at == datetime.fromisoformat(body["ends_at"])
        assert stored.capacity == body["capacity"]

    check()
    # the clock changes, said with an offset: one instant each, taken as said
    for starts in ("2027-03-28T03:30:00+02:00", "2027-10-31T02:30:00+01:00"):
        body = {
            "starts_at": starts,
            "ends_at": "2027-11-01T10:00:00+01:00",
            "venue": venue.slug,
            "capacity": 5,
        }
        assert json_or_raw(client, "POST", url, body, bearer(token)).status_code == 201


def test_api_patch_occurrence_all_or_nothing(client, make):
    from calendrier.domain import bookings as rules

    user = make.user()
    occurrence = make.occurrence(
        capacity=10, waitlist=True, event=make.event(organisation=user.organisation)
    )
    for n in range(3):
        rules.book(
            occurrence.id,
            rules.BookingRequest(name=f"P{n}", email=f"p{n}@example.org", seats=2, consent=True),
        )
    token = issue_api_token(user)
    db.session.commit()
    url = f"{API}/occurrences/{occurrence.id}"
    venue_slug = occurrence.venue.slug

    @hammer
    @given(
        body=st.fixed_dictionaries(
            {},
            optional={
                "capacity": maybe(st.integers(min_value=-5, max_value=30), st.just(10**30)),
                "starts_at": maybe(moments),
                "ends_at": maybe(moments),
                "venue": maybe(st.just(venue_slug), texts),
                "status": maybe(st.sampled_from(["scheduled", "cancelled"]), texts),
                "cancel_reason": maybe(texts),
                "waitlist": maybe(st.booleans()),
                "max_seats_per_booking": maybe(st.integers(min_value=-1, max_value=10)),
                "booking_opens_at": maybe(moments),
                "cancellation_deadline_hours": maybe(st.integers(min_value=-1, max_value=10_000)),
                "unknown": json_any,
            },
        )
    )
    def check(body):
        before = snapshot()
        response = json_or_raw(client, "PATCH", url, body, bearer(token))
        if response.status_code != 200:
            assert_api_refusal(response, (409, 413, 422))
            assert snapshot() == before
            return
        db.session.rollback()
        stored = db.session.get(Occurrence, occurrence.id)
        if "capacity" in body:
            assert stored.capacity == body["capacity"]
        if "status" in body:
            assert stored.status == body["status"]

    check()


# --- filters in query strings -------------------------------------------------------------

filter_values = st.one_of(days, texts, number_texts)
queries = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "from",
                "to",
                "kind",
                "venue",
                "organisation",
                "q",
                "page",
                "per_page",
                "available",
                "occurrence",
                "lang",
            ]
        ),
        st.one_of(filter_values, st.sampled_from(["visit", "festival", "1", "true", "en"])),
    ),
    max_size=5,
)


def test_filters_never_fail(client, make):
    occurrence = make.occurrence()
    make.occurrence(event=occurrence.event, venue=occurrence.venue)

    @hammer
    @given(
        path=st.sampled_from(
            [
                "/events",
                "/calendar",
                "/calendar.ics",
                "/calendar/week",
                "/",
                f"{API}/events",
                f"{API}/occurrences",
                f"{API}/venues",
            ]
        ),
        query=queries,
    )
    def check(path, query):
        response = client.get(path + "?" + urlencode(query))
        if path.startswith(API):
            if response.status_code != 200:
                assert_api_refusal(response, (400, 422))
        else:
            assert response.status_code in (200, 400, 404, 422), response.status_code

    check()


def test_calendar_paths_never_fail(client, make):
    make.occurrence()

    @hammer
    @given(
        year=st.one_of(
            st.integers(min_value=0, max_value=10**12), st.sampled_from([1, 9999, 10000])
        ),
        month=st.one_of(st.integers(min_value=0, max_value=10**6), st.just(12)),
        day=st.one_of(days, texts),
    )
    def check(year, month, day):
        assert client.get(f"/calendar/{year}/{month}").status_code in (200, 404)
        quoted = day.replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
        assert client.get(f"/calendar/week/{quoted}").status_code in (200, 301, 302, 308, 404)

    check()


# --- the organiser area ------------------------------------------------------------------

FORM_ANSWERS = (200, 302, 303, 400, 403, 404, 422)
flags = st.sampled_from(["", "y", "1", "on", "\x00", "n"])


def flashed_an_error(client) -> bool:
    """Whether the answer flashed an error (and forget the flashes, as the next page would)."""
    with client.session_transaction() as session:
        flashes = session.pop("_flashes", [])
    return any(category == "error" for category, _message in flashes)


def post_form(client, url, data, accepted_check=None, accepted=None, *, key=None):
    """POST a form; a refusal leaves everything as it was, an acceptance is checked.

    An acceptance is a redirect that flashed no error: some forms answer a refusal with
    a redirect and an error message. ``accepted`` (a Counter) counts the acceptances by
    ``key`` (default: ``url``), so that a test can assert a floor: its ``accepted_check``
    really ran, often enough not to be a check that cannot fail.
    """
    data = {name: value for name, value in data.items() if value is not None}
    before = snapshot()
    response = client.post(url, data=data)
    assert response.status_code in FORM_ANSWERS, response.status_code
    refused = response.status_code not in (302, 303) or flashed_an_error(client)
    tally(f"{url.split('/')[-1]} {'refused' if refused else 'accepted'}")
    if refused:
        assert snapshot() == before
        return response
    if accepted is not None:
        accepted[key or url] += 1
    if accepted_check is not None:
        db.session.rollback()
        accepted_check(data, response)
    return response


def test_login_form(client, make):
    make.user()

    @hammer
    @given(email=st.one_of(texts, st.emails()), password=texts)
    def check(email, password):
        before = snapshot()
        response = client.post("/manage/login", data={"email": email, "password": password})
        assert response.status_code in (200, 400, 401, 422)
        assert snapshot() == before
        response = client.post("/manage/reset", data={"email": email})
        assert response.status_code in (200, 302, 400, 422)

    check()


def test_event_form(client, make):
    organiser = make.user()
    festival = make.event(kind="festival", organisation=organiser.organisation)
    event = make.event(organisation=organiser.organisation)
    log_in(client, organiser)

    def stored_as_typed(data, response):
        found = db.session.scalar(select(Event).where(Event.title == data["title"].strip()))
        assert found is not None
        assert found.summary == data.get("summary", "").strip()
        assert found.description == data.get("description", "").strip()

    accepted = collections.Counter()
    new, edit = "/manage/events/new", f"/manage/events/{event.id}/edit"
    valid = {"kind": "talk", "parent": "", "status": "draft", "shift_days": "7"}

    @hammer
    @given(
        title=mostly(nice_texts, texts),
        kind=mostly(st.sampled_from(["visit", "festival", "talk"]), texts),
        parent=mostly(st.sampled_from(["", festival.slug]), texts),
        summary=mostly(nice_texts, texts),
        description=mostly(nice_texts, texts),
        status=mostly(st.sampled_from(["published", "draft"]), texts),
        shift_days=mostly(st.integers(-400, 400).map(str), number_texts),
        url=st.sampled_from(["new", "edit", "duplicate"]),
    )
    @example(url="new", title="Ciné-concert 🎹", summary="Court", description="Long", **valid)
    @example(url="edit", title="  Zoë Ézéchiel  ", summary="", description="שלום", **valid)
    def check(url, shift_days, **data):
        if url == "new":
            post_form(client, new, data, stored_as_typed, accepted)
        elif url == "edit":
            post_form(client, edit, data, stored_as_typed, accepted)
        else:
            form = {"title": data["title"], "shift_days": shift_days, "with_occurrences": "y"}
            post_form(client, f"/manage/events/{event.id}/duplicate", form)

    check()
    assert accepted[new] and accepted[edit], accepted  # stored_as_typed really ran


def test_occurrence_forms_with_local_times(client, make):
    from zoneinfo import ZoneInfo

    from calendrier.timeutil import localize

    organiser = make.user()
    occurrence = make.occurrence(capacity=10, event=make.event(organisation=organiser.organisation))
    event_id, venue_slug = occurrence.event.id, occurrence.venue.slug
    log_in(client, organiser)
    paris = ZoneInfo("Europe/Paris")

    occurrence_id = occurrence.id

    def stored_as_typed(data, response):
        starts = localize(datetime.fromisoformat(data["starts_at"]), paris)
        assert db.session.scalar(
            select(func.count()).select_from(Occurrence).where(Occurrence.starts_at == starts)
        )

    def edited_as_typed(data, response):
        edited = db.session.get(Occurrence, occurrence_id)
        assert edited.starts_at == localize(datetime.fromisoformat(data["starts_at"]), paris)
        assert edited.ends_at == localize(datetime.fromisoformat(data["ends_at"]), paris)
        assert edited.capacity == int(data["capacity"])

    accepted = collections.Counter()
    new = f"/manage/events/{event_id}/occurrences/new"
    valid = {
        "booking_opens_at": "",
        "booking_closes_at": "",
        "venue": venue_slug,
        "capacity": "10",
        "max_seats_per_booking": "4",
        "cancellation_deadline_hours": "0",
        "waitlist": "y",
        "requires_approval": "",
    }

    good_start = st.tuples(
        st.dates(min_value=date(2026, 3, 1), max_value=date(2027, 12, 31)),
        st.sampled_from(["09:00", "14:30", "17:30", "23:30"]),
    ).map(lambda day_time: f"{day_time[0]}T{day_time[1]}")
    good = {
        "starts_at": good_start,
        "ends_at": st.just("+90"),  # filled in below: 90 minutes after the start
        "booking_opens_at": st.just(""),
        "booking_closes_at": st.just(""),
        "venue": st.just(venue_slug),
        "capacity": st.integers(1, 50).map(str),
        "max_seats_per_booking": st.integers(1, 6).map(str),
        "cancellation_deadline_hours": st.integers(0, 48).map(str),
        "waitlist": st.sampled_from(["", "y"]),
        "requires_approval": st.sampled_from(["", "y"]),
    }
    bad = {
        "starts_at": local_times,
        "ends_at": local_times,
        "booking_opens_at": local_times,
        "booking_closes_at": local_times,
        "venue": texts,
        "capacity": number_texts,
        "max_seats_per_booking": number_texts,
        "cancellation_deadline_hours": number_texts,
        "waitlist": flags,
        "requires_approval": flags,
    }

    @hammer
    @given(form=good_or_spoilt(good, bad), edit=st.booleans())
    # one date in summer time, one in winter time: both stored at the right instant
    @example(edit=False, form={"starts_at": "2027-06-04T17:30", "ends_at": "2027-06-04T19:00"})
    @example(edit=False, form={"starts_at": "2027-12-03T17:30", "ends_at": "2027-12-03T19:00"})
    @example(edit=True, form={"starts_at": "2027-10-29T17:30", "ends_at": "2027-10-29T19:00"})
    def check(form, edit):
        data = valid | form
        if data["ends_at"] == "+90":
            try:
                ends = datetime.fromisoformat(data["starts_at"]) + timedelta(minutes=90)
                data["ends_at"] = f"{ends:%Y-%m-%dT%H:%M}"
            except (ValueError, OverflowError, TypeError):  # a spoilt start: any end will do
                data["ends_at"] = "2027-06-04T19:00"
        if edit:
            url = f"/manage/occurrences/{occurrence_id}/edit"
            post_form(client, url, data, edited_as_typed, accepted, key="edit")
        else:
            post_form(client, new, data, stored_as_typed, accepted, key="new")

    check()
    # stored_as_typed and edited_as_typed really ran, often enough to mean something
    assert accepted["new"] >= 5 and accepted["edit"] >= 3, accepted


def test_recurrence_and_capacity_forms(client, make):
    organiser = make.user()
    occurrence = make.occurrence(capacity=10, event=make.event(organisation=organiser.organisation))
    event_id, venue_slug, occurrence_id = occurrence.event.id, occurrence.venue.slug, occurrence.id
    log_in(client, organiser)
    accepted = collections.Counter()
    recurring = f"/manage/events/{event_id}/occurrences/recurring"
    capacity_url = f"/manage/occurrences/{occurrence_id}/capacity"

    known: set[int] = set()

    def dates_made(data, response):
        # each date added is at the local time typed, on one of the days chosen, in the
        # period; the period then holds such a date (added now, or by the same rule before)
        days_chosen = {int(d) for d in data["weekdays"]}
        period = (data["first_day"], data["last_day"])

        def fits(starts):
            return (
                f"{starts:%H:%M}" == data["start_time"]
                and starts.weekday() in days_chosen
                and period[0] <= f"{starts:%Y-%m-%d}" <= period[1]
            )

        every = {
            o.id: o.starts_at.astimezone(PARIS)
            for o in db.session.scalars(select(Occurrence).where(Occurrence.id != occurrence_id))
        }
        assert all(fits(starts) for i, starts in every.items() if i not in known), data
        assert any(fits(starts) for starts in every.values()), data

    def capacity_stored(data, response):
        stored = db.session.get(Occurrence, occurrence_id).capacity
        assert stored == int(data["capacity"].strip())

    good = {
        "weekdays": st.lists(st.integers(0, 6).map(str), min_size=1, max_size=3, unique=True),
        "every_weeks": st.integers(1, 3).map(str),
        "start_time": st.sampled_from(["09:00", "10:30", "17:30"]),
        "end_time": st.just("20:00"),
        # from a Monday, across a clock change or not
        "first_day": st.sampled_from(["2027-03-22", "2027-10-25", "2026-06-01"]),
        "except_dates": st.sampled_from(["", "28/03/2027", "02/06/2026"]),
        "booking_opens_days_before": st.sampled_from(["", "0", "7"]),
        "capacity": st.integers(1, 50).map(str),
        "venue": st.just(venue_slug),
    }
    bad = {
        "weekdays": st.lists(st.one_of(st.integers(-1, 8).map(str), number_texts), max_size=3),
        "every_weeks": number_texts,
        "start_time": st.one_of(st.sampled_from(["02:30", "25:00", "10:61"]), texts),
        "end_time": st.one_of(st.sampled_from(["03:30", "00:00"]), texts),
        "first_day": days,
        "except_dates": st.one_of(
            st.sampled_from(["31/02/2027", "2027-3-28, 99/99/9999"]), days, texts
        ),
        "booking_opens_days_before": number_texts,
        "capacity": number_texts,
        "venue": texts,
    }

    @hammer
    @given(
        rule=st.fixed_dictionaries(good),
        spoilt=st.one_of(st.none(), st.sampled_from(sorted(bad))),
        data=st.data(),
        weeks=st.integers(1, 3),
    )
    def check(rule, spoilt, data, weeks):
        """Half the time a whole good rule, else one field spoilt: both sides really run."""
        from datetime import date

        if spoilt:
            rule[spoilt] = data.draw(bad[spoilt], label=spoilt)
        try:
            last_day = str(date.fromisoformat(rule["first_day"]) + timedelta(weeks=weeks))
        except (ValueError, OverflowError):
            last_day = rule["first_day"]
        form = rule | {
            "last_day": last_day,
            "max_seats_per_booking": "4",
            "cancellation_deadline_hours": "0",
        }
        db.session.rollback()
        known.clear()
        known.update(db.session.scalars(select(Occurrence.id)))
        post_form(client, recurring, form, dates_made, accepted, key="recurring")
        capacity = {"capacity": rule["capacity"]}
        post_form(client, capacity_url, capacity, capacity_stored, accepted, key="capacity")

    check()
    # both acceptances really ran their checks, often enough to mean something
    assert accepted["recurring"] >= 5 and accepted["capacity"] >= 5, accepted


def test_booking_by_hand_message_and_cancel_forms(client, make):
    from calendrier.domain import bookings as rules

    organiser = make.user()
    occurrence = make.occurrence(
        capacity=1000,
        max_seats_per_booking=1000,
        event=make.event(organisation=organiser.organisation),
    )
    booking = rules.book(
        occurrence.id,
        rules.BookingRequest(name="Ana", email="ana@example.org", seats=2, consent=True),
    ).booking
    occurrence_id, reference = occurrence.id, booking.reference
    log_in(client, organiser)

    accepted = collections.Counter()
    by_hand = f"/manage/occurrences/{occurrence_id}/bookings/new"

    def stored_as_typed(data, response):
        found = db.session.scalar(
            select(Booking).where(Booking.email == data["email"].strip().lower())
        )
        assert found is not None and found.source == "manage"
        assert found.name == data["name"].strip()
        assert found.phone == data.get("phone", "").strip()

    @hammer
    @given(
        name=mostly(nice_texts, texts),
        email=mostly(st.just("ok"), st.one_of(st.emails(), texts)),
        phone=mostly(st.sampled_from(["", "06 12 34 56 78", "+33 4 75 00 00 00"]), texts),
        seats=mostly(st.integers(1, 6).map(str), number_texts),
        consent=flags,
        override_capacity=flags,
        locale=mostly(st.sampled_from(["fr", "en"]), texts),
        message=texts,
        statuses=st.lists(st.one_of(st.sampled_from(["confirmed", "pending"]), texts), max_size=2),
        reason=texts,
        action=st.sampled_from(["book", "message", "cancel-refused", "check-in"]),
    )
    @example(
        action="book",
        name="  Zoë Ézéchiel  ",
        email="ok",
        phone="+33 4 75 00 00 00",
        seats="3",
        consent="y",
        override_capacity="",
        locale="en",
        message="",
        statuses=[],
        reason="",
    )
    def check(action, message, statuses, reason, **data):
        if data["email"] == "ok":
            data["email"] = unique_email()
        if action == "book":
            post_form(client, by_hand, data, stored_as_typed, accepted)
        elif action == "message":
            before = snapshot()
            response = client.post(
                f"/manage/occurrences/{occurrence_id}/message",
                data={"message": message, "statuses": statuses},
            )
            assert response.status_code in FORM_ANSWERS
            if response.status_code not in (302, 303):
                assert snapshot() == before
        elif action == "cancel-refused":
            post_form(client, f"/manage/occurrences/{occurrence_id}/cancel", {"reason": reason})
            quoted = (
                reason.replace("%", "%25")
                .replace("/", "%2F")
                .replace("?", "%3F")
                .replace("#", "%23")
            )
            post_form(client, f"/manage/bookings/{quoted or 'x'}/cancel", {"reason": reason})
        else:
            client.post(f"/manage/bookings/{reference}/check-in", data={"undo": reason})

    check()
    assert accepted[by_hand], accepted  # stored_as_typed really ran
    # the real cancellations, with the nastiest reason, at the end
    for url in (f"/manage/bookings/{reference}/cancel",):
        response = client.post(url, data={"reason": "Désolé 🎫\x00" + "x" * 100_000})
        assert response.status_code in (302, 303, 422)


def test_a_nul_byte_in_what_organisers_write_to_attendees_is_a_form_error(client, make):
    """PostgreSQL refuses NUL in text: the cancellation reason and the message say so."""
    from calendrier.domain import bookings as rules

    organiser = make.user()
    occurrence = make.occurrence(event=make.event(organisation=organiser.organisation))
    booking = rules.book(
        occurrence.id,
        rules.BookingRequest(name="Ana", email="ana@example.org", seats=2, consent=True),
    ).booking
    log_in(client, organiser)
    before = snapshot()

    response = client.post(
        f"/manage/occurrences/{occurrence.id}/message",
        data={"message": "Rendez-vous\x00 à 9 h", "statuses": ["confirmed"]},
    )
    assert response.status_code == 200
    assert "caractères non autorisés" in response.get_data(as_text=True)
    assert snapshot() == before

    response = client.post(
        f"/manage/bookings/{booking.reference}/cancel",
        data={"reason": "Complet\x00"},
        follow_redirects=True,
    )
    assert "caractères non autorisés" in response.get_data(as_text=True)
    assert snapshot() == before
    db.session.refresh(booking)
    assert booking.status == "confirmed"


def test_admin_forms(client, make):
    admin = make.user(is_admin=True, organisation=None)
    organisation = make.organisation()
    venue = make.venue()
    venue_id, organisation_id = venue.id, organisation.id
    log_in(client, admin)
    accepted = collections.Counter()
    names = st.text(st.characters(categories=("L", "N", "Zs")), min_size=1, max_size=30).filter(
        str.strip
    )

    def venue_stored(data, response, venue_id=None):
        query = select(Venue).where(Venue.name == data["name"].strip())
        if venue_id is not None:
            query = query.where(Venue.id == venue_id)
        stored = db.session.scalars(query).first()
        assert stored is not None, data
        assert stored.city == data["city"].strip()
        assert stored.capacity == (int(data["capacity"]) if data["capacity"].strip() else None)

    def organisation_stored(data, response, organisation_id=None):
        query = select(Organisation).where(Organisation.name == data["name"].strip())
        if organisation_id is not None:
            query = query.where(Organisation.id == organisation_id)
        stored = db.session.scalars(query).first()
        assert stored is not None, data
        assert (stored.email or "").lower() == data["email"].strip().lower()
        if data["slug"]:
            assert stored.slug == data["slug"]

    def user_stored(data, response):
        stored = db.session.scalar(select(User).where(User.email == data["email"].lower()))
        assert stored is not None, data
        assert stored.name == data["name"].strip()
        assert stored.organisation_id == int(data["organisation_id"])

    venue_form = good_or_spoilt(
        {
            "name": names,
            "address": st.just("1 rue de Chabeuil"),
            "postcode": st.just("26500"),
            "city": names,
            "access": st.sampled_from(["", "Ascenseur"]),
            "capacity": st.one_of(st.just(""), st.integers(1, 500).map(str)),
            "latitude": st.just("44.9"),
            "longitude": st.just("4.89"),
            "organisation_id": st.just(str(organisation_id)),
        },
        {
            "name": texts,
            "city": texts,
            "postcode": texts,
            "access": texts,
            "capacity": number_texts,
            "latitude": number_texts,
            "organisation_id": number_texts,
        },
    )
    organisation_form = good_or_spoilt(
        {
            "name": names,
            "slug": st.one_of(st.just(""), st.from_regex(r"\A[a-z]{3,8}\Z")),
            "description": st.just("Studio"),
            "website": st.just("https://studio.example.org"),
            "email": st.sampled_from(["", "contact@studio.example.org"]),
        },
        {"name": texts, "slug": texts, "description": texts, "website": texts, "email": texts},
    )
    user_form = good_or_spoilt(
        {
            "email": st.from_regex(r"\A[a-z]{3,10}@example\.org\Z"),
            "name": names,
            "organisation_id": st.just(str(organisation_id)),
            "is_admin": st.just(""),
            "active": st.just("y"),
            "locale": st.sampled_from(["fr", "en"]),
        },
        {
            "email": st.one_of(st.emails(), texts),
            "name": texts,
            "organisation_id": number_texts,
            "locale": texts,
        },
    )

    @hammer
    @given(
        form=st.sampled_from(["venue", "venue-edit", "organisation", "organisation-edit", "user"]),
        venue_data=venue_form,
        org_data=organisation_form,
        user_data=user_form,
    )
    def check(form, venue_data, org_data, user_data):
        target = {
            "venue": ("/manage/venues/new", venue_data, venue_stored),
            "venue-edit": (
                f"/manage/venues/{venue_id}/edit",
                venue_data,
                functools.partial(venue_stored, venue_id=venue_id),
            ),
            "organisation": ("/manage/organisations/new", org_data, organisation_stored),
            "organisation-edit": (
                f"/manage/organisations/{organisation_id}/edit",
                org_data,
                functools.partial(organisation_stored, organisation_id=organisation_id),
            ),
            "user": ("/manage/users/new", user_data, user_stored),
        }
        url, data, stored = target[form]
        post_form(client, url, data, stored, accepted, key=form)

    check()
    # every form's accepting branch, and its check, really ran
    assert set(accepted) == {"venue", "venue-edit", "organisation", "organisation-edit", "user"}
    assert min(accepted.values()) >= 1, accepted


def test_ics_import_of_garbage(client, make):
    import io

    organiser = make.user()
    log_in(client, organiser)

    ics_like = st.one_of(
        st.binary(max_size=2000),
        st.sampled_from(
            [
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20270328T023000\r\nSUMMARY:\x00\r\n"
                b"END:VEVENT\r\nEND:VCALENDAR\r\n",
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Europe/Paris:"
                b"20271031T023000\r\nDTEND:99999999T999999\r\nSUMMARY:Nuit\r\n"
                b"END:VEVENT\r\nEND:VCALENDAR\r\n",
                b"BEGIN:VCALENDAR\r\n" * 1000,
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:שלום 🎉\r\nEND:VEVENT\r\n".encode(),
                b"\xff\xfe\x00B\x00E\x00G\x00I\x00N",
            ]
        ),
        st.text(max_size=500).map(
            lambda t: ("BEGIN:VCALENDAR\r\n" + t + "\r\nEND:VCALENDAR").encode("utf-8", "replace")
        ),
    )

    @hammer
    @given(body=ics_like, capacity=number_texts, kind=st.one_of(st.just("talk"), texts))
    def check(body, capacity, kind):
        response = client.post(
            "/manage/import",
            data={
                "file": (io.BytesIO(body), "agenda.ics"),
                "capacity": capacity,
                "kind": kind,
                "venue": "0",
            },
            content_type="multipart/form-data",
        )
        assert response.status_code in (200, 400, 413, 422)

    check()
