"""Configuration: defaults here, everything else from ``CALENDRIER_*`` variables."""

import os
from pathlib import Path

from flask import Flask

from . import colours


class ConfigError(RuntimeError):
    """The app cannot start with this configuration."""


DEFAULTS = {
    "TIMEZONE": "Europe/Paris",
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_DEFAULT_SENDER": "Calendrier <agenda@localhost>",
    "MAIL_TIMEOUT": 10,
    # The mail server's certificate is checked against the system's authorities, or this
    # file's (PEM) for a server with a certificate of a private authority.
    "MAIL_CA_FILE": "",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "BOOKING_RATE_LIMIT": "20 per minute",
    "LOGIN_RATE_LIMIT": "10 per minute",
    # How many reverse proxies / load balancers stand in front (see web.trust_proxies).
    "TRUSTED_PROXIES": 0,
    "BABEL_DEFAULT_LOCALE": "fr",
    "LANGUAGES": ["fr", "en"],
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": None,
    "DEFAULT_MAX_SEATS_PER_BOOKING": 6,
    "FEED_PAST_DAYS": 30,
    # A poll of a feed within this many seconds of the last answer is a 304 from the cache.
    "FEED_VALIDATORS_SECONDS": 5,
    # Public pages are shared by visitors without a session for this many seconds
    # (cache.shared_page): "places left" on a list is at most that late. 0: never.
    "PAGE_CACHE_SECONDS": 5,
    # Redis for the shared cache (calendrier/cache.py); empty: each process keeps its own.
    "CACHE_REDIS_URL": "",
    "PRIVACY_RETENTION_DAYS": 365,
    # The privacy notice (/privacy): who is responsible for the data and whom to write to.
    # Empty: the cluster's name, and the address emails are sent from.
    "PRIVACY_CONTROLLER": "",
    "PRIVACY_CONTACT": "",
    # The data protection officer's contact, if the body has named one (shown when set).
    "PRIVACY_DPO": "",
    # Just above the largest upload taken (an event image: 10 MB; an .ics: 5 MB), with
    # room for the form's other fields: larger requests get a 413 before being read.
    "MAX_CONTENT_LENGTH": 11 * 1024 * 1024,
    # The cluster's identity (domain/settings.py): defaults that /manage/settings overrides.
    "SITE_NAME": "Agenda",
    "SITE_TAGLINE": "",
    "ACCENT_COLOUR": "#6b21a8",
    # How long an app server trusts its copy of the settings before checking their version.
    "SITE_SETTINGS_TTL": 2,
}


def configure(app: Flask, test_config: dict | None) -> None:
    app.config.update(DEFAULTS)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(
        Path(app.instance_path) / "calendrier.db"
    )
    app.config.from_prefixed_env("CALENDRIER")
    if test_config:
        app.config.update(test_config)
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
    # A failed statement is logged without its parameters: they hold attendees' names,
    # emails and phones. Kept whatever engine options the environment gives.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "hide_parameters": True,
        **(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}),
    }
    public_url = str(app.config["PUBLIC_URL"]).rstrip("/")
    app.config["PUBLIC_URL"] = public_url
    if public_url.startswith("https://"):
        # Served over https: cookies never travel in clear, unless explicitly configured.
        for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
            if f"CALENDRIER_{key}" not in os.environ:
                app.config[key] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    if not app.config.get("SECRET_KEY"):
        if app.debug or app.testing or os.environ.get("FLASK_DEBUG") == "1":
            app.config["SECRET_KEY"] = "dev-only-not-secret"  # noqa: S105
        else:
            raise ConfigError(
                "CALENDRIER_SECRET_KEY is not set. Set it to a long random value, e.g. "
                "export CALENDRIER_SECRET_KEY=\"$(python -c 'import secrets; "
                "print(secrets.token_hex(32))')\""
            )
    check_accent_colour(app.config["ACCENT_COLOUR"])


def check_accent_colour(colour: object) -> None:
    """Links and buttons are drawn in this colour on white: refused if text would be unreadable."""
    problem = colours.problem(colour)  # type: ignore[arg-type]
    if problem == "format":
        raise ConfigError(
            f"CALENDRIER_ACCENT_COLOUR must be a colour written #rrggbb, not {colour!r}."
        )
    if problem == "contrast":
        ratio = colours.contrast_with_white(str(colour))
        raise ConfigError(
            f"CALENDRIER_ACCENT_COLOUR {colour} has a contrast of {ratio:.2f}:1 with white; "
            f"text needs at least {colours.MIN_CONTRAST}:1 (WCAG 2.1 AA). Choose a darker colour."
        )
