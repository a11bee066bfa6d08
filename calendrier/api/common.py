"""What every API blueprint shares: the error shape, the language, no cookies."""

from __future__ import annotations

import json

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser

from . import errors

MAX_BODY = 256 * 1024  # a booking is a few hundred bytes


class JsonParser(FlaskParser):
    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError:  # [[[[…: invalid JSON as far as we are concerned
            raise json.JSONDecodeError("nested too deeply", "<body>", 0) from None


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = JsonParser()


def require_json_body() -> None:
    """For a body whose fields are all optional: an absent body is still a mistake."""
    if not request.is_json or not request.get_data(cache=True).strip():
        message = _("Send a JSON object with Content-Type: application/json.")
        errors.fail(422, "unprocessable_entity", message, errors={"_body": [message]})


def limit_body() -> None:
    request.max_content_length = MAX_BODY


def choose_language() -> None:
    """``?lang=`` or Accept-Language, never remembered: the API sets no cookie."""
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    g.forced_locale = (
        asked
        if asked in languages
        else request.accept_languages.best_match(languages)
        or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def blueprint(name: str, import_name: str, description: str) -> Blueprint:
    bp = Blueprint(name, import_name, description=description)
    errors.register(bp)
    bp.before_request(choose_language)
    bp.before_request(limit_body)
    return bp


def allow_any_origin(response):
    """CORS for public reading: any website may show the programme."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "X-Total-Count, Link"
    return response


# Path parameters, documented once (with examples the test data also holds).
OCCURRENCE_ID = {
    "in": "path",
    "name": "occurrence_id",
    "description": "An occurrence's id.",
    "example": 1,
}
EVENT_SLUG = {
    "in": "path",
    "name": "slug",
    "description": "An event's slug.",
    "example": "visite-du-studio",
}
BOOKING_TOKEN = {
    "in": "path",
    "name": "token",
    "description": "The booking's secret token (`token`, also at the end of `manage_url`).",
    "example": "q8Vx2LmT0cR7bN4kZs1PwY9hJe3GdA6uFo5Ki2XtHn0",
}
BOOKING_REFERENCE = {
    "in": "path",
    "name": "reference",
    "description": "The booking's reference, as read out at the door.",
    "example": "K7QX-3MPA",
}
