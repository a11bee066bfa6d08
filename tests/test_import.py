"""Importing iCalendar: by UID, idempotent, through the catalogue's rules, with a clear report."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import importer
from calendrier.extensions import db
from calendrier.models import AuditEntry, Event, Occurrence, OutboxMessage, Venue
from calendrier.timeutil import utcnow

YEAR = utcnow().year + 1

PARIS_TZ = """BEGIN:VTIMEZONE
TZID:Europe/Paris
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
END:DAYLIGHT
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
END:STANDARD
END:VTIMEZONE"""


def vevent(uid: str | None, summary: str | None = "Projection", **props: str) -> str:
    lines = ["BEGIN:VEVENT"]
    if uid is not None:
        lines.append(f"UID:{uid}")
    lines.append("DTSTAMP:20260101T000000Z")
    if summary is not None:
        lines.append(f"SUMMARY:{summary}")
    for name, value in props.items():
        name = name.replace("_", "-").upper()
        lines.append(value if value.startswith(name) else f"{name}:{value}")
    lines.append("END:VEVENT")
    return "\n".join(lines)


def calendar(*events: str) -> bytes:
    body = "\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//test//EN", PARIS_TZ, *events]
    )
    return (body + "\nEND:VCALENDAR\n").replace("\n", "\r\n").encode()


@pytest.fixture
def organisation(make):
    return make.organisation(slug="cinema", name="Cinéma")


def run(data: bytes, organisation, **options) -> importer.ImportReport:
    return importer.import_calendar(
        data, importer.ImportOptions(organisation_id=organisation.id, **options)
    )


def occurrence_by_uid(uid: str) -> Occurrence:
    return db.session.scalar(select(Occurrence).where(Occurrence.external_uid == uid))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def programme() -> bytes:
    return calendar(
        vevent(
            "winter@example.org",
            "Ciné-goûter",
            dtstart=f"DTSTART;TZID=Europe/Paris:{YEAR}0114T183000",
            dtend=f"DTEND;TZID=Europe/Paris:{YEAR}0114T200000",
            location="Grande halle, Rue de Chabeuil, 26500 Bourg-lès-Valence",
            categories="Projection,Jeune public",
            description="Un film\\, un goûter.\\n\\nEntrée libre.",
        ),
        vevent(
            "summer@example.org",
            "Nuit du court",
            dtstart=f"{YEAR}0714T193000Z",
            duration="PT3H",
            location="Le Navire, 9 boulevard d'Alsace, 26000 Valence",
            geo="44.933;4.892",
        ),
        vevent(
            "visits@example.org",
            "Visite des studios",
            dtstart=f"DTSTART;TZID=Europe/Paris:{YEAR}0106T143000",
            dtend=f"DTEND;TZID=Europe/Paris:{YEAR}0106T160000",
            rrule="FREQ=WEEKLY;COUNT=6",
            exdate=f"EXDATE;TZID=Europe/Paris:{YEAR}0113T143000",
            location="Grande halle",
            categories="Visite guidée",
        ),
        vevent(
            "visits@example.org",
            "Visite des studios",
            recurrence_id=f"RECURRENCE-ID;TZID=Europe/Paris:{YEAR}0120T143000",
            dtstart=f"DTSTART;TZID=Europe/Paris:{YEAR}0121T100000",
            dtend=f"DTEND;TZID=Europe/Paris:{YEAR}0121T113000",
            location="Grande halle",
        ),
        vevent("allday@example.org", "Festival", dtstart=f"DTSTART;VALUE=DATE:{YEAR}0310"),
        vevent(None, "Sans UID", dtstart=f"{YEAR}0201T100000Z", dtend=f"{YEAR}0201T110000Z"),
        vevent(
            "gap@example.org",
            "Heure qui n'existe pas",
            dtstart=f"{YEAR}0328T023000" if False else spring_gap(),
            location="Grande halle",
        ),
        vevent(
            "gone@example.org",
            "Annulé avant import",
            dtstart=f"{YEAR}0401T100000Z",
            dtend=f"{YEAR}0401T110000Z",
            status="CANCELLED",
            location="Grande halle",
        ),
    )


def spring_gap() -> str:
    """A floating 02:30 on the night the clocks go forward: no such time in Paris."""
    day = max(d for d in range(25, 32) if datetime(YEAR, 3, d, tzinfo=UTC).weekday() == 6)
    return f"{YEAR}03{day:02d}T023000"


def test_import_creates_events_and_dates_and_reports_what_it_skipped(make, organisation):
    halle = make.venue(name="Grande halle", city="Bourg-lès-Valence", capacity=80)
    report = run(programme(), organisation)

    assert report.events_created == 3
    # one winter, one summer, five visits (six weekly, one excluded, one moved)
    assert report.occurrences_created == 7
    assert report.venues_created == ["Le Navire"]
    reasons = {line.uid: line.reason for line in report.skipped}
    assert reasons["allday@example.org"].startswith("Événement sur la journée")
    assert reasons[""].startswith("Pas d'UID")
    assert "n'existe pas" in reasons["gap@example.org"]
    assert reasons["gone@example.org"].startswith("Annulé dans le fichier")

    winter = occurrence_by_uid("winter@example.org")
    assert winter.starts_at == datetime(YEAR, 1, 14, 17, 30, tzinfo=UTC)  # 18:30 in Paris
    assert winter.ends_at == datetime(YEAR, 1, 14, 19, 0, tzinfo=UTC)
    assert winter.venue_id == halle.id and winter.capacity == 80
    assert winter.event.kind == "screening"
    assert winter.event.description == "Un film, un goûter.\n\nEntrée libre."
    assert winter.event.status == "published"

    summer = occurrence_by_uid("summer@example.org")
    assert summer.ends_at - summer.starts_at == timedelta(hours=3)
    navire = summer.venue
    assert (navire.address, navire.postcode, navire.city) == (
        "9 boulevard d'Alsace",
        "26000",
        "Valence",
    )
    assert (navire.latitude, navire.longitude) == (44.933, 4.892)
    assert navire.organisation_id == organisation.id
    assert summer.capacity == 0  # unknown capacity: no booking until the organiser says

    visits = db.session.scalar(select(Event).where(Event.external_uid == "visits@example.org"))
    assert visits.kind == "visit"
    starts = [o.starts_at for o in visits.occurrences]
    assert datetime(YEAR, 1, 13, 13, 30, tzinfo=UTC) not in starts  # EXDATE
    assert datetime(YEAR, 1, 21, 9, 0, tzinfo=UTC) in starts  # moved by its override
    assert datetime(YEAR, 2, 10, 13, 30, tzinfo=UTC) in starts
    assert len(starts) == 5
    assert {o.external_uid for o in visits.occurrences} >= {
        f"visits@example.org/{YEAR}0106T133000Z",
        f"visits@example.org/{YEAR}0120T133000Z",
    }


def test_importing_the_same_file_again_changes_nothing(make, organisation, client):
    make.venue(name="Grande halle")
    run(programme(), organisation)
    feed = client.get("/calendar.ics")
    counts = (count(Event), count(Occurrence), count(Venue), count(AuditEntry))
    report = run(programme(), organisation)
    assert not report.changed
    assert report.unchanged == 7
    assert (count(Event), count(Occurrence), count(Venue), count(AuditEntry)) == counts
    again = client.get("/calendar.ics", headers={"If-None-Match": feed.headers["ETag"]})
    assert again.status_code == 304


def test_a_newer_export_updates_through_the_catalogue(make, organisation, client):
    make.venue(name="Grande halle")
    first = calendar(
        vevent(
            "talk@example.org",
            "Rencontre",
            dtstart=f"{YEAR}0201T170000Z",
            dtend=f"{YEAR}0201T180000Z",
            location="Grande halle",
        ),
        vevent(
            "late@example.org",
            "Séance tardive",
            dtstart=f"{YEAR}0202T200000Z",
            dtend=f"{YEAR}0202T220000Z",
            location="Grande halle",
        ),
    )
    run(first, organisation, capacity=20)
    talk = occurrence_by_uid("talk@example.org")
    booking = rules.book(
        talk.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1)
    ).booking
    late = occurrence_by_uid("late@example.org")
    feed = client.get("/calendar.ics")

    second = calendar(
        vevent(
            "talk@example.org",
            "Rencontre avec l'équipe",
            dtstart=f"{YEAR}0201T180000Z",
            dtend=f"{YEAR}0201T190000Z",
            location="Grande halle",
        ),
        vevent(
            "late@example.org",
            "Séance tardive",
            dtstart=f"{YEAR}0202T200000Z",
            dtend=f"{YEAR}0202T220000Z",
            location="Grande halle",
            status="CANCELLED",
        ),
    )
    report = run(second, organisation)
    assert (report.events_updated, report.occurrences_updated) == (1, 1)
    assert report.occurrences_cancelled == 1
    db.session.expire_all()
    talk = db.session.get(Occurrence, talk.id)
    assert talk.starts_at == datetime(YEAR, 2, 1, 18, tzinfo=UTC)
    assert talk.sequence == 1 and talk.event.title == "Rencontre avec l'équipe"
    kinds = set(
        db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.booking_id == booking.id))
    )
    assert "occurrence_changed" in kinds  # the attendee is told of the new time
    late = db.session.get(Occurrence, late.id)
    assert late.is_cancelled and late.sequence == 1
    after = client.get("/calendar.ics", headers={"If-None-Match": feed.headers["ETag"]})
    assert after.status_code == 200
    statuses = re.findall(r"STATUS:(\w+)", after.get_data(as_text=True))
    assert sorted(statuses) == ["CANCELLED", "CONFIRMED"]


def test_our_own_feed_and_other_organisations_uids_are_not_imported(make, client, organisation):
    occurrence = make.occurrence()
    own_feed = client.get("/calendar.ics").data
    report = run(own_feed, organisation)
    assert not report.changed
    [line] = report.skipped
    assert line.uid == occurrence.uid and "propre flux" in line.reason

    other = make.organisation()
    make.venue(name="Grande halle")
    data = calendar(
        vevent(
            "shared@example.org",
            "Partagé",
            dtstart=f"{YEAR}0201T170000Z",
            dtend=f"{YEAR}0201T180000Z",
            location="Grande halle",
        )
    )
    assert run(data, other).events_created == 1
    report = run(data, organisation)
    assert report.events_created == 0
    assert "autre organisation" in report.skipped[0].reason


def test_outlook_zone_names_and_floating_times_land_at_the_right_instant(make, organisation):
    make.venue(name="Grande halle")
    romance = PARIS_TZ.replace("Europe/Paris", "Romance Standard Time")
    data = calendar(
        romance,
        vevent(
            "outlook@example.org",
            "Depuis Outlook",
            dtstart=f"DTSTART;TZID=Romance Standard Time:{YEAR}0714T183000",
            dtend=f"DTEND;TZID=Romance Standard Time:{YEAR}0714T200000",
            location="Grande halle",
        ),
        vevent(
            "floating@example.org",
            "Heure locale",
            dtstart=f"{YEAR}0714T183000",
            dtend=f"{YEAR}0714T200000",
            location="Grande halle",
        ),
    )
    report = run(data, organisation)
    assert report.skipped == []
    for uid in ("outlook@example.org", "floating@example.org"):
        assert occurrence_by_uid(uid).starts_at == datetime(YEAR, 7, 14, 16, 30, tzinfo=UTC), uid


def test_venues_are_matched_by_name_whatever_the_accents_or_by_position(make, organisation):
    halle = make.venue(
        name="Grande Halle", city="Bourg-lès-Valence", latitude=44.948, longitude=4.894
    )
    data = calendar(
        vevent(
            "a@example.org",
            "A",
            dtstart=f"{YEAR}0201T170000Z",
            dtend=f"{YEAR}0201T180000Z",
            location="grande halle, Bourg-les-Valence",
        ),
        vevent(
            "b@example.org",
            "B",
            dtstart=f"{YEAR}0202T170000Z",
            dtend=f"{YEAR}0202T180000Z",
            location="La halle (entrée nord)",
            geo="44.9483;4.8942",
        ),
        vevent("c@example.org", "C", dtstart=f"{YEAR}0203T170000Z", dtend=f"{YEAR}0203T180000Z"),
    )
    report = run(data, organisation, default_venue_id=halle.id)
    assert report.venues_created == [] and report.skipped == []
    for uid in ("a@example.org", "b@example.org", "c@example.org"):
        assert occurrence_by_uid(uid).venue_id == halle.id, uid
    report = run(
        calendar(vevent("d@example.org", "D", dtstart=f"{YEAR}0203T170000Z")), organisation
    )
    assert report.skipped[0].reason.startswith("Aucun lieu")


def test_an_unreadable_file_imports_nothing(organisation):
    for data in (b"hello", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:nope\r\n", b"\xff" * 10):
        with pytest.raises(importer.UnreadableCalendar):
            run(data, organisation)
    assert count(Event) == 0


# --- the command line ---------------------------------------------------------------------


def test_cli_imports_with_a_progress_bar_and_a_report(runner, make, organisation, tmp_path):
    make.venue(name="Grande halle", slug="grande-halle")
    path = tmp_path / "programme.ics"
    path.write_bytes(programme())
    result = runner.invoke(
        args=["events", "import", str(path), "--organisation", "cinema"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "Importing" in result.output  # the progress bar (on stderr)
    assert "3 events created" in result.output
    assert "7 dates created" in result.output
    assert "All-day event" in result.output
    again = runner.invoke(args=["events", "import", str(path), "--organisation", "cinema"])
    assert "7 dates unchanged" in again.output and "created" not in again.output

    bad = runner.invoke(args=["events", "import", str(path), "--organisation", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output
    junk = tmp_path / "junk.ics"
    junk.write_bytes(b"not a calendar")
    result = runner.invoke(args=["events", "import", str(junk), "--organisation", "cinema"])
    assert result.exit_code == 1 and "not an iCalendar file" in result.output


def test_cli_default_venue_kind_capacity_and_draft(runner, make, organisation, tmp_path):
    make.venue(name="Salle", slug="salle", capacity=30)
    path = tmp_path / "a.ics"
    path.write_bytes(
        calendar(vevent("x@example.org", "X", dtstart=f"{YEAR}0203T170000Z", duration="PT1H"))
    )
    result = runner.invoke(
        args=[
            "events",
            "import",
            str(path),
            "--organisation",
            "cinema",
            "--venue",
            "salle",
            "--kind",
            "talk",
            "--capacity",
            "12",
            "--draft",
        ]
    )
    assert result.exit_code == 0, result.output
    occurrence = occurrence_by_uid("x@example.org")
    assert (occurrence.venue.slug, occurrence.capacity) == ("salle", 12)
    assert (occurrence.event.kind, occurrence.event.status) == ("talk", "draft")


# --- the upload page ----------------------------------------------------------------------


def log_in(client, user):
    response = client.post(
        "/manage/login", data={"email": user.email, "password": "correct horse battery"}
    )
    assert response.status_code == 302


def upload(client, data: bytes, headers=None, **fields):
    form = {"file": (io.BytesIO(data), "programme.ics"), "kind": "screening", "venue": "0"}
    form.update(fields)
    return client.post(
        "/manage/import", data=form, content_type="multipart/form-data", headers=headers or {}
    )


def test_upload_page_imports_into_the_organisers_own_organisation(client, make, organisation):
    make.venue(name="Grande halle")
    assert client.get("/manage/import").status_code == 302  # login first
    organiser = make.user(organisation=organisation)
    log_in(client, organiser)
    page = client.get("/manage/import")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.get_data(as_text=True)
    response = upload(client, programme())  # the only choice, sent by the page itself
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text
    assert "3 événements créés" in text
    assert "Événement sur la journée" in text  # why it was skipped, in French
    assert count(Occurrence) == 7

    other = make.organisation()
    response = upload(client, programme(), organisation=str(other.id))
    assert response.status_code == 422  # not one of the choices
    assert (
        db.session.scalar(
            select(func.count()).select_from(Event).where(Event.organisation_id == other.id)
        )
        == 0
    )


def test_upload_page_reports_an_unreadable_file(client, make, organisation):
    log_in(client, make.user(organisation=organisation))
    response = upload(client, b"not a calendar", organisation=str(organisation.id))
    assert response.status_code == 422
    assert "n'est pas un fichier iCalendar" in response.get_data(as_text=True).replace("&#39;", "'")


def test_an_admin_chooses_the_organisation(client, make, organisation):
    make.venue(name="Grande halle")
    make.organisation(name="Autre organisation")
    admin = make.user(is_admin=True, organisation=None)
    log_in(client, admin)
    page = client.get("/manage/import").get_data(as_text=True)
    assert "Cinéma" in page and "Autre organisation" in page
    response = upload(client, programme(), organisation=str(organisation.id))
    assert response.status_code == 200
    assert (
        db.session.scalar(
            select(func.count()).select_from(Event).where(Event.organisation_id == organisation.id)
        )
        == 3
    )


def test_upload_needs_the_csrf_token(app, client, make, organisation):
    app.config["WTF_CSRF_ENABLED"] = True
    organiser = make.user(organisation=organisation)
    page = client.get("/manage/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    same_site = {"Referer": "https://localhost/manage/login"}  # Flask-WTF checks it over https
    response = client.post(
        "/manage/login",
        data={"email": organiser.email, "password": "correct horse battery", "csrf_token": token},
        headers=same_site,
    )
    assert response.status_code == 302
    response = upload(client, programme(), organisation=str(organisation.id))
    assert response.status_code == 400
    assert count(Event) == 0
    response = upload(
        client, programme(), organisation=str(organisation.id), csrf_token=token, headers=same_site
    )
    assert response.status_code == 200
    assert count(Event) == 3


def test_broken_events_are_reported_one_by_one(make, organisation):
    make.venue(name="Grande halle")
    data = calendar(
        vevent("a@example.org", "Heure illisible", dtstart="garbage", location="Grande halle"),
        vevent(
            "b@example.org",
            "Règle illisible",
            dtstart=f"{YEAR}0201T100000Z",
            duration="PT1H",
            rrule="FREQ=NOPE",
            location="Grande halle",
        ),
        vevent(
            "c@example.org",
            "Fuseau inconnu",
            dtstart=f"DTSTART;TZID=Nowhere/City:{YEAR}0201T100000",
            dtend=f"DTEND;TZID=Nowhere/City:{YEAR}0201T110000",
            location="Grande halle",
        ),
        vevent(
            "d@example.org",
            "Position illisible mais le reste va",
            dtstart=f"{YEAR}0201T100000Z",
            dtend=f"{YEAR}0201T110000Z",
            geo="abc",
            location="Grande halle",
        ),
    )
    report = run(data, organisation)
    reasons = {line.uid: line.reason for line in report.skipped}
    assert reasons["a@example.org"] == "DTSTART n'a pas pu être lu."
    assert reasons["b@example.org"].startswith("La règle de répétition")
    assert reasons["c@example.org"] == "Fuseau horaire inconnu."
    assert report.occurrences_created == 1 and occurrence_by_uid("d@example.org") is not None
