"""The organiser's API tokens page in a real browser: readable, revocable by keyboard."""

from __future__ import annotations

from playwright.sync_api import expect

from calendrier.accounts import issue_api_token
from calendrier.extensions import db

from .test_manage_browser import PASSWORD, log_in


def test_tokens_page_is_accessible_and_revokes_with_the_keyboard(page, live_server, axe, make):
    organiser = make.user(password=PASSWORD)
    issue_api_token(organiser)
    db.session.commit()
    log_in(page, live_server, organiser.email)
    page.goto(live_server.url("/manage/tokens"))
    expect(page.get_by_role("heading", name="Mes jetons d'API")).to_be_visible()
    axe(page)
    page.get_by_role("button", name="Révoquer", exact=False).first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("révoqué", exact=True)).to_be_visible()
    axe(page)
