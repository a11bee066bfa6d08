"""End-to-end journeys in headless Chromium, with the keyboard alone where a person could
use nothing else, and axe-core on the pages that matter most."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from calendrier.domain import bookings as rules
from calendrier.timeutil import utcnow

PARIS = ZoneInfo("Europe/Paris")


def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until ``target`` has the focus, and check that the focus can be seen."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            outline = target.evaluate(
                "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth]; }"
            )
            assert outline[0] != "none" and outline[1] != "0px", f"focus not visible on {target}"
            return
    raise AssertionError(f"{target} cannot be reached with the Tab key")


def next_week_at(hour: int, minute: int = 0) -> datetime:
    day = (utcnow().astimezone(PARIS) + timedelta(days=7)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


def test_finding_an_event_with_the_filters_using_the_keyboard(page, live_server, axe, make):
    halle = make.venue(slug="grande-halle", name="Grande halle")
    make.occurrence(
        venue=halle,
        starts_at=next_week_at(17, 30),
        event=make.event(kind="visit", title="Visite de la Cartoucherie"),
    )
    make.occurrence(
        starts_at=next_week_at(20),
        event=make.event(kind="screening", title="Courts métrages d'école"),
    )
    make.occurrence(
        starts_at=next_week_at(21),
        event=make.event(kind="screening", title="Nuit de l'animation"),
    )
    page.goto(live_server.url("/"))
    axe(page)  # the home page

    tab_to(page, page.get_by_role("link", name="Tous les événements", exact=True))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Tous les événements")
    expect(page.get_by_role("heading", name="3 dates trouvées")).to_be_visible()

    tab_to(page, page.get_by_label("Rechercher"))
    page.keyboard.type("école")
    tab_to(page, page.get_by_label("Type"))
    page.keyboard.type("Projection")
    tab_to(page, page.get_by_role("button", name="Afficher les événements"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="1 date trouvée")).to_be_visible()
    assert re.search(r"q=%C3%A9cole", page.url) and "kind=screening" in page.url
    result = page.get_by_role("link", name="Courts métrages d'école")
    expect(result).to_be_visible()
    expect(page.get_by_role("link", name="Nuit de l'animation")).to_have_count(0)
    # the subscribe links follow the filters shown
    webcal = page.get_by_role("link", name=re.compile("webcal")).get_attribute("href")
    assert webcal.startswith("webcal://127.0.0.1:") and "kind=screening" in webcal
    axe(page)

    tab_to(page, result)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Courts métrages d'école")


@pytest.mark.clock
def test_month_view_shows_each_date_on_its_day_and_moves_between_months(
    page, live_server, axe, make
):
    make.occurrence(
        starts_at=datetime(2030, 3, 8, 17, 30, tzinfo=PARIS),
        event=make.event(title="Visite du vendredi"),
    )
    make.occurrence(
        starts_at=datetime(2030, 4, 2, 10, tzinfo=PARIS), event=make.event(title="Atelier d'avril")
    )
    page.goto(live_server.url("/calendar/2030/3"))
    expect(page.locator("h1")).to_have_text("Mars 2030")
    cell = page.locator("td", has_text="vendredi 8 mars")
    expect(cell.get_by_role("link", name=re.compile("Visite du vendredi"))).to_be_visible()
    expect(cell).to_contain_text("17 h 30")
    axe(page)

    tab_to(page, page.get_by_role("link", name="Mois suivant"))
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Avril 2030")
    link = page.get_by_role("link", name=re.compile("Atelier d'avril"))
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Atelier d'avril")


@pytest.mark.clock
def test_month_view_on_a_phone_is_a_list_of_the_days_with_something_on(phone, live_server, make):
    make.occurrence(
        starts_at=datetime(2030, 3, 8, 17, 30, tzinfo=PARIS),
        event=make.event(title="Visite du vendredi"),
    )
    phone.goto(live_server.url("/calendar/2030/3"))
    expect(phone.get_by_text("vendredi 8 mars", exact=True)).to_be_visible()
    expect(phone.locator("td.empty").first).to_be_hidden()
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390


@pytest.mark.clock
def test_switching_language_keeps_the_page_and_is_remembered(page, live_server, make):
    occurrence = make.occurrence(
        starts_at=datetime(2030, 3, 8, 17, 30, tzinfo=PARIS), event=make.event(title="Visite")
    )
    slug = occurrence.event.slug
    page.goto(live_server.url(f"/events/{slug}"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator(".dates time").first).to_have_text("vendredi 8 mars 2030 à 17 h 30")

    tab_to(page, page.get_by_role("link", name=re.compile("^English")))
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert f"/events/{slug}" in page.url
    expect(page.locator(".dates time").first).to_have_text("Friday 8 March 2030 at 5:30 PM")
    expect(page.get_by_role("heading", name="Book")).to_be_visible()

    tab_to(page, page.get_by_role("link", name="Calendar", exact=True))
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # remembered
    expect(page.get_by_role("link", name="Previous month")).to_be_visible()

    tab_to(page, page.get_by_role("link", name=re.compile("^Français")))
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name="Mois précédent")).to_be_visible()


def test_booking_on_a_phone_with_a_mistake_first(phone, live_server, axe, make):
    occurrence = make.occurrence(
        capacity=10,
        max_seats_per_booking=4,
        starts_at=next_week_at(17, 30),
        event=make.event(title="Visite guidée du site"),
    )
    slug = occurrence.event.slug
    phone.goto(live_server.url(f"/events/{slug}"))
    expect(phone.get_by_text("10 places restantes")).to_be_visible()
    axe(phone)  # an event page
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390

    phone.get_by_label("Nom et prénom", exact=True).fill("Ana Martin")
    phone.get_by_label("Adresse e-mail", exact=True).fill("ana@example")
    phone.get_by_label("Nombre de places", exact=True).fill("5")
    phone.get_by_role("button", name="Réserver").tap()

    summary = phone.get_by_role("alert")
    expect(summary).to_contain_text("Veuillez corriger les erreurs")
    expect(summary).to_be_focused()
    expect(phone.get_by_label("Adresse e-mail", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    axe(phone)  # the booking form showing its errors

    phone.get_by_label("Adresse e-mail", exact=True).fill("ana@example.org")
    phone.get_by_label("Nombre de places", exact=True).fill("2")
    phone.get_by_label(re.compile("J'accepte")).tap()
    phone.get_by_role("button", name="Réserver").tap()

    expect(phone.locator("h1")).to_have_text("Votre réservation est confirmée")
    reference = phone.locator(".reference").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", reference)
    axe(phone)  # the confirmation page
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert rules.seats_taken(occurrence.id) == 2


def test_booking_with_the_keyboard_alone(page, live_server, make):
    event = make.event(title="Rencontre avec une réalisatrice")
    venue = make.venue()
    make.occurrence(event=event, venue=venue, starts_at=next_week_at(18), capacity=30)
    second = make.occurrence(event=event, venue=venue, starts_at=next_week_at(20), capacity=30)
    second_id = second.id
    page.goto(live_server.url(f"/events/{event.slug}"))

    # the second date, chosen from the list of dates
    tab_to(page, page.get_by_role("link", name=re.compile("Réserver cette date")).nth(1))
    page.keyboard.press("Enter")
    expect(page.get_by_role("radio").nth(1)).to_be_checked()
    tab_to(page, page.get_by_label("Nom et prénom", exact=True))
    page.keyboard.type("Ana Martin")
    page.keyboard.press("Tab")
    page.keyboard.type("ana@example.org")
    tab_to(page, page.get_by_label(re.compile("J'accepte")))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Réserver"))
    page.keyboard.press("Enter")

    expect(page.locator("h1")).to_have_text("Votre réservation est confirmée")
    tab_to(page, page.get_by_role("link", name="Voir ou annuler ma réservation"))
    page.keyboard.press("Enter")
    expect(page.locator(".reference")).to_be_visible()
    assert rules.seats_taken(second_id) == 1


def test_the_consent_box_leads_to_the_privacy_notice(page, live_server, axe, make):
    occurrence = make.occurrence(starts_at=next_week_at(18), event=make.event(title="Visite"))
    page.goto(live_server.url(f"/events/{occurrence.event.slug}"))
    box = page.get_by_label(re.compile("J'accepte"))
    expect(box).to_have_accessible_description(re.compile("Lire la politique de confidentialité"))
    link = page.get_by_role("link", name=re.compile("^Lire la politique de confidentialité"))
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Politique de confidentialité")
    expect(page.get_by_text("conservés jusqu'à 365 jours", exact=False)).to_be_visible()
    axe(page)
