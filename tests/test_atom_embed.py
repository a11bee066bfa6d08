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
