import html

import pytest

from calendrier import create_app
from calendrier.config import ConfigError


def test_healthz_answers_ok_after_a_database_round_trip(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.data == b"ok"


def test_secret_key_is_required_outside_debug_and_testing(monkeypatch):
    monkeypatch.delenv("CALENDRIER_SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError, match="CALENDRIER_SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_configuration_comes_from_prefixed_environment(monkeypatch, database_uri):
    monkeypatch.setenv("CALENDRIER_SECRET_KEY", "from-env")
    monkeypatch.setenv("CALENDRIER_PUBLIC_URL", "https://agenda.example.org/")
    monkeypatch.setenv("CALENDRIER_MAIL_PORT", "2525")
    monkeypatch.setenv("CALENDRIER_SQLALCHEMY_DATABASE_URI", database_uri)
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["PUBLIC_URL"] == "https://agenda.example.org"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.app_context():
        from calendrier.extensions import db

        db.engine.dispose()


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/events/does-not-exist")
    assert response.status_code == 404
    assert "Cette page n'existe pas" in html.unescape(response.get_data(as_text=True))


def test_pages_carry_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"]
