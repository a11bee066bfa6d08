"""Public pages through the test client: /events with its filters, venues, organisers."""

import html
from datetime import timedelta

import pytest

from calendrier.timeutil import utcnow

# Fixed dates (a March 2030 month, its weekdays) are the point here: run on a fixed day.
pytestmark = pytest.mark.clock


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_events_page_filters_and_keeps_the_filters_in_its_links(client, make):
    halle = make.venue(slug="grande-halle", name="Grande halle")
    visit = make.occurrence(venue=halle, event=make.event(kind="visit", title="Visite du site"))
    talk = make.occurrence(event=make.event(kind="talk", title="Rencontre animée"))

    page = text(client.get("/events"))
    assert "Visite du site" in page and "Rencontre animée" in page
    assert "2 dates trouvées" in page

    filtered = text(client.get("/events?kind=visit&venue=grande-halle"))
    assert "Visite du site" in filtered and "Rencontre animée" not in filtered
    assert "1 date trouvée" in filtered
    assert "/calendar.ics?kind=visit&venue=grande-halle" in filtered
    assert "webcal://agenda.example.org/calendar.ics?kind=visit&venue=grande-halle" in filtered
    assert "calendar.google.com/calendar/render?cid=webcal" in filtered
    assert 'href="/venues/grande-halle"' in filtered
    del visit, talk


def test_events_page_explains_bad_filters_instead_of_failing(client, make):
    make.occurrence()
    response = client.get("/events?from=hier&kind=rave&page=abc")
    assert response.status_code == 200
    assert 'aria-invalid="true"' in text(response)


def test_events_page_paginates(client, make):
    event = make.event(title="Visite hebdomadaire")
    venue = make.venue()
    start = utcnow() + timedelta(days=1)
    for i in range(25):
        make.occurrence(event=event, venue=venue, starts_at=start + timedelta(days=i))
    first = text(client.get("/events"))
    assert first.count("Visite hebdomadaire") == 20
    assert "Page 1 sur 2" in first
    assert 'href="/events?page=2"' in first
    second = text(client.get("/events?page=2"))
    assert second.count("Visite hebdomadaire") == 5
    assert client.get("/events?page=9").status_code == 404


def test_venue_page_shows_address_access_map_link_and_what_is_on(client, make):
    halle = make.venue(slug="grande-halle", name="Grande halle", access="Accès de plain-pied.")
    make.occurrence(venue=halle, event=make.event(title="Visite du site"))
    page = text(client.get("/venues/grande-halle"))
    assert "1 rue de Chabeuil, 26500 Bourg-lès-Valence" in page
    assert "Accès de plain-pied." in page
    assert "https://www.openstreetmap.org/?mlat=44.94800&mlon=4.89400" in page
    assert "Visite du site" in page
    assert client.get("/venues/nowhere").status_code == 404


def test_organisation_page_lists_its_events(client, make):
    org = make.organisation(slug="festival", name="Festival des images animées")
    make.occurrence(event=make.event(organisation=org, title="Ouverture du festival"))
    make.occurrence(event=make.event(title="Autre chose"))
    page = text(client.get("/organisations/festival"))
    assert "Festival des images animées" in page
    assert "Ouverture du festival" in page and "Autre chose" not in page


def paris(year, month, day, hour=0, minute=0):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Paris"))


def test_month_view_puts_each_date_on_its_day_with_its_state(client, make):
    make.occurrence(
        starts_at=paris(2030, 3, 8, 17, 30), event=make.event(title="Visite du vendredi")
    )
    make.occurrence(starts_at=paris(2030, 3, 8, 23, 30), event=make.event(title="Nuit du court"))
    make.occurrence(
        starts_at=paris(2030, 3, 20, 20), capacity=0, event=make.event(title="Séance complète")
    )
    make.occurrence(starts_at=paris(2030, 4, 1, 10), event=make.event(title="En avril"))
    page = text(client.get("/calendar/2030/3"))
    assert "<h1>Mars 2030</h1>" in page
    assert "Visite du vendredi" in page and "Nuit du court" in page
    assert "En avril" not in page
    day8 = page.split("vendredi 8 mars", 1)[1].split("</td>")[0]
    assert "17 h 30" in day8 and "Visite du vendredi" in day8 and "23 h 30" in day8
    day20 = page.split("mercredi 20 mars", 1)[1].split("</td>")[0]
    assert "Séance complète" in day20 and "Complet" in day20
    assert 'href="/calendar/2030/2"' in page and 'href="/calendar/2030/4"' in page
    assert client.get("/calendar/2030/13").status_code == 404


def test_month_view_keeps_the_filters_and_links_to_the_rest_of_a_busy_day(client, make):
    event = make.event(kind="visit", title="Visite")
    venue = make.venue()
    for hour in range(9, 15):
        make.occurrence(event=event, venue=venue, starts_at=paris(2030, 3, 8, hour))
    make.occurrence(starts_at=paris(2030, 3, 8, 16), event=make.event(kind="talk"))
    page = text(client.get("/calendar/2030/3?kind=visit"))
    assert "2 autres dates" in page
    assert "/events?kind=visit&from=2030-03-08&to=2030-03-08" in page
    assert 'href="/calendar/2030/4?kind=visit"' in page


def test_week_agenda_lists_the_seven_days_from_monday(client, make):
    make.occurrence(starts_at=paris(2030, 3, 8, 17, 30), event=make.event(title="Visite"))
    response = client.get("/calendar/week/2030-03-06")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/calendar/week/2030-03-04")
    page = text(client.get("/calendar/week/2030-03-04"))
    assert "Semaine du 4 mars 2030" in page
    for day in ("Lundi 4 mars", "Vendredi 8 mars", "Dimanche 10 mars"):
        assert day in page
    assert "17 h 30" in page and "Visite" in page
    assert 'href="/calendar/week/2030-03-11"' in page
    assert client.get("/calendar/week/not-a-date").status_code == 404


def test_festival_page_shows_its_programme_day_by_day(client, make):
    festival = make.event(kind="festival", title="Festival des images animées")
    make.occurrence(event=festival, starts_at=paris(2030, 3, 8, 10))
    opening = make.event(title="Ouverture", parent=festival, organisation=festival.organisation)
    short = make.event(title="Courts métrages", parent=festival, organisation=festival.organisation)
    make.occurrence(event=opening, starts_at=paris(2030, 3, 8, 18))
    make.occurrence(event=short, starts_at=paris(2030, 3, 9, 14))
    make.occurrence(event=short, starts_at=paris(2030, 3, 10, 11))
    page = text(client.get(f"/events/{festival.slug}"))
    programme = page.split('id="programme-title"')[1]
    assert programme.index("Vendredi 8 mars") < programme.index("Ouverture")
    assert programme.index("Ouverture") < programme.index("Samedi 9 mars")
    assert programme.index("Samedi 9 mars") < programme.index("Courts métrages")
    assert "Dimanche 10 mars" in programme
    child = text(client.get(f"/events/{short.slug}"))
    assert f'href="/events/{festival.slug}"' in child


def test_event_page_is_described_for_search_engines_and_calendars(client, make):
    import json
    import re

    occurrence = make.occurrence(
        starts_at=paris(2030, 3, 8, 17, 30), capacity=10, event=make.event(title="Visite")
    )
    slug = occurrence.event.slug
    page = text(client.get(f"/events/{slug}"))
    data = json.loads(
        re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)[1]
    )
    [item] = data
    assert item["@type"] == "Event"
    assert item["startDate"] == "2030-03-08T17:30:00+01:00"
    assert item["offers"]["availability"] == "https://schema.org/InStock"
    assert item["location"]["address"]["postalCode"] == "26500"
    assert '<meta property="og:title" content="Visite">' in page
    assert f'<meta property="og:url" content="https://agenda.example.org/events/{slug}">' in page
    assert "vendredi 8 mars 2030 à 17 h 30" in page  # not this year: the year is written
    assert "calendar.google.com/calendar/render?action=TEMPLATE" in page
    assert "dates=20300308T163000Z%2F20300308T180000Z" in page
    assert f'href="/events/{slug}.ics"' in page


def test_full_date_is_marked_sold_out_for_search_engines(client, make):
    occurrence = make.occurrence(capacity=0, waitlist=True)
    page = text(client.get(f"/events/{occurrence.event.slug}"))
    assert "https://schema.org/SoldOut" in page
    assert "liste d'attente" in page


def test_sitemap_and_robots(client, make):
    occurrence = make.occurrence()
    draft = make.event(status="draft")
    sitemap = text(client.get("/sitemap.xml"))
    assert f"<loc>https://agenda.example.org/events/{occurrence.event.slug}</loc>" in sitemap
    assert draft.slug not in sitemap
    assert f"/venues/{occurrence.venue.slug}</loc>" in sitemap
    robots = text(client.get("/robots.txt"))
    assert "Sitemap: https://agenda.example.org/sitemap.xml" in robots
    assert "Disallow: /bookings/" in robots


def test_language_switch_keeps_the_page_and_is_remembered(client, make):
    make.occurrence(starts_at=paris(2030, 3, 8, 17, 30), event=make.event(title="Visite"))
    page = text(client.get("/calendar/week/2030-03-04?kind=visit"))
    assert 'href="/calendar/week/2030-03-04?kind=visit&lang=en"' in page
    english = text(client.get("/calendar/week/2030-03-04?kind=visit&lang=en"))
    assert '<html lang="en">' in english
    assert "Friday 8 March" in english and "5:30 PM" in english
    assert "Week of 4 March 2030" in english
    again = text(client.get("/calendar/week/2030-03-04"))
    assert '<html lang="en">' in again
    back = text(client.get("/?lang=fr"))
    assert '<html lang="fr">' in back


def test_browser_language_is_followed_when_nothing_was_chosen(client):
    english = text(client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert '<html lang="en">' in english
    french = text(client.get("/", headers={"Accept-Language": "de-DE,fr;q=0.5"}))
    assert '<html lang="fr">' in french


def test_times_on_the_hour_are_written_short(client, make):
    make.occurrence(starts_at=paris(2030, 3, 8, 17), event=make.event(title="Visite"))
    assert "17 h</time> \u2013 18 h 30" in text(client.get("/calendar/week/2030-03-04"))
    assert "vendredi 8 mars 2030 à 17 h" in text(client.get("/events?from=2030-03-08"))
    assert "Friday 8 March 2030 at 5 PM" in text(client.get("/events?from=2030-03-08&lang=en"))


def test_each_date_shows_its_state_at_a_glance(client, make):
    from calendrier.domain import bookings as rules

    now = utcnow()
    event = make.event(title="Visite")
    venue = make.venue()

    def date_on(day, **values):
        return make.occurrence(
            event=event, venue=venue, starts_at=now + timedelta(days=day), **values
        )

    date_on(1, capacity=40)
    last = date_on(2, capacity=10, max_seats_per_booking=8)
    rules.book(last.id, rules.BookingRequest(name="A", email="a@example.org", seats=8))
    full = date_on(3, capacity=2)
    rules.book(full.id, rules.BookingRequest(name="A", email="a@example.org", seats=2))
    waitlist = date_on(4, capacity=1, waitlist=True)
    rules.book(waitlist.id, rules.BookingRequest(name="A", email="a@example.org", seats=1))
    date_on(5, booking_opens_at=paris(2030, 1, 6, 9))
    date_on(6, booking_closes_at=now - timedelta(hours=1))
    date_on(7, status="cancelled", cancel_reason="Intempéries")

    page = text(client.get(f"/events/{event.slug}"))
    for label in (
        "40 places restantes",
        "Dernières 2 places !",
        "Complet",
        "Complet : inscrivez-vous sur la liste d'attente",
        "Ouverture des réservations le dimanche 6 janvier 2030 à 9 h",
        "Réservations fermées",
        "Annulé",
        "Intempéries",
    ):
        assert label in page, label
