"""The organiser area in a real browser: a weekly visit from creation to the door."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlalchemy import select

from calendrier.extensions import db
from calendrier.models import Booking, Occurrence
from calendrier.timeutil import utcnow

from .conftest import _context

PASSWORD = "correct horse battery"
PARIS = ZoneInfo("Europe/Paris")


def log_in(page, live_server, email):
    page.goto(live_server.url("/manage/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(r"/manage/$"))


def test_weekly_visit_created_booked_and_checked_in_on_a_phone(
    browser, page, phone, live_server, axe, make
):
    organiser = make.user(password=PASSWORD)
    venue = make.venue(name="Grande halle", capacity=40)
    email, venue_slug = organiser.email, venue.slug
    today = utcnow().astimezone(PARIS).date()
    first, last = today + timedelta(days=1), today + timedelta(days=70)
    weekday = first.weekday()

    # The organiser, at their desk, creates the visit and its weekly dates.
    log_in(page, live_server, email)
    axe(page)
    page.get_by_role("link", name="Nouvel événement").first.click()
    page.fill("input[name=title]", "Visite guidée du site")
    page.select_option("select[name=kind]", "visit")
    page.fill("input[name=summary]", "Une heure et demie dans l'ancienne cartoucherie.")
    axe(page)
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_role("link", name="Ajouter des dates récurrentes").click()
    # the whole form page, loaded, before it is filled in: a box ticked while the page was
    # still arriving was once found unticked (seen once, on a quiet machine)
    expect(page.get_by_role("heading", name="Ajouter des dates récurrentes")).to_be_visible()
    page.wait_for_load_state("load")
    page.check(f"input[name=weekdays][value='{weekday}']")
    page.fill("input[name=start_time]", "17:30")
    page.fill("input[name=end_time]", "19:00")
    page.fill("input[name=first_day]", first.isoformat())
    page.fill("input[name=last_day]", last.isoformat())
    page.select_option("select[name=venue]", venue_slug)
    page.fill("input[name=capacity]", "25")
    page.check("input[name=waitlist]")
    axe(page)
    page.get_by_role("button", name="Ajouter les dates").click()
    expect(page.locator(".flashes")).to_contain_text("10 dates ajoutées")
    axe(page)
    event_url = page.url

    # A person books the first date from the public page.
    visitor = _context(browser, viewport={"width": 1280, "height": 900}).new_page()
    visitor.goto(live_server.url("/events/visite-guidee-du-site"))
    visitor.locator("input[name=occurrence]").first.check()
    visitor.fill("input[name=name]", "Ana Martin")
    visitor.fill("input[name=email]", "ana@example.org")
    visitor.fill("input[name=seats]", "2")
    visitor.check("input[name=consent]")
    visitor.get_by_role("button", name="Réserver").click()
    expect(visitor.locator("h1")).to_contain_text("Votre réservation est confirmée")
    assert visitor.locator("svg.qr-code").is_visible()  # the code to show at the door
    reference = visitor.locator(".reference").first.inner_text().strip()
    visitor.context.close()

    # At the door, on a phone: the date, the door list, one tap, and undo.
    log_in(phone, live_server, email)
    phone.get_by_role("link", name=re.compile(first.strftime("%-d"))).first.click()
    expect(phone.locator(".totals")).to_contain_text("2 / 25")
    phone.get_by_role("link", name="Accueil à l'entrée").click()
    axe(phone)
    row = phone.locator(f"#booking-{reference}")
    assert "Ana Martin" in row.inner_text()
    row.get_by_role("button", name="Arrivé").tap()
    expect(row).to_contain_text("arrivé·e à")
    expect(phone.locator(".arrivals")).to_contain_text("2 / 2")
    axe(phone)
    row.get_by_role("button", name="Annuler l'arrivée").tap()
    expect(phone.locator(".arrivals")).to_contain_text("0 / 2")
    expect(row).not_to_contain_text("arrivé·e à")

    # The QR code on the confirmation opens this booking's check-in page.
    phone.goto(live_server.url(f"/manage/bookings/{reference}/check-in"))
    assert "Ana Martin" in phone.locator("h1").inner_text()
    axe(phone)
    phone.get_by_role("button", name=re.compile("Enregistrer l.arrivée")).tap()
    expect(phone.locator(".flashes")).to_contain_text("Ana Martin est arrivé·e.")
    expect(phone.get_by_text(re.compile("Arrivé·e à"))).to_be_visible()

    page.goto(event_url)
    db.session.rollback()
    booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
    assert booking.checked_in_at is not None and booking.seats == 2
    dates = db.session.scalars(
        select(Occurrence).where(Occurrence.event_id == booking.occurrence.event_id)
    ).all()
    assert len(dates) == 10
    assert {d.starts_at.astimezone(PARIS).strftime("%a %H:%M") for d in dates} == {
        first.strftime("%a") + " 17:30"
    }
    db.session.commit()


def test_organiser_pages_have_no_serious_accessibility_violation(page, live_server, axe, make):
    occurrence = make.occurrence(capacity=12, venue=make.venue(capacity=40))
    festival = make.event(kind="festival", organisation=occurrence.event.organisation)
    admin = make.user(password=PASSWORD, is_admin=True, organisation=None)
    from calendrier.domain import bookings as rules

    booking = rules.book(
        occurrence.id, rules.BookingRequest(name="Ana Martin", email="ana@example.org", seats=2)
    ).booking
    o, e, f = occurrence.id, occurrence.event_id, festival.id
    reference, venue_id, admin_id = booking.reference, occurrence.venue_id, admin.id
    org_id = occurrence.event.organisation_id
    email = admin.email

    page.goto(live_server.url("/manage/login"))
    axe(page)
    page.goto(live_server.url("/manage/reset"))
    axe(page)
    log_in(page, live_server, email)
    paths = [
        "/manage/",
        "/manage/occurrences",
        "/manage/events",
        "/manage/events/new",
        f"/manage/events/{e}",
        f"/manage/events/{f}",
        f"/manage/events/{e}/edit",
        f"/manage/events/{e}/duplicate",
        f"/manage/events/{e}/occurrences/new",
        f"/manage/events/{e}/occurrences/recurring",
        f"/manage/occurrences/{o}",
        f"/manage/occurrences/{o}/edit",
        f"/manage/occurrences/{o}/cancel",
        f"/manage/occurrences/{o}/check-in",
        f"/manage/occurrences/{o}/bookings/new",
        f"/manage/occurrences/{o}/message",
        f"/manage/occurrences/{o}/sign-in-sheet",
        f"/manage/bookings/{reference}/check-in",
        "/manage/venues",
        f"/manage/venues/{venue_id}/edit",
        "/manage/organisations",
        f"/manage/organisations/{org_id}/edit",
        "/manage/users",
        f"/manage/users/{admin_id}/edit",
        "/manage/audit",
        "/manage/personal-data",
    ]
    for path in paths:
        response = page.goto(live_server.base + path)
        assert response.status == 200, path
        axe(page)
    # The erasure's confirmation step, reached with the keyboard alone.
    page.goto(live_server.base + "/manage/personal-data")
    page.get_by_label("Adresse e-mail de la personne").fill("ana@example.org")
    page.get_by_role("button", name="Effacer…").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Effacer maintenant")).to_be_visible()
    axe(page)
    # A form sent back with errors is accessible too.
    page.goto(live_server.base + f"/manage/events/{e}/occurrences/new")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    axe(page)
