"""``/events.atom`` (RFC 4287, read by feedparser) and ``/embed`` (framable by the configured
origins only), both with the filters of ``/events``."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest

from calendrier.timeutil import utcnow


@pytest.fixture
def programme(make):
    soon = utcnow().replace(microsecond=0) + timedelta(days=3)
    visit = make.event(
        title="Visite <des> studios & coulisses", kind="visit", summary="Les coulisses."
    )
    film = make.event(title="Projection du soir", kind="screening")
    draft = make.event(title="Brouillon", status="draft")
    make.occurrence(event=visit, starts_at=soon)
    make.occurrence(event=visit, starts_at=soon + timedelta(days=7))
    make.occurrence(event=film, starts_at=soon + timedelta(days=1))
    make.occurrence(event=draft, starts_at=soon)
    make.occurrence(event=make.event(title="Passé"), starts_at=soon - timedelta(days=30))
    return visit, film


def test_the_atom_feed_is_valid_and_takes_the_filters(client, programme):
    visit, _film = programme
    answer = client.get("/events.atom")
    assert answer.status_code == 200
    assert answer.content_type == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(answer.data)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "atom10"
    titles = [entry.title for entry in parsed.entries]
    assert titles == ["Visite <des> studios & coulisses", "Projection du soir"]
    entry = parsed.entries[0]
    assert entry.id == f"https://agenda.example.org/events/{visit.slug}"
    assert entry.link == entry.id
    assert entry.updated_parsed and entry.published_parsed
    assert entry.summary == "Les coulisses."
    assert entry.tags[0].term == "visit"
    assert parsed.feed.links[0].rel in ("self", "alternate")
    assert any(link.rel == "self" for link in parsed.feed.links)

    only = feedparser.parse(client.get("/events.atom?kind=screening").data)
    assert [e.title for e in only.entries] == ["Projection du soir"]
    assert "kind=screening" in only.feed.id
    english = feedparser.parse(client.get("/events.atom?lang=en").data)
    assert english.feed.title == "Agenda"  # the site's name (its settings), in any language
    assert english.feed.language == "en"
    assert client.get("/events.atom?from=not-a-date").status_code == 400

    etag = answer.headers["ETag"]
    assert client.get("/events.atom", headers={"If-None-Match": etag}).status_code == 304


def test_the_embed_is_framable_only_by_the_configured_origins(app, client, programme):
    app.config["EMBED_ORIGINS"] = (
        "https://www.studio.example https://bad;origin http://ok.example:8080/"
    )
    answer = client.get("/embed?kind=visit")
    assert answer.status_code == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://www.studio.example http://ok.example:8080" in csp
    assert "bad" not in csp
    assert "X-Frame-Options" not in answer.headers
    html = answer.get_data(as_text=True)
    assert "Visite &lt;des&gt; studios &amp; coulisses" in html
    assert "Projection du soir" not in html
    assert 'target="_blank"' in html and "/static/js/embed.js" in html
    assert 'lang="fr"' in html
    # Every other page keeps frame-ancestors 'none'.
    for path in ("/", "/events", "/newsletter", "/events.atom"):
        other = client.get(path)
        assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"], path
        assert other.headers["X-Frame-Options"] == "DENY"
    style = client.get("/embed/style.css")
    assert style.status_code == 200 and "--accent: #6b21a8" in style.get_data(as_text=True)
    for script in ("embed.js", "embed-host.js"):
        served = client.get(f"/static/js/{script}")
        text = served.get_data(as_text=True)
        served.close()
        assert served.status_code == 200 and "calendrier:height" in text


def test_without_origins_only_the_site_itself_may_frame_the_embed(client, programme):
    csp = client.get("/embed").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self'")


def test_admins_get_the_snippet_to_paste(client, make):
    from .test_manage import log_in

    log_in(client, make.user(is_admin=True))
    page = client.get("/manage/embed").get_data(as_text=True)
    assert "https://agenda.example.org/embed" in page
    assert "https://agenda.example.org/static/js/embed-host.js" in page
    assert "data-calendrier-embed" in page


# --- the filters of /events, every one of them --------------------------------------------


@pytest.fixture
def accessible_programme(make):
    soon = utcnow().replace(microsecond=0) + timedelta(days=2)
    studio = make.organisation(slug="studio", name="Le Studio")
    loop_hall = make.venue(slug="salle-boucle", accessibility=" wheelchair hearing_loop ")
    relax = make.event(title="Ciné-relax", kind="screening", organisation=studio)
    make.occurrence(event=relax, venue=loop_hall, starts_at=soon, accessibility=" relaxed ")
    lsf = make.event(title="Visite en LSF", kind="visit", summary="Visite signée.")
    make.occurrence(event=lsf, starts_at=soon + timedelta(days=8), accessibility=" sign_language ")
    workshop = make.event(title="Atelier complet", kind="workshop")
    make.occurrence(event=workshop, starts_at=soon + timedelta(days=18), capacity=0)
    return soon


def _shown(client, path: str, query: str) -> set[str]:
    """The titles a door shows for a query (the Atom feed checked valid on the way)."""
    answer = client.get(f"{path}?{query}")
    assert answer.status_code == 200, (path, query, answer.data[:300])
    if path == "/events.atom":
        parsed = feedparser.parse(answer.data)
        assert not parsed.bozo, parsed.bozo_exception
        return {entry.title for entry in parsed.entries}
    html = answer.get_data(as_text=True)
    return {t for t in ("Ciné-relax", "Visite en LSF", "Atelier complet") if t in html}


def test_atom_and_embed_take_every_filter_of_the_events_page(client, accessible_programme):
    soon = accessible_programme
    later = (soon + timedelta(days=5)).date().isoformat()
    everything = {"Ciné-relax", "Visite en LSF", "Atelier complet"}
    expected = {
        "": everything,
        "access=hearing_loop": {"Ciné-relax"},
        "access=wheelchair&access=relaxed": {"Ciné-relax"},  # the venue's and the date's
        "access=wheelchair&access=sign_language": set(),  # every code is required
        "access=sign_language,relaxed": set(),
        "access=sign_language": {"Visite en LSF"},
        "kind=workshop": {"Atelier complet"},
        "kind=visit,workshop": {"Visite en LSF", "Atelier complet"},
        "organisation=studio": {"Ciné-relax"},
        "venue=salle-boucle": {"Ciné-relax"},
        "q=signee": {"Visite en LSF"},  # accents and case ignored
        f"from={later}": {"Visite en LSF", "Atelier complet"},
        f"to={later}": {"Ciné-relax"},
        "available=1": {"Ciné-relax", "Visite en LSF"},
        "kind=screening&access=hearing_loop&available=1": {"Ciné-relax"},
    }
    for query, titles in expected.items():
        for path in ("/events", "/events.atom", "/embed"):
            assert _shown(client, path, query) == titles, (path, query)


def test_an_unknown_access_code_is_said_as_on_the_events_page(client, accessible_programme):
    # The pages leave it out and say so beside what was asked; the other codes still apply.
    for path in ("/events", "/embed"):
        answer = client.get(f"{path}?access=teleport&access=hearing_loop")
        assert answer.status_code == 200, path
        html = answer.get_data(as_text=True)
        assert "Choix inconnu, ignoré." in html, path
        assert "Ciné-relax" in html and "Visite en LSF" not in html, path
        assert "Choix inconnu" not in client.get(f"{path}?access=hearing_loop").get_data(
            as_text=True
        )
    english = client.get("/embed?access=teleport&lang=en").get_data(as_text=True)
    assert "Unknown choice, ignored." in english
    # A feed refuses it rather than silently showing something else than what was asked.
    for path in ("/events.atom", "/calendar.ics"):
        answer = client.get(f"{path}?access=teleport&access=hearing_loop")
        assert answer.status_code == 400, path
        assert answer.content_type == "text/plain; charset=utf-8"
        assert answer.get_data(as_text=True) == "Bad filter (access: unknown)\n"
    assert client.get("/api/v1/events?access=teleport").status_code == 422


def test_the_embed_takes_its_own_page_size_and_says_when_it_is_too_big(client, make):
    soon = utcnow().replace(microsecond=0) + timedelta(days=1)
    event = make.event(title="Séance")
    for day in range(12):
        make.occurrence(event=event, starts_at=soon + timedelta(days=day))

    def dates(query: str) -> int:
        return client.get(f"/embed?{query}").get_data(as_text=True).count("<time ")

    assert dates("") == 10
    assert dates("per_page=3") == 3
    too_big = client.get("/embed?per_page=500").get_data(as_text=True)
    assert too_big.count("<time ") == 10 and "Hors limites, ignoré." in too_big
