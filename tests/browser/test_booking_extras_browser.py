"""The booking form with registration questions, a wheelchair box and group fields,
and the accessibility of an event, in a real browser: axe finds nothing serious."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from calendrier.domain import questions
from calendrier.extensions import db
from calendrier.models import Booking

from .test_journeys import next_week_at


def test_booking_form_with_questions_passes_axe_and_books(phone, live_server, axe, make):
    venue = make.venue(accessibility=" wheelchair hearing_loop ", access="Entrée rue Jean-Macé")
    occurrence = make.occurrence(
        venue=venue,
        capacity=20,
        wheelchair_spaces=2,
        groups=True,
        max_group_size=30,
        accessibility=" sign_language relaxed ",
        starts_at=next_week_at(14),
        event=make.event(title="Projection relax"),
    )
    event_id = occurrence.event_id
    questions.create_question(event_id, label="Employeur", type="text", required=True)
    questions.create_question(
        event_id, label="Financement", type="choice", choices=["OPCO", "Personnel"], required=True
    )
    questions.create_question(
        event_id, label="Régime", type="multiple", choices=["Végétarien", "Sans gluten"]
    )
    questions.create_question(event_id, label="Remarques", type="textarea")
    questions.create_question(event_id, label="Parking", type="checkbox")
    questions.create_question(event_id, label="Âge", type="number")
    db.session.commit()

    phone.goto(live_server.url(f"/events/{occurrence.event.slug}"))
    section = phone.locator("section.accessibility")
    expect(section).to_contain_text("Boucle magnétique")
    expect(section).to_contain_text("Langue des signes française (LSF)")
    expect(section).to_contain_text("Je me déplace en fauteuil roulant")
    # every pictogram is beside its words, and hidden from screen readers
    for svg in phone.locator("svg.pictogram").all():
        assert svg.get_attribute("aria-hidden") == "true"
    axe(phone)  # the event page with its accessibility and the form with questions
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390

    phone.get_by_label("Nom et prénom", exact=True).fill("Ana Martin")
    phone.get_by_label("Adresse e-mail", exact=True).fill("ana@example.org")
    phone.get_by_label(re.compile("J'accepte")).tap()
    phone.get_by_role("button", name="Réserver").tap()
    expect(phone.get_by_role("alert")).to_contain_text("Veuillez corriger les erreurs")
    axe(phone)  # the questions showing their errors

    phone.get_by_label("Employeur", exact=True).fill("Studio Folimage")
    phone.get_by_label("OPCO", exact=True).tap()
    phone.get_by_label("Sans gluten", exact=True).tap()
    phone.get_by_label("Je me déplace en fauteuil roulant").tap()
    phone.get_by_role("button", name="Réserver").tap()
    expect(phone.locator("h1")).to_have_text("Votre réservation est confirmée")
    booking = db.session.scalar(db.select(Booking))
    assert booking.wheelchair
    assert {a.label: a.value for a in booking.answers} == {
        "Employeur": "Studio Folimage",
        "Financement": "OPCO",
        "Régime": ["Sans gluten"],
        "Parking": False,
    }
