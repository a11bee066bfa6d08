"""Both demo clusters on a phone: their name, colour and pictures, checked by axe-core.

Screenshots of each demo's home page, an event and the settings page are saved under
``/tmp/calendrier-screenshots/`` (to look at: a test cannot judge a poster).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from .test_manage_browser import log_in

SHOTS = Path("/tmp/calendrier-screenshots")  # noqa: S108 - for people to look at

DEMOS = {
    "cartoucherie": ("Agenda de La Cartoucherie", "festival-des-images-animees", "#6b21a8"),
    "pole-images": (
        "Agenda du Pôle Images Nord-Pas-de-Calais",
        "serious-game-jam",
        "#0057b8",
    ),
}


@pytest.mark.parametrize("cluster", sorted(DEMOS))
def test_each_demo_looks_like_its_cluster_on_a_phone(
    cluster, runner, make, live_server, phone, axe
):
    name, event_slug, colour = DEMOS[cluster]
    result = runner.invoke(args=["seed-demo", "--cluster", cluster])
    assert result.exit_code == 0, result.output
    admin = make.user(email=f"admin-{cluster}@example.org", is_admin=True, organisation=None)
    assert admin.is_admin
    SHOTS.mkdir(exist_ok=True)

    phone.goto(live_server.url("/"))
    expect(phone.locator("header .brand")).to_have_text(name)
    assert phone.title().endswith(name)
    accent = phone.evaluate(
        "() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()"
    )
    assert accent == colour
    first = phone.locator(".featured-card").first
    expect(first.locator("img")).to_be_visible()
    assert first.locator("img").get_attribute("alt")
    assert first.locator("img").get_attribute("loading") is None  # above the fold: no lazy
    # Every picture has arrived, decoded (nothing broken, nothing jumping).
    phone.wait_for_function(
        "() => [...document.images].filter(i => !i.loading || i.loading !== 'lazy')"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    axe(phone)
    # A full-page screenshot scrolls nothing: load the lazy pictures below the fold first.
    phone.evaluate("() => document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
    phone.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth)")
    phone.evaluate("() => Promise.all([...document.images].map(i => i.decode()))")
    phone.screenshot(path=str(SHOTS / f"{cluster}-home.png"), full_page=True)

    phone.goto(live_server.url(f"/events/{event_slug}"))
    picture = phone.locator(".event-picture img")
    expect(picture).to_be_visible()
    phone.wait_for_function(
        "() => { const i = document.querySelector('.event-picture img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    assert picture.get_attribute("srcset") and picture.get_attribute("sizes")
    og = phone.locator("meta[property='og:image']").get_attribute("content")
    assert og.startswith(live_server.base + "/images/")
    axe(phone)
    phone.screenshot(path=str(SHOTS / f"{cluster}-event.png"), full_page=True)

    phone.goto(live_server.url(f"/events/{event_slug}?lang=en"))
    axe(phone)  # French texts on an English page carry lang="fr"

    for path in ("/accessibility", "/legal?lang=fr"):  # back to French (it is remembered)
        phone.goto(live_server.url(path))
        axe(phone)

    log_in(phone, live_server, admin.email)
    phone.goto(live_server.url("/manage/settings"))
    expect(phone.get_by_label("Nom du site")).to_have_value(name)
    axe(phone)
    phone.screenshot(path=str(SHOTS / f"{cluster}-settings.png"), full_page=True)


def test_an_organiser_gives_an_event_its_picture(make, live_server, page, axe, tmp_path):
    from calendrier.cli.pictures import poster

    organiser = make.user()
    event = make.event(organisation=organiser.organisation, title="Nuit du court")
    make.occurrence(event=event)
    event_id, slug = event.id, event.slug
    file = tmp_path / "affiche.jpg"
    file.write_bytes(
        poster(
            "Nuit du court", "Salle 3", top="#222222", bottom="#884488", motif="film", ink="#eee"
        )
    )
    log_in(page, live_server, organiser.email)
    page.goto(live_server.url(f"/manage/events/{event_id}/image"))
    axe(page)
    page.get_by_label("Image (JPEG, PNG ou WebP, 10 Mo au plus)").set_input_files(str(file))
    page.get_by_role("button", name="Enregistrer l'image").click()
    expect(page.locator(".error-summary")).to_be_visible()  # no alternative text: refused
    axe(page)
    page.get_by_label("Image (JPEG, PNG ou WebP, 10 Mo au plus)").set_input_files(str(file))
    page.get_by_label("Ce que montre l'image, pour les personnes qui ne la voient pas").fill(
        "Affiche : une pellicule sur fond violet"
    )
    page.get_by_role("button", name="Enregistrer l'image").click()
    expect(page.get_by_text("Image enregistrée.")).to_be_visible()
    page.goto(live_server.url(f"/events/{slug}"))
    expect(page.get_by_alt_text("Affiche : une pellicule sur fond violet")).to_be_visible()
