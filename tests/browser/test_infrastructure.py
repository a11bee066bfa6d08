"""The browser-test infrastructure itself: live server, Chromium, axe-core, assets."""


def test_home_page_is_served_styled_and_passes_axe(page, live_server, axe, make):
    occurrence = make.occurrence(capacity=10)
    title = occurrence.event.title
    page.goto(live_server.url("/"))
    assert page.locator("h1").inner_text() == "À l'affiche"
    assert page.get_by_role("link", name=title).is_visible()
    # the CSS and the font come from the app itself
    loaded = page.evaluate(
        """async () => { await document.fonts.ready;
          return [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family); }"""
    )
    assert any("Atkinson Hyperlegible" in family for family in loaded)
    axe(page)


def test_axe_finds_a_serious_violation_when_there_is_one(page, live_server, axe):
    page.goto(live_server.url("/"))
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
    assert any(v["id"] == "label" for v in axe.run(page))
