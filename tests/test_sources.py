"""A network of agendas: two real app instances on loopback following each other's feed,
over HTTP, each with its own database; and sources that fail or return garbage."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from flask_babel import force_locale
from sqlalchemy import create_engine, func, make_url, select, text

from calendrier.domain import calendars, catalogue, sources
from calendrier.extensions import db
from calendrier.models import Booking, Event, Occurrence, Source, Venue
from calendrier.timeutil import utcnow

from .conftest import PG_URL
from .servers import AppServer, app_env, flask_command, free_port, post_form, request

# --- two instances -----------------------------------------------------------------------


def _database(tmp_path, name: str) -> str:
    if not PG_URL:
        return f"sqlite:///{tmp_path / name}.db"
    url = make_url(PG_URL)
    database = f"{url.database}_{name}_{threading.get_ident() % 100000}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return url.set(database=database).render_as_string(hide_password=False)


def _drop(uri: str) -> None:
    if not uri.startswith("postgresql"):
        return
    url = make_url(uri)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": url.database},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}"'))
    admin.dispose()


class Instance:
    """One calendrier: its database, its gunicorn, an admin's API token and logged-in cookie."""

    def __init__(self, tmp_path, name: str):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.uri = _database(tmp_path, name)
        self.env = app_env(self.uri, PUBLIC_URL=self.url)
        self.tmp_path = tmp_path
        self.server: AppServer | None = None

    def start(self) -> Instance:
        """The set-up commands, then the server: run for both instances side by side."""
        email = f"admin@{self.name}.example.org"
        flask_command(self.env, "db", "upgrade")
        flask_command(self.env, "orgs", "create", f"studio-{self.name}", "--name", "Studio")
        flask_command(self.env, "orgs", "create", "network", "--name", "Le réseau")
        created = flask_command(
            self.env, "users", "create", email, "--organisation", f"studio-{self.name}", "--admin"
        )
        password = created.split("password (shown once): ", 1)[1].split()[0]
        self.token = flask_command(self.env, "users", "token", email).strip().splitlines()[-1]
        self.server = AppServer(
            self.env, self.tmp_path / f"{self.name}.log", port=self.port, workers=1
        )
        self.server.wait_ready()
        status, headers, _ = post_form(
            self.port, "/manage/login", {"email": email, "password": password}
        )
        assert status == 302, status
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]
        return self

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        status, _headers, raw = request(
            self.port,
            method,
            "/api/v1" + path,
            body=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        return status, json.loads(raw or b"{}")

    def event_with_dates(
        self, title: str, *days: int, kind: str = "screening", **english: str
    ) -> list[int]:
        status, venue = self.api(
            "POST", "/venues", {"name": f"Salle {title}", "address": "1 rue", "city": "Valence"}
        )
        assert status == 201, venue
        status, event = self.api(
            "POST",
            "/events",
            {"title": title, "kind": kind, "description": f"À propos de {title}.", **english},
        )
        assert status == 201, event
        return [self.add_date(event["slug"], venue["slug"], day) for day in days]

    def add_date(self, event: str, venue: str, day: int) -> int:
        start = (utcnow() + timedelta(days=day)).replace(microsecond=0)
        status, occurrence = self.api(
            "POST",
            f"/events/{event}/occurrences",
            {
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "venue": venue,
                "capacity": 50,
            },
        )
        assert status == 201, occurrence
        return occurrence["id"]

    def page(self, path: str) -> str:
        status, _headers, raw = request(self.port, "GET", path)
        assert status == 200, (path, status)
        return raw.decode()

    def event(self, slug: str) -> dict:
        status, _headers, raw = request(self.port, "GET", f"/api/v1/events/{slug}")
        assert status == 200, (slug, status)
        return json.loads(raw)

    def manage(self, path: str, data: dict | None = None) -> str:
        """The organiser area, as the logged-in admin (POST when there is data)."""
        headers = {"Cookie": self.cookie}
        if data is None:
            status, _headers, raw = request(self.port, "GET", path, headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(data).encode()
            status, _headers, raw = request(self.port, "POST", path, body=body, headers=headers)
        assert status in (200, 303), (status, raw[:2000])
        return raw.decode()

    def follow(self, other: Instance) -> None:
        data = {"url": f"{other.url}/calendar.ics", "organisation": "network", "kind": ""}
        self.manage("/manage/sources", data)

    def sync(self) -> str:
        """The admin's "Sync now", then the sources page it reports on."""
        self.manage("/manage/sources/sync", {})
        return self.manage("/manage/sources")

    def events(self) -> list[dict]:
        status, _headers, raw = request(self.port, "GET", "/api/v1/events?per_page=100")
        assert status == 200
        data = json.loads(raw)
        return sorted(
            data["items"] if isinstance(data, dict) else data,
            key=lambda e: (e["title"], e["occurrences"][0]["starts_at"]),
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        _drop(self.uri)


@pytest.fixture
def two_agendas(tmp_path):
    a, b = Instance(tmp_path, "a"), Instance(tmp_path, "b")
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Instance.start, (a, b)))
        yield a, b
    finally:
        a.stop()
        b.stop()


def _titles(events: list[dict]) -> list[str]:
    return [e["title"] for e in events]


def _starts(event: dict) -> list[tuple[datetime, str]]:
    return [(datetime.fromisoformat(o["starts_at"]), o["status"]) for o in event["occurrences"]]


def test_two_agendas_follow_each_other_over_http(two_agendas):
    a, b = two_agendas
    a.event_with_dates("Courts métrages du studio A", 5, 12, 19)
    moved = b.event_with_dates("Visite du studio B", 3, title_en="Studio B tour")
    cancelled = b.event_with_dates("Projection annulée", 4)
    a.follow(b)
    b.follow(a)
    for _round in range(3):  # each sees the other's, and never its own coming back
        for instance in (a, b):
            page = instance.sync()
            assert "En échec" not in page, page

    # calendrier's feeds give one VEVENT per date: the follower makes them one event again.
    expected = ["Courts métrages du studio A", "Projection annulée", "Visite du studio B"]
    seen_by_a, seen_by_b = a.events(), b.events()
    assert _titles(seen_by_b) == expected
    assert _titles(seen_by_a) == expected
    original = seen_by_a[0]
    [copy] = [e for e in seen_by_b if e["title"] == original["title"]]
    assert copy["organisation"] == "network"
    assert copy["source_url"] == f"{a.url}/calendar.ics"
    assert copy["external_url"] == f"{a.url}/events/{original['slug']}"
    assert copy["description"] == original["description"]  # not the dates' booking links
    detail = b.event(copy["slug"])
    assert len(detail["occurrences"]) == 3
    assert _starts(detail) == _starts(original)
    assert {o["capacity"] for o in detail["occurrences"]} == {0}  # booked at the source
    # B's list shows the three dates, each leading to the one event.
    cards = re.findall(r'href="/events/([^"?]+)\?occurrence=\d+"[^>]*>([^<]+)<', b.page("/events"))
    assert [slug for slug, title in cards if title == original["title"]] == [copy["slug"]] * 3

    by_title = {e["title"]: e for e in seen_by_a}
    followed = by_title["Visite du studio B"]
    assert followed["organisation"] == "network"
    assert followed["source_url"] == f"{b.url}/calendar.ics"
    assert followed["external_url"].startswith(f"{b.url}/events/")
    assert followed["title_en"] == "Studio B tour"  # both languages travel (issue 13)
    assert by_title["Courts métrages du studio A"]["source_url"] is None

    # Its page lists the dates and sends people to book at the source: no booking here.
    html = b.page(f"/events/{copy['slug']}")
    assert html.count('class="occurrence-row') == 3
    assert f'href="{copy["external_url"]}"' in html
    assert "Réserver sur le site de l" in html
    assert 'name="occurrence"' not in html and 'name="consent"' not in html
    assert "Réserver cette date" not in html

    # Syncing again changes nothing.
    a.sync()
    b.sync()
    assert a.events() == seen_by_a
    assert b.events() == seen_by_b

    # Changes at the source arrive: a new time, a cancellation.
    later = (utcnow() + timedelta(days=6)).replace(microsecond=0)
    status, _ = b.api(
        "PATCH",
        f"/occurrences/{moved[0]}",
        {"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()},
    )
    assert status == 200
    status, _ = b.api("PATCH", f"/occurrences/{cancelled[0]}", {"status": "cancelled"})
    assert status == 200
    page = a.sync()
    assert "1 date déplacée" in page and "1 date annulée" in page, page
    after = {e["title"]: e for e in a.events()}
    [date] = after["Visite du studio B"]["occurrences"]
    assert datetime.fromisoformat(date["starts_at"]) == later
    assert after["Projection annulée"]["occurrences"][0]["status"] == "cancelled"

    # A cancels one date of its event and adds another: B's one event follows.
    dates = original["occurrences"]
    status, _ = a.api("PATCH", f"/occurrences/{dates[1]['id']}", {"status": "cancelled"})
    assert status == 200
    a.add_date(original["slug"], dates[0]["venue"], 26)
    page = b.sync()
    assert "1 date créée" in page and "1 date annulée" in page, page
    changed = a.event(original["slug"])
    assert len(changed["occurrences"]) == 4
    now_at_b = b.event(copy["slug"])
    assert _starts(now_at_b) == _starts(changed)
    assert [s for _start, s in _starts(now_at_b)].count("cancelled") == 1
    assert _titles(b.events()) == expected  # still one event, its own dates
    # Syncing again changes nothing.
    b.sync()
    assert b.event(copy["slug"]) == now_at_b
    # And B, following A, sees its own events only once: A's copies never come back.
    assert len([e for e in b.events() if e["title"] == "Visite du studio B"]) == 1


# --- any calendar: a feed served from memory ---------------------------------------------


class Feed:
    """A calendar's feed on loopback whose answer the test sets (body, status, validators)."""

    def __init__(self):
        self.body = b""
        self.status = 200
        self.etag = '"v1"'
        self.requests: list[dict] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                feed.requests.append(dict(self.headers))
                if feed.status != 200:
                    self.send_response(feed.status)
                    self.end_headers()
                    return
                if self.headers.get("If-None-Match") == feed.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("ETag", feed.etag)
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/agenda.ics"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set(self, events: list[tuple[str, str, int]], etag: str) -> None:
        """(uid, title, days from now) for each VEVENT."""
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//feed//FR"]
        for uid, title, days in events:
            start = (utcnow() + timedelta(days=days)).replace(microsecond=0)
            lines += [
                "BEGIN:VEVENT",
                f"UID:{uid}",
                f"DTSTAMP:{start:%Y%m%dT%H%M%SZ}",
                f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}",
                f"SUMMARY:{title}",
                "LOCATION:Cinéma Le Navire\\, 9 bd d'Alsace\\, 26000 Valence",
                f"URL:https://cinema.example.org/films/{uid}",
                "END:VEVENT",
            ]
        lines.append("END:VCALENDAR")
        self.body = ("\r\n".join(lines) + "\r\n").encode()
        self.etag = etag

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed():
    served = Feed()
    yield served
    served.stop()


def _events() -> dict[str, Event]:
    db.session.expire_all()
    return {e.title: e for e in db.session.scalars(select(Event))}


def test_a_calendars_feed_is_followed_updated_and_its_gone_events_cancelled(
    app, runner, make, feed
):
    organisation = make.organisation(slug="navire")
    feed.set([("film-1", "Le Voyage", 3), ("film-2", "La Tortue rouge", 5)], '"v1"')
    result = runner.invoke(args=["sources", "add", feed.url, "--organisation", "navire"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["sources", "sync"]).exit_code == 0
    events = _events()
    assert set(events) == {"Le Voyage", "La Tortue rouge"}
    voyage = events["Le Voyage"]
    assert voyage.organisation_id == organisation.id
    assert voyage.external_url == "https://cinema.example.org/films/film-1"
    assert voyage.source_url == feed.url
    assert voyage.occurrences[0].capacity == 0  # booked at the source

    # Again: conditional request, 304, nothing touched.
    stamps = {e.title: e.updated_at for e in events.values()}
    assert runner.invoke(args=["sources", "sync"]).output.count("unchanged") == 1
    assert feed.requests[-1].get("If-None-Match") == '"v1"'
    assert {e.title: e.updated_at for e in _events().values()} == stamps

    # The source drops an event: its dates to come are cancelled here.
    feed.set([("film-1", "Le Voyage", 3)], '"v2"')
    output = runner.invoke(args=["sources", "sync"]).output
    assert "1 date disparue de la source, annulée" in output, output
    tortue = _events()["La Tortue rouge"]
    assert [o.status for o in tortue.occurrences] == ["cancelled"]
    # And again with a new ETag but the same content: nothing changes.
    feed.etag = '"v3"'
    stamps = {o.id: o.changed_at for o in db.session.scalars(select(Occurrence))}
    runner.invoke(args=["sources", "sync"])
    db.session.expire_all()
    assert {o.id: o.changed_at for o in db.session.scalars(select(Occurrence))} == stamps


def test_a_failing_or_garbage_source_is_reported_and_changes_nothing(app, runner, make, feed):
    make.organisation(slug="navire")
    feed.set([("film-1", "Le Voyage", 3)], '"v1"')
    runner.invoke(args=["sources", "add", feed.url, "--organisation", "navire"])
    runner.invoke(args=["sources", "sync"])
    count = db.session.scalar(select(func.count(Occurrence.id)))

    feed.body, feed.etag = b"<html>Not a calendar</html>", '"garbage"'
    result = runner.invoke(args=["sources", "sync"])
    assert result.exit_code == 1
    listing = runner.invoke(args=["sources", "list"]).output
    assert "failed" in listing and "pas un fichier iCalendar" in listing
    feed.body, feed.etag = feed.body[:0] + b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x", '"cut"'
    runner.invoke(args=["sources", "sync"])
    assert "pas pu être lu" in runner.invoke(args=["sources", "list"]).output

    feed.status = 503
    runner.invoke(args=["sources", "sync"])
    assert "HTTP 503" in runner.invoke(args=["sources", "list"]).output
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Occurrence.id))) == count
    assert [o.status for o in db.session.scalars(select(Occurrence))] == ["scheduled"]
    source = db.session.scalar(select(Source))
    assert source.etag == '"v1"'  # the validators of the last good answer stay

    feed.status = 200
    feed.set([("film-1", "Le Voyage", 3)], '"v4"')
    runner.invoke(args=["sources", "sync"])
    assert "\tok\t" in runner.invoke(args=["sources", "list"]).output


def test_one_transaction_undoes_every_inner_commit(app, make):
    organisation_id = make.organisation().id
    with pytest.raises(RuntimeError), sources.one_transaction():
        catalogue.create_event(organisation_id, title="Jamais", kind="talk", description="")
        assert db.session.scalar(select(func.count(Event.id))) == 1
        raise RuntimeError("half way")
    assert db.session.scalar(select(func.count(Event.id))) == 0


def test_bad_sources_are_refused(app, runner, make):
    make.organisation(slug="navire")
    for url in ("file:///etc/passwd", "not a url", "ftp://example.org/a.ics"):
        result = runner.invoke(args=["sources", "add", url, "--organisation", "navire"])
        assert result.exit_code != 0 and "url" in result.output
    result = runner.invoke(
        args=["sources", "add", "https://x.example/a.ics", "--organisation", "nope"]
    )
    assert result.exit_code != 0 and "organisation" in result.output
    assert db.session.scalar(select(func.count(Source.id))) == 0
    assert "no source" in runner.invoke(args=["sources", "list"]).output


def test_cluster_admins_follow_a_feed_from_the_organiser_area(client, make, feed):
    from .test_manage import log_in

    make.organisation(slug="navire", name="Le Navire")
    admin = make.user(is_admin=True)
    log_in(client, admin)
    assert client.get("/manage/sources").status_code == 200
    answer = client.post(
        "/manage/sources", data={"url": "javascript:alert(1)", "organisation": "navire", "kind": ""}
    )
    assert answer.status_code == 422
    feed.set([("film-1", "Le Voyage", 3)], '"v1"')
    answer = client.post(
        "/manage/sources", data={"url": feed.url, "organisation": "navire", "kind": "screening"}
    )
    assert answer.status_code == 303
    assert client.post("/manage/sources/sync").status_code == 303
    page = client.get("/manage/sources").get_data(as_text=True)
    assert feed.url in page and "1 " in page
    assert "Le Voyage" in _events()


# --- another calendrier's feed, one VEVENT per date ---------------------------------------


def _calendrier_feed(dates: list[tuple[int, str, int, bool]]) -> bytes:
    """What another calendrier serves, written by its own code (calendars.calendar_bytes):
    dates (occurrence id, event slug, days from now, cancelled) of events living there."""
    now = utcnow().replace(microsecond=0)
    venue = Venue(
        name="Salle Lumière",
        address="3 rue Bouffier",
        postcode="26000",
        city="Valence",
        timezone="Europe/Paris",
        accessibility="",
        updated_at=now - timedelta(days=30),
    )
    events: dict[str, Event] = {}
    occurrences = []
    for occurrence_id, slug, days, cancelled in dates:
        event = events.setdefault(
            slug,
            Event(
                slug=slug,
                title="Ciné-club",
                title_en="",
                kind="screening",
                summary="",
                summary_en="",
                description="Un film par mois, suivi d'une discussion.",
                description_en="",
                updated_at=now - timedelta(days=30),
            ),
        )
        start = now + timedelta(days=days)
        occurrences.append(
            Occurrence(
                id=occurrence_id,
                event=event,
                venue=venue,
                starts_at=start,
                ends_at=start + timedelta(hours=2),
                status="cancelled" if cancelled else "scheduled",
                cancel_reason="",
                sequence=0,
                accessibility="",
                created_at=now - timedelta(days=30),
                changed_at=now - timedelta(days=30),
            )
        )
    with force_locale("fr"):
        return calendars.calendar_bytes(occurrences, "Agenda C", "https://c.example.org")


def _dates_of(title: str) -> list[tuple[int, str, str | None]]:
    db.session.expire_all()
    return [
        (o.id, o.status, o.external_uid)
        for o in db.session.scalars(
            select(Occurrence)
            .join(Occurrence.event)
            .where(Event.title == title)
            .order_by(Occurrence.starts_at)
        )
    ]


def _state() -> dict:
    """Everything a sync may change, to tell that a second one changed nothing."""
    db.session.expire_all()
    events = {
        e.id: (e.slug, e.external_uid, e.updated_at) for e in db.session.scalars(select(Event))
    }
    dates = {
        o.id: (o.event_id, o.status, o.changed_at) for o in db.session.scalars(select(Occurrence))
    }
    return {"events": events, "dates": dates}


def test_a_followed_calendrier_event_is_one_event_and_older_copies_per_date_are_gathered(
    app, runner, make, feed
):
    network = make.organisation(slug="reseau")
    host = feed.url.split("/")[2]
    page = "https://c.example.org/events/cine-club"
    # What the sync of earlier versions left: one event per date, each keyed by its date's UID.
    hall = make.venue(name="Salle Lumière", city="Valence")
    legacy = []
    for occurrence_id, days in ((11, 3), (12, 10), (13, 17)):
        uid = f"occurrence-{occurrence_id}@{host}"
        copy = make.event(
            title="Ciné-club",
            kind="screening",
            organisation=network,
            external_uid=uid,
            source_url=feed.url,
            external_url=page,
        )
        start = utcnow().replace(microsecond=0) + timedelta(days=days)
        occurrence = make.occurrence(
            event=copy,
            venue=hall,
            starts_at=start,
            ends_at=start + timedelta(hours=2),
            capacity=0,
            external_uid=uid,
        )
        legacy.append((copy.id, occurrence.id))
    runner.invoke(args=["sources", "add", feed.url, "--organisation", "reseau"])
    feed.body = _calendrier_feed(
        [(11, "cine-club", 3, False), (12, "cine-club", 10, False), (13, "cine-club", 17, False)]
    )

    output = runner.invoke(args=["sources", "sync"]).output
    assert "2 copies d\u2019une seule date regroupées avec leur événement" in output, output
    assert "disparue" not in output and "créé" not in output, output
    [event] = _events().values()
    assert event.id == legacy[0][0]  # the first copy became the event; the others are gone
    assert event.external_uid == page and event.external_url == page
    assert event.description == "Un film par mois, suivi d'une discussion."
    assert _dates_of("Ciné-club") == [
        (occurrence_id, "scheduled", f"occurrence-{n}@{host}")
        for (_e, occurrence_id), n in zip(legacy, (11, 12, 13), strict=True)
    ]
    stamps = _state()
    feed.etag = '"again"'
    runner.invoke(args=["sources", "sync"])
    assert _state() == stamps

    # At the source: a date cancelled, one gone, one added, and the event's page renamed.
    feed.body = _calendrier_feed(
        [
            (11, "cine-club-du-jeudi", 3, False),
            (13, "cine-club-du-jeudi", 17, True),
            (14, "cine-club-du-jeudi", 24, False),
        ]
    )
    feed.etag = '"v2"'
    output = runner.invoke(args=["sources", "sync"]).output
    assert "1 date créée" in output and "1 date annulée" in output, output
    assert "1 date disparue de la source, annulée" in output, output
    [renamed] = _events().values()
    assert renamed.id == event.id and renamed.slug == event.slug  # the same event here
    assert renamed.external_url == "https://c.example.org/events/cine-club-du-jeudi"
    dates = _dates_of("Ciné-club")
    assert [(i, status) for i, status, _uid in dates[:3]] == [
        (legacy[0][1], "scheduled"),
        (legacy[1][1], "cancelled"),  # gone from the feed
        (legacy[2][1], "cancelled"),  # cancelled at the source
    ]
    assert dates[3][1:] == ("scheduled", f"occurrence-14@{host}")
    stamps = _state()
    feed.etag = '"v3"'
    runner.invoke(args=["sources", "sync"])
    assert _state() == stamps


def test_any_other_calendar_keeps_its_events_as_they_are(app, runner, make, feed):
    """A series (RRULE) is one event with its dates; plain VEVENTs are events each."""
    make.organisation(slug="navire")
    start = (utcnow() + timedelta(days=2)).replace(microsecond=0)

    def body(exdate: bool) -> bytes:
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//cinema//feed//FR"]
        for uid, title, first, rule in (
            ("cycle-1", "Cycle Ghibli", start, "FREQ=WEEKLY;COUNT=3"),
            ("film-2", "Le Voyage", start + timedelta(days=1), None),
            ("film-3", "Le Voyage", start + timedelta(days=8), None),
        ):
            lines += [
                "BEGIN:VEVENT",
                f"UID:{uid}",
                f"DTSTAMP:{start:%Y%m%dT%H%M%SZ}",
                f"DTSTART:{first:%Y%m%dT%H%M%SZ}",
                f"DTEND:{first + timedelta(hours=2):%Y%m%dT%H%M%SZ}",
                f"SUMMARY:{title}",
                "LOCATION:Cinéma Le Navire\\, 26000 Valence",
                f"URL:https://cinema.example.org/{uid}",
            ]
            if rule:
                lines.append(f"RRULE:{rule}")
                if exdate:
                    lines.append(f"EXDATE:{start + timedelta(days=7):%Y%m%dT%H%M%SZ}")
            lines.append("END:VEVENT")
        return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()

    feed.body = body(exdate=False)
    runner.invoke(args=["sources", "add", feed.url, "--organisation", "navire"])
    runner.invoke(args=["sources", "sync"])
    db.session.expire_all()
    events = list(db.session.scalars(select(Event).order_by(Event.id)))
    assert [(e.title, len(e.occurrences)) for e in events] == [
        ("Cycle Ghibli", 3),
        ("Le Voyage", 1),
        ("Le Voyage", 1),
    ]
    # A date of the series taken out at the source (EXDATE) is cancelled here.
    feed.body, feed.etag = body(exdate=True), '"v2"'
    output = runner.invoke(args=["sources", "sync"]).output
    assert "1 date disparue de la source, annulée" in output, output
    assert [s for _i, s, _u in _dates_of("Cycle Ghibli")] == ["scheduled", "cancelled", "scheduled"]
    stamps = _state()
    feed.etag = '"v3"'
    runner.invoke(args=["sources", "sync"])
    assert _state() == stamps


def test_a_followed_date_is_never_booked_here(client, make):
    # its seats are the source's: the API says so and refuses, as the page shows no form
    occurrence = make.occurrence()
    occurrence.event.source_url = "https://other.example.org/calendar.ics"
    db.session.commit()
    shown = client.get(f"/api/v1/occurrences/{occurrence.id}").get_json()
    assert shown["booking_open"] is False
    answer = client.post(
        f"/api/v1/occurrences/{occurrence.id}/bookings",
        json={"name": "Ana", "email": "ana@example.org", "seats": 1, "consent": True},
    )
    assert answer.status_code == 409 and answer.get_json()["error"] == "closed"
    assert db.session.scalar(select(func.count(Booking.id))) == 0
