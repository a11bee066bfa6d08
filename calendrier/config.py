"""Configuration: defaults here, everything else from ``CALENDRIER_*`` variables."""

import os
from pathlib import Path

from flask import Flask


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
    # Redis for the shared cache (calendrier/cache.py); empty: each process keeps its own.
    "CACHE_REDIS_URL": "",
    "PRIVACY_RETENTION_DAYS": 365,
    # The privacy notice (/privacy): who is responsible for the data and whom to write to.
    # Empty: the cluster's name, and the address emails are sent from.
    "PRIVACY_CONTROLLER": "",
    "PRIVACY_CONTACT": "",
    # The data protection officer's contact, if the body has named one (shown when set).
    "PRIVACY_DPO": "",
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
