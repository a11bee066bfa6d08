"""The cluster's identity: its name, colour and legal pages, from the environment and the
settings; and events written in French and English."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from calendrier import create_app
from calendrier.config import ConfigError
from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.domain.settings import current_settings, update_settings
from calendrier.extensions import db
from calendrier.models import Event

from .conftest import make_config
from .test_manage import log_in

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.config(SITE_NAME="Agenda du Pôle Test", ACCENT_COLOUR="#0057b8")
def test_the_environment_names_the_site_everywhere(client, make, smtp):
    occurrence = make.occurrence()
    page = client.get("/").get_data(as_text=True)
    assert re.search(r"<title>[^<]* · Agenda du Pôle Test</title>", page)
    assert '<a class="brand" href="/">Agenda du Pôle Test</a>' in page
    theme = re.search(r'href="(/theme\.css\?v=[^"]+)"', page).group(1)
    css = client.get(theme)
    assert "--accent: #0057b8;" in css.get_data(as_text=True)
    assert "max-age=31536000" in css.headers["Cache-Control"]
    feed = client.get("/calendar.ics").get_data(as_text=True)
    assert "NAME:Agenda du Pôle Test\r\n" in feed and "X-WR-CALNAME:Agenda du Pôle Test" in feed
    rules.book(occurrence.id, rules.BookingRequest("Ana", "ana@example.org", seats=1))
    outbox.deliver_all()
    [message] = smtp.messages
    assert "Agenda du Pôle Test" in str(message["From"]) or "=?utf-8?" in message["From"]
    assert message["From"].addresses[0].display_name == "Agenda du Pôle Test"
    assert message["From"].addresses[0].addr_spec == "agenda@example.org"
    assert "Agenda du Pôle Test" in message.get_body(("plain",)).get_content()  # signature
    assert "Agenda du Pôle Test" in message.get_body(("html",)).get_content()


@pytest.mark.parametrize("colour", ["#ffcc00", "#7f7f7f", "red", "#12345"])
def test_an_unreadable_or_malformed_accent_colour_is_refused_at_start_up(
    database_uri, tmp_path, colour
):
    with pytest.raises(ConfigError, match="CALENDRIER_ACCENT_COLOUR"):
        create_app(make_config(database_uri, tmp_path, ACCENT_COLOUR=colour))


def test_the_start_up_error_says_the_contrast():
    result = subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "routes"],
        cwd=ROOT,
        env={"CALENDRIER_ACCENT_COLOUR": "#ffcc00", "FLASK_DEBUG": "1", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "contrast of 1.51:1" in result.stderr and "4.5:1" in result.stderr


def test_admins_override_the_defaults_and_only_admins(client, make):
    organiser = make.user()
    admin = make.user(is_admin=True, organisation=None)
    log_in(client, organiser)
    assert client.get("/manage/settings").status_code == 403
    client.post("/manage/logout")
    log_in(client, admin)
    assert client.get("/manage/settings").status_code == 200
    refused = client.post(
        "/manage/settings", data={"name": "Pôle", "accent_colour": "#ffee00"}
    ).get_data(as_text=True)
    assert "trop claire" in refused
    assert current_settings().name == "Agenda"  # nothing saved
    response = client.post(
        "/manage/settings",
        data={
            "name": "Agenda du Pôle Images",
            "tagline": "Les rendez-vous de l'image",
            "accent_colour": "#0057B8",
            "contact_email": "contact@pole.example",
            "legal_notice": "Éditeur : le Pôle Images.\nHébergeur : un hébergeur.",
            "accessibility_statement": "Ce site est non conforme : aucun audit n'a été fait.",
        },
    )
    assert response.status_code == 302
    page = client.get("/?lang=fr").get_data(as_text=True)
    assert "Agenda du Pôle Images</a>" in page
    assert "Les rendez-vous de l&#39;image" in page
    assert "v=" in page and "0057b8" in page
    legal = client.get("/legal").get_data(as_text=True)
    assert "Hébergeur : un hébergeur." in legal and "contact@pole.example" in legal
    statement = client.get("/accessibility").get_data(as_text=True)
    assert "aucun audit" in statement
    assert "Défenseur des droits" in statement  # the recourse is always there
    # empty again: the default comes back
    client.post("/manage/settings", data={"name": ""})
    assert current_settings().name == "Agenda"


def test_the_footer_of_every_page_links_the_legal_pages(client, make):
    event = make.event()
    make.occurrence(event=event)
    for path in ("/", "/events", f"/events/{event.slug}", "/privacy", "/manage/login"):
        page = client.get(path).get_data(as_text=True)
        assert 'href="/accessibility">Accessibilité : partiellement conforme</a>' in page, path
        assert 'href="/legal">Mentions légales</a>' in page, path
    statement = client.get("/accessibility").get_data(as_text=True)
    for part in ("État de conformité", "Contenus non accessibles", "Voies de recours"):
        assert part in statement


def test_another_app_server_sees_new_settings_once_their_version_moved(app, app_config):
    other = create_app({**app_config, "SITE_SETTINGS_TTL": 0})
    with other.app_context():
        assert current_settings().name == "Agenda"
        db.session.remove()  # (its own connection: SQLite would keep it reading)
    update_settings(name="Le nouveau nom")  # on this server
    assert current_settings().name == "Le nouveau nom"
    db.session.commit()  # (SQLite: this server's read would hold the other one back)
    with other.app_context():
        assert current_settings().name == "Le nouveau nom"
        db.session.remove()
        db.engine.dispose()  # its pooled connection closed now, not by the garbage collector


def test_no_code_template_or_translation_names_a_cluster_but_the_demos():
    found = subprocess.run(
        ["git", "grep", "-il", "cartoucherie", "--", "calendrier", "templates"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert set(found) <= {"calendrier/cli/seed.py", "calendrier/cli/demo.py"}


# --- French and English --------------------------------------------------------------


def test_english_texts_where_written_and_lang_on_the_french_ones(client, make):
    event = make.event(
        title="Nuit du court",
        summary="Des courts métrages toute la nuit.",
        description="Projection en continu.",
        title_en="Short Film Night",
    )
    make.occurrence(event=event)
    page = client.get(f"/events/{event.slug}?lang=en").get_data(as_text=True)
    assert "<h1>Short Film Night</h1>" in page
    assert '<p class="lead" lang="fr">Des courts métrages toute la nuit.</p>' in page
    assert '<div class="description" lang="fr">Projection en continu.</div>' in page
    french = client.get(f"/events/{event.slug}?lang=fr").get_data(as_text=True)
    assert "<h1>Nuit du court</h1>" in french and "Short Film Night" not in french
    listing = client.get("/events?lang=en").get_data(as_text=True)
    assert ">Short Film Night</a>" in listing
    feed = client.get(f"/events/{event.slug}.ics?lang=en").get_data(as_text=True)
    assert "SUMMARY;LANGUAGE=en:Short Film Night" in feed


def test_the_api_takes_and_gives_both_languages(client, make):
    from calendrier.accounts import issue_api_token

    user = make.user()
    token = issue_api_token(user)
    db.session.commit()
    response = client.post(
        "/api/v1/events",
        json={
            "title": "Atelier stop motion",
            "kind": "workshop",
            "summary": "Animer la pâte à modeler.",
            "title_en": "Stop-motion workshop",
            "summary_en": "Animating plasticine.",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["title"], body["title_en"]) == ("Atelier stop motion", "Stop-motion workshop")
    assert body["summary_en"] == "Animating plasticine." and body["description_en"] == ""
    assert body["image"] is None
    event = db.session.get(Event, db.session.query(Event.id).filter_by(slug=body["slug"]).scalar())
    make.occurrence(event=event)
    english = client.get(f"/api/v1/events/{body['slug']}?lang=en").json
    assert english["shown"]["title"] == "Stop-motion workshop"
    assert english["shown"]["description_lang"] == "fr"


def test_an_english_bookings_emails_carry_the_english_title(make, smtp):
    event = make.event(title="Nuit du court", title_en="Short Film Night")
    occurrence = make.occurrence(event=event)
    rules.book(occurrence.id, rules.BookingRequest("Ana", "ana@example.org", seats=1, locale="en"))
    rules.book(occurrence.id, rules.BookingRequest("Léa", "lea@example.org", seats=1))
    outbox.deliver_all()
    english, french = smtp.messages
    assert "Short Film Night" in english["Subject"]
    assert "Short Film Night" in english.get_body(("plain",)).get_content()
    assert "Nuit du court" in french["Subject"]


def test_the_organiser_form_takes_the_english_texts(client, make):
    user = make.user()
    log_in(client, user)
    response = client.post(
        "/manage/events/new",
        data={
            "title": "Visite des studios",
            "kind": "visit",
            "parent": "",
            "status": "published",
            "title_en": "Studio tour",
            "description_en": "A tour.\nOf the studios.",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    event = db.session.query(Event).filter_by(title="Visite des studios").one()
    assert (event.title_en, event.description_en) == ("Studio tour", "A tour.\nOf the studios.")
