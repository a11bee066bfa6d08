"""Trainings in a real browser: the door in sittings on a phone, the feedback form with the
keyboard, the certificates page; axe-core on each."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from calendrier.domain import trainings
from calendrier.extensions import db
from calendrier.models import Feedback

from ..test_trainings import book, five_days, move_into_the_past
from .test_manage_browser import log_in


def present(booking) -> set[int]:
    """Read the marks, then end the test's transaction so the server may write again."""
    db.session.expire_all()
    marks = trainings.present_at(booking)
    db.session.commit()
    return marks


def test_check_in_in_sittings_on_a_phone(phone, live_server, axe, make):
    occurrence = five_days(make)
    booking = book(occurrence, name="Ana Martin")
    user = make.user(organisation=occurrence.event.organisation)
    log_in(phone, live_server, user.email)
    phone.goto(live_server.url(f"/manage/occurrences/{occurrence.id}/check-in"))
    axe(phone)
    phone.get_by_label("Séance").select_option("3")
    phone.get_by_role("button", name="Afficher").click()
    phone.wait_for_url(re.compile(r"sitting=3"))
    phone.get_by_role("button", name="Arrivé").click()
    phone.wait_for_url(re.compile(r"sitting=3"))
    assert "1 / 1" in phone.locator(".arrivals").inner_text()
    axe(phone)
    assert present(booking) == {3}
    phone.get_by_role("button", name="Annuler l'arrivée").click()
    expect(phone.get_by_role("button", name="Arrivé")).to_be_visible()
    assert present(booking) == set()

    # the QR code's page asks which sitting too
    phone.goto(live_server.url(f"/manage/bookings/{booking.reference}/check-in?sitting=5"))
    axe(phone)
    phone.get_by_role("button", name=re.compile("Enregistrer l.arrivée")).click()
    expect(phone.locator(".flash-success").first).to_be_visible()
    assert present(booking) == {5}


def test_feedback_form_and_certificates_page(page, live_server, axe, make):
    occurrence = five_days(make)
    booking = book(occurrence, name="Ana Martin")
    for position in range(4):
        trainings.mark(booking.id, position)
    move_into_the_past(occurrence)

    page.goto(live_server.url(f"/bookings/{booking.token}"))
    axe(page)
    page.get_by_role("link", name="Donner mon avis sur cette date").click()
    axe(page)
    page.get_by_label("4 : bien").check()
    page.get_by_label("Votre commentaire (facultatif)").fill("Très utile.")
    page.get_by_label("Votre commentaire (facultatif)").press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success").first).to_be_visible()
    axe(page)
    answer = db.session.scalar(select(Feedback))
    assert (answer.rating, answer.comment) == (4, "Très utile.")
    db.session.commit()

    user = make.user(organisation=occurrence.event.organisation)
    log_in(page, live_server, user.email)
    axe(page)  # the dashboard, with its feedback chart
    page.goto(live_server.url(f"/manage/occurrences/{occurrence.id}/feedback"))
    axe(page)
    assert "Attestation de Ana Martin (PDF)" in page.content()
