"""The organiser area through the test client: every action, and who may do it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
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

PARIS = ZoneInfo("Europe/Paris")
PASSWORD = "correct horse battery"


def log_in(client, user):
    response = client.post("/manage/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def book(occurrence, email="ana@example.org", seats=1, name="Ana Martin", **kw):
    return rules.book(
        occurrence.id, rules.BookingRequest(name=name, email=email, seats=seats, **kw)
    ).booking


def text(response) -> str:
    return response.get_data(as_text=True)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def world(make):
    """Two organisations, each with an organiser, an event and a booked date; an admin."""
    mine = make.occurrence(capacity=10, venue=make.venue(capacity=50, name="Grande halle"))
    theirs = make.occurrence(capacity=10)
    organiser = make.user(organisation=mine.event.organisation)
    stranger = make.user(organisation=theirs.event.organisation)
    admin = make.user(is_admin=True, organisation=None)
    booking = book(mine)
    their_booking = book(theirs, email="bob@example.org", name="Bob")

    class World:
        pass

    w = World()
    w.mine, w.theirs, w.organiser, w.stranger, w.admin = mine, theirs, organiser, stranger, admin
    w.booking, w.their_booking = booking, their_booking
    return w


# --- permissions ------------------------------------------------------------------


def other_organisation_urls(w) -> list[tuple[str, str]]:
    o, e, b = w.theirs, w.theirs.event, w.their_booking
    return [
        ("GET", f"/manage/events/{e.id}"),
        ("GET", f"/manage/events/{e.id}/edit"),
        ("POST", f"/manage/events/{e.id}/edit"),
        ("GET", f"/manage/events/{e.id}/duplicate"),
        ("POST", f"/manage/events/{e.id}/duplicate"),
        ("POST", f"/manage/events/{e.id}/publish"),
        ("POST", f"/manage/events/{e.id}/unpublish"),
        ("GET", f"/manage/events/{e.id}/occurrences/new"),
        ("POST", f"/manage/events/{e.id}/occurrences/new"),
        ("GET", f"/manage/events/{e.id}/occurrences/recurring"),
        ("POST", f"/manage/events/{e.id}/occurrences/recurring"),
        ("GET", f"/manage/occurrences/{o.id}"),
        ("GET", f"/manage/occurrences/{o.id}/edit"),
        ("POST", f"/manage/occurrences/{o.id}/edit"),
        ("POST", f"/manage/occurrences/{o.id}/capacity"),
        ("GET", f"/manage/occurrences/{o.id}/cancel"),
        ("POST", f"/manage/occurrences/{o.id}/cancel"),
        ("GET", f"/manage/occurrences/{o.id}/check-in"),
        ("GET", f"/manage/occurrences/{o.id}/bookings/new"),
        ("POST", f"/manage/occurrences/{o.id}/bookings/new"),
        ("GET", f"/manage/occurrences/{o.id}/attendees.csv"),
        ("GET", f"/manage/occurrences/{o.id}/attendees.xlsx"),
        ("GET", f"/manage/occurrences/{o.id}/sign-in-sheet"),
        ("GET", f"/manage/occurrences/{o.id}/message"),
        ("POST", f"/manage/occurrences/{o.id}/message"),
        ("GET", f"/manage/bookings/{b.reference}/check-in"),
        ("POST", f"/manage/bookings/{b.reference}/check-in"),
        ("POST", f"/manage/bookings/{b.reference}/approve"),
        ("POST", f"/manage/bookings/{b.reference}/reject"),
        ("POST", f"/manage/bookings/{b.reference}/cancel"),
        ("POST", f"/manage/bookings/{b.reference}/seats"),
    ]


def test_an_organiser_cannot_see_or_touch_another_organisations_data(client, world):
    log_in(client, world.organiser)
    for method, url in other_organisation_urls(world):
        response = client.open(url, method=method, data={"capacity": 0, "reason": "x", "seats": 3})
        assert response.status_code in (403, 404), (method, url, response.status_code)
        assert "Bob" not in text(response) and "bob@example.org" not in text(response)
    # Nothing changed on their side.
    db.session.expire_all()
    theirs = db.session.get(Occurrence, world.theirs.id)
    assert theirs.capacity == 10 and not theirs.is_cancelled
    assert db.session.get(Booking, world.their_booking.id).status == "confirmed"
    assert db.session.get(Booking, world.their_booking.id).checked_in_at is None
    assert db.session.get(Booking, world.their_booking.id).seats == 1
    assert count(OutboxMessage, OutboxMessage.kind == "message") == 0


def test_lists_show_only_the_organisations_own_data(client, world):
    log_in(client, world.organiser)
    for url in ("/manage/", "/manage/occurrences", "/manage/events", "/manage/audit"):
        page = text(client.get(url))
        assert world.theirs.event.title not in page, url
    assert world.mine.event.title in text(client.get("/manage/events"))
    assert world.mine.event.title in text(client.get("/manage/"))


def test_every_page_needs_a_login(client, world):
    for method, url in [
        *other_organisation_urls(world),
        ("GET", "/manage/"),
        ("GET", "/manage/audit"),
    ]:
        response = client.open(url, method=method)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/manage/login")


def test_only_cluster_admins_manage_organisations_venues_and_accounts(client, world):
    admin_pages = [
        "/manage/organisations",
        "/manage/organisations/new",
        f"/manage/organisations/{world.mine.event.organisation_id}/edit",
        "/manage/venues/new",
        f"/manage/venues/{world.mine.venue_id}/edit",
        "/manage/users",
        "/manage/users/new",
        f"/manage/users/{world.organiser.id}/edit",
    ]
    log_in(client, world.organiser)
    for url in admin_pages:
        assert client.get(url).status_code == 403, url
        if not url.endswith(("/organisations", "/users")):
            posted = client.post(url, data={"name": "X", "email": "x@example.org"})
            assert posted.status_code == 403, url
    assert client.get("/manage/venues").status_code == 200  # the list, read only
    client.post("/manage/logout")
    log_in(client, world.admin)
    for url in admin_pages:
        assert client.get(url).status_code == 200, url
    # The admin sees everything.
    assert world.theirs.event.title in text(client.get("/manage/events"))
    assert client.get(f"/manage/occurrences/{world.theirs.id}").status_code == 200


def test_deactivated_account_cannot_log_in(client, world):
    world.organiser.active = False
    db.session.commit()
    response = client.post(
        "/manage/login", data={"email": world.organiser.email, "password": PASSWORD}
    )
    assert response.status_code == 401


# --- events -------------------------------------------------------------------------


def test_organiser_creates_edits_duplicates_publishes_an_event(client, world):
    log_in(client, world.organiser)
    response = client.post(
        "/manage/events/new",
        data={
            "title": "Visite des studios",
            "kind": "visit",
            "summary": "Une heure dans les studios.",
            "description": "Départ devant la halle.",
            "parent": "",
            "status": "draft",
        },
    )
    event = db.session.scalar(select(Event).where(Event.title == "Visite des studios"))
    assert response.headers["Location"] == f"/manage/events/{event.id}"
    assert event.organisation_id == world.organiser.organisation_id
    assert event.status == "draft" and event.slug == "visite-des-studios"
    page = text(client.get(f"/manage/events/{event.id}"))
    assert "Brouillon" in page and "Publier" in page

    client.post(f"/manage/events/{event.id}/publish")
    assert db.session.get(Event, event.id).status == "published"
    client.post(f"/manage/events/{event.id}/unpublish")
    assert db.session.get(Event, event.id).status == "draft"

    edit = client.post(
        f"/manage/events/{event.id}/edit",
        data={"title": "Visite des studios d'animation", "kind": "visit", "parent": ""},
    )
    assert edit.status_code == 302
    assert db.session.get(Event, event.id).title == "Visite des studios d'animation"

    copy = client.post(
        f"/manage/events/{event.id}/duplicate",
        data={"title": "Visite (été)", "with_occurrences": "y", "shift_days": 7},
    )
    assert copy.status_code == 302
    duplicate = db.session.scalar(select(Event).where(Event.title == "Visite (été)"))
    assert duplicate.status == "draft"
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"event.created", "event.published", "event.unpublished", "event.updated"} <= actions
    assert "event.duplicated" in actions


def test_event_form_shows_field_errors_and_writes_nothing(client, world):
    log_in(client, world.organiser)
    before = count(Event)
    response = client.post("/manage/events/new", data={"title": "", "kind": "party"})
    assert response.status_code == 200
    page = text(response)
    assert 'aria-invalid="true"' in page
    assert count(Event) == before


def test_festival_programme(client, world):
    log_in(client, world.organiser)
    client.post("/manage/events/new", data={"title": "Festival", "kind": "festival", "parent": ""})
    festival = db.session.scalar(select(Event).where(Event.title == "Festival"))
    form = text(client.get(f"/manage/events/new?parent={festival.slug}"))
    assert f'<option selected value="{festival.slug}">' in form
    client.post(
        "/manage/events/new",
        data={"title": "Séance d'ouverture", "kind": "screening", "parent": festival.slug},
    )
    page = text(client.get(f"/manage/events/{festival.id}"))
    assert "Programmation" in page and "Séance d&#39;ouverture" in page


# --- dates --------------------------------------------------------------------------


@pytest.mark.clock
def test_add_a_date_in_paris_time_and_refuse_impossible_ones(client, world):
    log_in(client, world.organiser)
    event = world.mine.event
    url = f"/manage/events/{event.id}/occurrences/new"
    data = {
        "starts_at": "2027-07-02T17:30",
        "ends_at": "2027-07-02T19:00",
        "venue": world.mine.venue.slug,
        "capacity": 25,
        "max_seats_per_booking": 6,
        "cancellation_deadline_hours": 2,
        "waitlist": "y",
    }
    response = client.post(url, data=data)
    assert response.status_code == 302
    created = db.session.scalar(select(Occurrence).order_by(Occurrence.id.desc()))
    assert created.starts_at.astimezone(PARIS).hour == 17 and created.waitlist

    for changes, message in [
        ({"ends_at": "2027-07-02T17:00"}, "La fin doit être après le début."),
        ({"capacity": 51}, "accueille au plus 50 personnes"),
        ({"starts_at": "2027-03-28T02:30", "ends_at": "2027-03-28T04:00"}, "n'existe pas"),
    ]:
        page = text(client.post(url, data={**data, **changes}))
        assert message in page.replace("&#39;", "'"), changes
    assert count(Occurrence, Occurrence.event_id == event.id) == 2


def test_edit_a_date_moves_it_and_tells_the_attendees(client, world):
    log_in(client, world.organiser)
    occurrence = world.mine
    local = occurrence.starts_at.astimezone(PARIS) + timedelta(hours=1)
    local_end = occurrence.ends_at.astimezone(PARIS) + timedelta(hours=1)
    response = client.post(
        f"/manage/occurrences/{occurrence.id}/edit",
        data={
            "starts_at": local.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": local_end.strftime("%Y-%m-%dT%H:%M"),
            "venue": occurrence.venue.slug,
            "capacity": 10,
            "max_seats_per_booking": 6,
            "cancellation_deadline_hours": 0,
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    moved = db.session.get(Occurrence, occurrence.id)
    assert moved.sequence == 1
    assert count(OutboxMessage, OutboxMessage.kind == "occurrence_changed") == 1


def test_edit_form_keeps_the_stored_times_when_untouched(client, world):
    log_in(client, world.organiser)
    occurrence = world.mine
    form = text(client.get(f"/manage/occurrences/{occurrence.id}/edit"))
    starts = re.search(r'name="starts_at"[^>]*value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"[^>]*name="starts_at"', form
    )
    assert starts.group(1) == occurrence.starts_at.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.clock
def test_recurring_dates_every_friday_except_one(client, world):
    log_in(client, world.organiser)
    event = world.mine.event
    fridays = {
        "weekdays": ["4"],
        "every_weeks": 1,
        "start_time": "17:30",
        "end_time": "19:00",
        "first_day": "2027-03-01",
        "last_day": "2027-06-30",
        "except_dates": "14/05/2027",
        "venue": world.mine.venue.slug,
        "capacity": 25,
        "max_seats_per_booking": 6,
        "cancellation_deadline_hours": 0,
    }
    response = client.post(
        f"/manage/events/{event.id}/occurrences/recurring",
        data=fridays,
        follow_redirects=True,
    )
    assert "16 dates ajoutées" in text(response)
    assert count(Occurrence, Occurrence.event_id == event.id) == 17

    bad = client.post(
        f"/manage/events/{event.id}/occurrences/recurring",
        data={"weekdays": [], "start_time": "17:30", "end_time": "19:00"},
    )
    assert bad.status_code == 200 and 'aria-invalid="true"' in text(bad)
    bad_date = client.post(
        f"/manage/events/{event.id}/occurrences/recurring",
        data={**fridays, "except_dates": "le 14 mai"},
    )
    assert "n\u2019est pas une date" in text(bad_date)
    assert count(Occurrence, Occurrence.event_id == event.id) == 17


def test_capacity_change_moves_the_waiting_list_up(client, world, make):
    occurrence = make.occurrence(event=world.mine.event, capacity=1, waitlist=True)
    book(occurrence, "a@example.org")
    waiting = book(occurrence, "b@example.org")
    assert waiting.status == "waitlisted"
    log_in(client, world.organiser)
    response = client.post(
        f"/manage/occurrences/{occurrence.id}/capacity", data={"capacity": 2}, follow_redirects=True
    )
    assert "Capacité modifiée" in text(response) or "2" in text(response)
    db.session.expire_all()
    assert db.session.get(Booking, waiting.id).status == "confirmed"
    refused = client.post(
        f"/manage/occurrences/{occurrence.id}/capacity", data={"capacity": 0}, follow_redirects=True
    )
    assert "déjà confirmées" in text(refused)
    assert db.session.get(Occurrence, occurrence.id).capacity == 2


def test_cancel_a_date_with_a_message(client, world):
    log_in(client, world.organiser)
    url = f"/manage/occurrences/{world.mine.id}/cancel"
    assert client.post(url, data={"reason": "Tempête"}).status_code == 200  # not confirmed
    assert not db.session.get(Occurrence, world.mine.id).is_cancelled
    response = client.post(url, data={"reason": "Tempête annoncée", "confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Occurrence, world.mine.id).is_cancelled
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.kind == "occurrence_cancelled")
    )
    assert "Tempête annoncée" in outbox.render(message).text


# --- attendees ---------------------------------------------------------------------


def test_attendee_list_search_sort_and_totals(client, world):
    book(world.mine, "zoe@example.org", seats=3, name="Zoé Zeller")
    book(world.mine, "yann@example.org", seats=2, name="Yann", phone="+33 6 00 00 00 01")
    log_in(client, world.organiser)
    url = f"/manage/occurrences/{world.mine.id}"
    page = text(client.get(url))
    assert re.search(r'class="total-confirmed">6<', page)
    assert text(client.get(url + "?q=zeller")).count("zoe@example.org") == 1
    assert "Yann" not in text(client.get(url + "?q=zeller"))
    assert "Yann" in text(client.get(url + "?q=00 01"))
    by_name = text(client.get(url + "?sort=name"))
    assert by_name.index("Ana Martin") < by_name.index("Yann") < by_name.index("Zoé")
    reverse = text(client.get(url + "?sort=-name"))
    assert reverse.index("Zoé") < reverse.index("Ana Martin")
    assert client.get(url + "?sort=evil&show=evil").status_code == 200
    assert client.get(url + "?q=%25_").status_code == 200


def test_approve_and_reject_requests(client, world, make):
    occurrence = make.occurrence(event=world.mine.event, capacity=5, requires_approval=True)
    first = book(occurrence, "a@example.org")
    second = book(occurrence, "b@example.org")
    assert first.status == second.status == "pending"
    log_in(client, world.organiser)
    client.post(f"/manage/bookings/{first.reference}/approve")
    client.post(f"/manage/bookings/{second.reference}/reject")
    db.session.expire_all()
    assert db.session.get(Booking, first.id).status == "confirmed"
    assert db.session.get(Booking, second.id).status == "rejected"
    again = client.post(f"/manage/bookings/{second.reference}/approve", follow_redirects=True)
    assert again.status_code == 200  # explained, not a crash
    assert db.session.get(Booking, second.id).status == "rejected"


def test_add_a_booking_by_hand_same_rules_unless_overridden(client, world, make):
    occurrence = make.occurrence(event=world.mine.event, capacity=2)
    log_in(client, world.organiser)
    url = f"/manage/occurrences/{occurrence.id}/bookings/new"
    data = {"name": "Par Téléphone", "email": "tel@example.org", "seats": 2, "consent": "y"}
    assert client.post(url, data={**data, "locale": "fr"}).status_code == 302
    full = client.post(url, data={**data, "email": "late@example.org", "locale": "fr"})
    assert full.status_code == 200 and "Plus assez de places" in text(full)
    forced = client.post(
        url, data={**data, "email": "late@example.org", "override_capacity": "y", "locale": "fr"}
    )
    assert forced.status_code == 302
    assert rules.seats_taken(occurrence.id) == 4
    taken = db.session.scalar(select(Booking).where(Booking.email == "late@example.org"))
    assert taken.source == "manage"
    no_consent = client.post(url, data={"name": "X", "email": "x@example.org", "seats": 1})
    assert no_consent.status_code == 200
    assert count(Booking, Booking.email == "x@example.org") == 0
    audit = db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.object_id == taken.id, AuditEntry.object_type == "booking"
        )
    )
    assert audit is not None
    assert audit.user_id == world.organiser.id  # the organiser who added it, by hand


def test_check_in_one_tap_and_undo_from_the_door_list(client, world):
    log_in(client, world.organiser)
    door = f"/manage/occurrences/{world.mine.id}/check-in"
    page = text(client.get(door))
    assert "Ana Martin" in page and "0</strong> / 1" in page
    response = client.post(
        f"/manage/bookings/{world.booking.reference}/check-in", data={"next": door}
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(door)
    db.session.expire_all()
    assert db.session.get(Booking, world.booking.id).checked_in_at is not None
    assert "1</strong> / 1" in text(client.get(door))
    client.post(
        f"/manage/bookings/{world.booking.reference}/check-in", data={"undo": "1", "next": door}
    )
    db.session.expire_all()
    assert db.session.get(Booking, world.booking.id).checked_in_at is None
    evil = client.post(
        f"/manage/bookings/{world.booking.reference}/check-in",
        data={"next": "https://evil.example/"},
    )
    assert evil.headers["Location"].startswith("/manage/")


def test_qr_code_opens_the_check_in_page_of_that_booking(client, world, app):
    from calendrier.domain import check_in_codes

    url = check_in_codes.check_in_url(world.booking)
    assert url == f"https://agenda.example.org/manage/bookings/{world.booking.reference}/check-in"
    svg = str(check_in_codes.check_in_qr(world.booking))
    assert svg.startswith("<svg") and "style=" not in svg
    confirmation = text(client.get(f"/bookings/{world.booking.token}"))
    assert 'class="qr-code"' in confirmation and "Montrez ce code" in confirmation
    just_booked = text(client.get(f"/bookings/{world.booking.token}/confirmation"))
    assert 'class="qr-code"' in just_booked
    # Anonymous scan: login first, then back to the booking.
    path = url.removeprefix("https://agenda.example.org")
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and "next=" in anonymous.headers["Location"]
    log_in(client, world.organiser)
    page = text(client.get(path))
    assert "Ana Martin" in page and "Enregistrer l\u2019arrivée" in page


def test_exports_csv_and_xlsx_defuse_formulas(client, world):
    book(world.mine, "evil@example.org", name='=HYPERLINK("http://evil","x")', phone="+33 6 1")
    log_in(client, world.organiser)
    response = client.get(f"/manage/occurrences/{world.mine.id}/attendees.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body), delimiter=";"))  # as Excel set up for France
    assert rows[0][:3] == ["Référence", "Nom", "Adresse e-mail"]
    names = {row[1] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil","x")' in names and "Ana Martin" in names
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    xlsx = client.get(f"/manage/occurrences/{world.mine.id}/attendees.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "Référence"
    cells = [c for row in sheet.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert any(v == '\'=HYPERLINK("http://evil","x")' for row in values for v in row)

    english = client.get(f"/manage/occurrences/{world.mine.id}/attendees.csv?lang=en")
    rows = list(csv.reader(io.StringIO(english.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["Reference", "Name", "Email"]


def test_sign_in_sheet(client, world):
    log_in(client, world.organiser)
    page = text(client.get(f"/manage/occurrences/{world.mine.id}/sign-in-sheet"))
    assert "Ana Martin" in page and "Signature" in page


def test_message_the_attendees_through_the_outbox(client, world, smtp):
    log_in(client, world.organiser)
    url = f"/manage/occurrences/{world.mine.id}/message"
    assert client.post(url, data={"statuses": ["confirmed"], "message": ""}).status_code == 200
    response = client.post(
        url,
        data={"statuses": ["confirmed"], "message": "Rendez-vous devant la halle."},
        follow_redirects=True,
    )
    assert "1 personne" in text(response)
    outbox.deliver()
    [message] = [m for m in smtp.messages if "Rendez-vous" in m.get_body(("plain",)).get_content()]
    assert message["To"] == "ana@example.org"
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "occurrence.message_sent")
    )
    assert entry.user_id == world.organiser.id


def test_organiser_cancels_one_booking(client, world):
    log_in(client, world.organiser)
    client.post(f"/manage/bookings/{world.booking.reference}/cancel", data={"reason": "Doublon"})
    db.session.expire_all()
    assert db.session.get(Booking, world.booking.id).status == "cancelled"


def test_organiser_changes_the_places_of_a_booking_and_the_waiting_list_moves(client, world, make):
    full = make.occurrence(event=world.mine.event, capacity=4, waitlist=True)
    group = book(full, "group@example.org", seats=3, name="Groupe scolaire")
    book(full, "one@example.org", seats=1, name="Une")
    waiting = book(full, "wait@example.org", seats=2, name="Attente")
    assert waiting.status == "waitlisted"
    log_in(client, world.organiser)
    url = f"/manage/bookings/{group.reference}/seats"
    page = text(client.get(f"/manage/occurrences/{full.id}"))
    assert f'action="{url}"' in page and "Modifier les places de Groupe scolaire" in page

    too_many = client.post(url, data={"seats": 4}, follow_redirects=True)
    assert "Il ne reste pas assez de places pour cela." in text(too_many)
    for bad in ("0", "-2", "abc", ""):
        client.post(url, data={"seats": bad})
    db.session.expire_all()
    assert db.session.get(Booking, group.id).seats == 3  # nothing changed by those

    fewer = client.post(url, data={"seats": 1}, follow_redirects=True)
    assert "Les places de Groupe scolaire sont modifiées" in text(fewer)
    db.session.expire_all()
    assert db.session.get(Booking, group.id).seats == 1
    assert db.session.get(Booking, waiting.id).status == "confirmed"  # 2 seats freed, 2 waiting
    kinds = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.booking_id.in_([group.id, waiting.id]))
    ).all()
    assert "seats_changed" in kinds and "promoted" in kinds


# --- dashboard and audit ----------------------------------------------------------


def test_dashboard_draws_charts(client, world, make):
    past = make.occurrence(
        event=world.mine.event,
        starts_at=utcnow().replace(microsecond=0) - timedelta(days=3),
        capacity=10,
    )
    came = Booking(
        occurrence=past,
        reference="PAST-0001",
        token="t" * 40,
        name="Venue",
        email="came@example.org",
        seats=2,
        status="confirmed",
        checked_in_at=utcnow(),
    )
    missed = Booking(
        occurrence=past,
        reference="PAST-0002",
        token="u" * 40,
        name="Absent",
        email="missed@example.org",
        seats=2,
        status="confirmed",
    )
    db.session.add_all([came, missed])
    db.session.commit()
    log_in(client, world.organiser)
    page = text(client.get("/manage/"))
    assert page.count("<svg") >= 3
    assert "50 %" in page  # half of the confirmed places did not come
    assert "1 / 10" in page


def test_audit_log_lists_changes_of_the_organisation_only(client, world):
    log_in(client, world.organiser)
    client.post(f"/manage/bookings/{world.booking.reference}/check-in")
    page = text(client.get("/manage/audit"))
    assert "booking.checked_in" in page and world.organiser.email in page
    client.post("/manage/logout")
    log_in(client, world.stranger)
    assert "booking.checked_in" not in text(client.get("/manage/audit"))


# --- administration ----------------------------------------------------------------


def test_admin_creates_organisation_venue_and_account_with_a_welcome_email(client, world, smtp):
    log_in(client, world.admin)
    client.post("/manage/organisations/new", data={"name": "Studio Folimage"})
    org = db.session.scalar(select(Organisation).where(Organisation.name == "Studio Folimage"))
    assert org.slug == "studio-folimage"
    client.post(
        "/manage/venues/new",
        data={"name": "Salle Méliès", "city": "Valence", "capacity": 80, "organisation_id": 0},
    )
    venue = db.session.scalar(select(Venue).where(Venue.name == "Salle Méliès"))
    assert venue.capacity == 80 and venue.organisation_id is None
    response = client.post(
        "/manage/users/new",
        data={
            "email": "nouvelle@example.org",
            "name": "Nouvelle",
            "organisation_id": org.id,
            "active": "y",
            "locale": "fr",
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "nouvelle@example.org"))
    assert user.organisation_id == org.id and not user.is_admin
    outbox.deliver()
    [welcome] = [m for m in smtp.messages if m["To"] == "nouvelle@example.org"]
    link = re.search(
        r"https://agenda\.example\.org(/manage/reset/\S+)",
        welcome.get_body(("plain",)).get_content(),
    ).group(1)
    client.post("/manage/logout")
    client.post(link, data={"password": "mon nouveau mot", "confirm": "mon nouveau mot"})
    assert (
        client.post(
            "/manage/login", data={"email": "nouvelle@example.org", "password": "mon nouveau mot"}
        ).status_code
        == 302
    )
    duplicate = client.post("/manage/users/new", data={"email": "nouvelle@example.org"})
    assert duplicate.status_code == 403  # logged in as the new organiser now


def test_admin_cannot_lock_themself_out(client, world):
    log_in(client, world.admin)
    response = client.post(
        f"/manage/users/{world.admin.id}/edit",
        data={"organisation_id": 0, "is_admin": "y", "locale": "fr"},  # active unticked
    )
    assert response.status_code == 200
    assert db.session.get(User, world.admin.id).active


# --- passwords ---------------------------------------------------------------------


def test_password_reset_by_email(client, world, smtp):
    response = client.post("/manage/reset", data={"email": world.organiser.email})
    assert response.status_code == 302
    unknown = client.post("/manage/reset", data={"email": "nobody@example.org"})
    assert unknown.status_code == 302  # the same answer: no account enumeration
    outbox.deliver()
    [email] = [m for m in smtp.messages if "mot de passe" in m["Subject"]]
    assert email["To"] == world.organiser.email
    link = re.search(
        r"https://agenda\.example\.org(/manage/reset/\S+)", email.get_body(("plain",)).get_content()
    ).group(1)
    assert client.get(link).status_code == 200
    mismatch = client.post(link, data={"password": "nouveau secret", "confirm": "autre"})
    assert mismatch.status_code == 200
    done = client.post(link, data={"password": "nouveau secret", "confirm": "nouveau secret"})
    assert done.status_code == 302
    assert client.get(link).status_code == 404  # used once
    assert client.get("/manage/reset/garbage").status_code == 404
    login = client.post(
        "/manage/login", data={"email": world.organiser.email, "password": "nouveau secret"}
    )
    assert login.status_code == 302


@pytest.mark.config(RATELIMIT_ENABLED=True, LOGIN_ACCOUNT_RATE_LIMIT="3 per hour")
def test_login_throttling_also_counts_per_account(client, world):
    """Failures are counted per account and address: one address guessing one account is
    stopped, while failures from elsewhere never lock the real person out (issue 17)."""
    statuses = [
        client.post(
            "/manage/login",
            data={"email": world.organiser.email, "password": "nope"},
            environ_base={"REMOTE_ADDR": "192.0.2.1"},
        ).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    other = client.post(
        "/manage/login",
        data={"email": world.stranger.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert other.status_code == 302  # another account is not locked out


@pytest.mark.config(RATELIMIT_ENABLED=True, PASSWORD_RESET_RATE_LIMIT="2 per hour")
def test_password_reset_requests_are_throttled(client, world):
    statuses = [
        client.post("/manage/reset", data={"email": world.organiser.email}).status_code
        for _ in range(3)
    ]
    assert statuses == [302, 302, 429]
