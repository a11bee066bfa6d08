"""The JSON API door: ``/api/v1``, its OpenAPI document, and a page to read it."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api as SmorestApi

from ..extensions import csrf
from .auth import SCHEME, SECURITY_SCHEME
from .errors import ErrorSchema

PREFIX = "/api/v1"

DESCRIPTION = """\
The programme of the cluster and its bookings, for websites and apps.

* **Public reading** (`GET /events`, `/events/{slug}`, `/occurrences/{id}`) needs nothing and
  answers any origin (CORS).
* **Booking** needs nothing either; send an `Idempotency-Key` header to retry safely.
  The attendee's own booking is reached with its secret `token`.
* **Organisers** send `Authorization: Bearer <token>` (made with
  `flask --app wsgi users token EMAIL`) and reach only their organisation's data.
* Times are ISO 8601 with an offset (`2026-03-14T20:30:00+01:00`); a time without one is
  refused (422). Venues, events and organisations are named by slug.
* No cookies. Errors always have the same shape: `{"error": code, "message": text}`, plus
  `errors` (each field with its messages) on a 422.
"""


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        """The app keeps its own handlers (HTML pages); the API's are on its blueprints."""


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="calendrier",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/"}],
        },
    )
    api = Api(app)
    api.spec.components.security_scheme(SCHEME, SECURITY_SCHEME)

    from . import bookings, docs, events, images, organisers

    for module in (events, bookings, organisers, images):
        csrf.exempt(module.bp)
        api.register_blueprint(module.bp, url_prefix=PREFIX)
    app.register_blueprint(docs.bp, url_prefix=PREFIX)
