"""The monthly letter at phone width, the subscription pages, and the embed framed by a
partner's page on another origin, in Chromium, with axe."""

from __future__ import annotations

import tempfile
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from calendrier.domain import newsletter, outbox
from calendrier.extensions import db
from calendrier.models import NewsletterSubscriber, OutboxMessage
from calendrier.outreach.views import embed_snippet
from calendrier.timeutil import utcnow

PARIS = ZoneInfo("Europe/Paris")
SCREENSHOTS = Path(tempfile.gettempdir()) / "calendrier-screenshots"  # looked at by hand


def _programme(make):
    today = utcnow().astimezone(PARIS).date()
    first = newsletter.next_month(today.replace(day=1))
    festival = make.event(
        kind="festival",
        title="Festival international du film d'animation",
        summary="Une semaine de projections, de rencontres et d'ateliers pour tous les âges.",
    )
    visit = make.event(title="Visite des studios", summary="Les coulisses de la fabrication.")
    for day, event, capacity in ((4, visit, 12), (11, visit, 2), (18, festival, 300)):
        start = datetime(first.year, first.month, day, 14, 30, tzinfo=PARIS)
        make.occurrence(event=event, starts_at=start, capacity=capacity)
    return newsletter.month_key(first)


def test_the_letter_reads_well_on_a_phone(phone, live_server, axe, make, app):
    month = _programme(make)
    newsletter.subscribe("ana@example.org", "fr", True)
    subscriber = db.session.scalar(select(NewsletterSubscriber))
    newsletter.confirm(subscriber.token)
    newsletter.save_introduction(
        month, "Le festival revient, et les studios ouvrent leurs portes.", ""
    )
    newsletter.send_month(month)
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "newsletter"))
    message = outbox.build_message(row)
    db.session.commit()
    live_server.url("/")  # the letter's links point at the live server

    phone.set_content(message.html)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the letter scrolls sideways on a phone ({width}px)"
    expect(phone.get_by_role("heading", level=1)).to_contain_text("Les actus du mois")
    expect(phone.get_by_role("link", name="Se désabonner")).to_be_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "newsletter-phone.png"), full_page=True)
    axe(phone)


def test_subscribing_and_the_archive_in_the_browser(page, live_server, axe, make):
    month = _programme(make)
    page.goto(live_server.url("/newsletter"))
    axe(page)
    page.fill("input[name=email]", "bob@example.org")
    page.check("input[name=language][value=en]")
    page.check("input[name=consent]")
    page.get_by_role("button", name="S'abonner").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Consultez votre boîte de réception")
    axe(page)
    row = db.session.scalar(select(NewsletterSubscriber))
    assert row.locale == "en" and row.confirmed_at is None
    page.goto(live_server.url(f"/newsletter/confirm/{row.token}"))
    axe(page)
    page.get_by_role("button", name="Oui, envoyez-moi les actus du mois").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Abonnement confirmé")
    db.session.rollback()
    newsletter.send_month(month)
    page.goto(live_server.url(f"/newsletter/{month}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les actus du mois")
    axe(page)
    page.goto(live_server.url(f"/newsletter/unsubscribe/{row.token}"))
    axe(page)
    page.get_by_role("button", name="Se désabonner").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Désabonnement effectué")


class _Host:
    """A partner's page, on another origin, that pastes the snippet."""

    def __init__(self):
        host = self
        self.html = b""

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(host.html)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner():
    host = _Host()
    yield host
    host.stop()


def test_a_partners_page_frames_the_embed_which_follows_its_height(
    page, live_server, axe, make, app, partner
):
    _programme(make)
    app.config["EMBED_ORIGINS"] = partner.origin
    with app.test_request_context():
        snippet = embed_snippet()  # reads the site's settings: before the server may write
    live_server.url("/")  # ends the test's transaction (SQLite's write lock)
    partner.html = (
        '<!doctype html><html lang="fr"><head><title>Studio partenaire</title></head>'
        f"<body><main><h1>Notre agenda</h1>{snippet}</main></body></html>"
    ).encode()
    page.goto(partner.origin + "/")
    frame = page.frame_locator("iframe[data-calendrier-embed]")
    expect(frame.get_by_role("link", name="Visite des studios").first).to_be_visible()
    # embed-host.js sets the frame to the height its list asks for (not the snippet's 480px).
    page.wait_for_function(
        "() => document.querySelector('iframe[data-calendrier-embed]').style.height !== '480px'"
    )
    embed = page.frame(url=lambda url: "/embed" in url)
    axe(embed)


def test_the_admin_pages_of_the_letter_sources_and_embed(page, live_server, axe, make):
    from .test_manage_browser import PASSWORD, log_in

    _programme(make)
    admin = make.user(is_admin=True, password=PASSWORD)
    make.organisation(slug="reseau", name="Le réseau")
    email = admin.email
    log_in(page, live_server, email)
    page.goto(live_server.url("/manage/newsletter"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Les actus du mois")
    expect(page.locator(".letter-preview")).to_contain_text("Visite des studios")
    axe(page)
    page.fill("textarea[name=introduction]", "Un mois riche en images.")
    page.get_by_role("button", name="Enregistrer l'introduction").click()
    expect(page.locator(".flashes")).to_contain_text("Introduction enregistrée")
    expect(page.locator(".letter-preview")).to_contain_text("Un mois riche en images.")
    page.goto(live_server.url("/manage/sources"))
    axe(page)
    page.fill("input[name=url]", "not a feed")
    page.get_by_role("button", name="Suivre").click()
    expect(page.locator(".field.has-error")).to_be_visible()
    axe(page)
    page.goto(live_server.url("/manage/embed"))
    expect(page.locator("#embed-snippet")).to_contain_text("data-calendrier-embed")
    axe(page)
