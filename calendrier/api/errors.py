"""One error shape for the whole API, and the domain errors turned into it.

Every error body is ``{"error": <stable code>, "message": <text>}``; a 422 adds
``errors``: each field name with its list of messages. The codes are the HTTP
names in snake case (``not_found``, ``unprocessable_entity``…) or, for a 409,
the domain's reason (``full``, ``closed``, ``cancellation_closed``…).
"""

from __future__ import annotations

from typing import NoReturn

import marshmallow as ma
from flask import Blueprint
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..domain.errors import (
    BookingClosed,
    CancellationClosed,
    CapacityBelowBookings,
    DomainError,
    InvalidInput,
    InvalidSeats,
    NotFound,
    OccurrenceFull,
    TooManySeats,
)


class ApiError(HTTPException):
    """An HTTP error with the API's body: a code, a message, maybe field errors."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.field_errors = errors
        self.extra_headers = headers or {}


def fail(status: int, code: str | None = None, message: str | None = None, **kw) -> NoReturn:
    raise ApiError(status, code, message, **kw)


class ErrorSchema(ma.Schema):
    """The body of every error response."""

    error = ma.fields.String(
        required=True,
        metadata={
            "description": "A stable code: the HTTP name in snake case (`not_found`, "
            "`unprocessable_entity`, `unauthorized`…) or, for a 409, the reason "
            "(`full`, `closed`, `already_booked`, `idempotency_key_reused`, "
            "`cancellation_closed`, `invalid_state`, `capacity_below_bookings`)."
        },
    )
    message = ma.fields.String(
        required=True, metadata={"description": "A sentence for people, in their language."}
    )
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={
            "description": "Each invalid field with its messages (422; also 409 "
            "`idempotency_key_reused`)."
        },
    )


def _code_of(error: HTTPException) -> str:
    return (error.name or "error").lower().replace(" ", "_").replace("'", "")


def _flatten(messages) -> dict[str, list[str]]:
    """webargs nests errors by location (json, query, headers…): one flat mapping."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, dict | list | tuple):
                    walk(prefix, item)
                else:
                    flat.setdefault(prefix or "_body", []).append(str(item))
        else:
            flat.setdefault(prefix or "_body", []).append(str(value))

    if isinstance(messages, dict):
        for location, inner in messages.items():
            if location in ("json", "query", "headers", "view_args", "form", "path"):
                walk("", inner)
            else:
                walk(str(location), inner)
    else:
        walk("", messages)
    return flat


def handle_http_error(error: HTTPException):
    status = error.code or 500
    code = getattr(error, "error_code", None) or _code_of(error)
    message = error.description if isinstance(error, ApiError) else None
    headers = dict(getattr(error, "extra_headers", {}) or {})
    errors = getattr(error, "field_errors", None)
    data = getattr(error, "data", None)  # webargs' abort(): validation messages
    if data and "messages" in data:
        errors = data["messages"]
        headers.update(data.get("headers") or {})
    if status == 400 and errors:
        # webargs says 400 for a body that is not JSON at all.
        message = _("The request body is not valid JSON.")
    body = {"error": code, "message": message or default_message(status)}
    if errors:
        body["errors"] = _flatten(errors)
    response_headers = [
        (k, v) for k, v in error.get_headers() if k.lower() != "content-type"
    ] + list(headers.items())
    return body, status, response_headers


def default_message(status: int) -> str:
    messages = {
        400: _("The request could not be understood."),
        401: _("A valid API token is required: send it as Authorization: Bearer <token>."),
        403: _("This token may not manage this organisation's data."),
        404: _("Nothing here, or no longer."),
        405: _("This method is not allowed here."),
        409: _("This cannot be done in the current state."),
        413: _("The request is too large."),
        415: _("Send JSON with Content-Type: application/json."),
        422: _("Some fields are invalid."),
        429: _("Too many requests. Please wait a moment and try again."),
    }
    return messages.get(status, _("The request could not be handled."))


def from_domain(error: DomainError) -> ApiError:
    """Each domain refusal as the API tells it: a 409 with a reason, or a 422."""
    if isinstance(error, NotFound):
        return ApiError(404, "not_found")
    if isinstance(error, InvalidInput):
        return ApiError(422, "unprocessable_entity", errors=error.messages())
    if isinstance(error, TooManySeats):
        # Bad input, whatever the state of the date: the request itself asks too much.
        message = _("At most %(n)d places per booking.", n=error.maximum)
        return ApiError(422, "unprocessable_entity", errors={"seats": [message]})
    if isinstance(error, InvalidSeats):
        message = _("This number of places is not allowed here.")
        return ApiError(422, "unprocessable_entity", errors={"seats": [message]})
    if isinstance(error, CapacityBelowBookings):
        message = _(
            "%(n)d places are already confirmed: cancel bookings before lowering the capacity.",
            n=error.confirmed,
        )
        return ApiError(409, error.code, message)
    messages = {
        OccurrenceFull: _("Sorry, this date is full."),
        BookingClosed: _("Booking is closed for this date."),
        CancellationClosed: _("It is too late to cancel online; please contact the organiser."),
    }
    message = next(
        (text for kind, text in messages.items() if isinstance(error, kind)),
        _("This cannot be done in the current state."),
    )
    return ApiError(409, error.code, message)


def handle_domain_error(error: DomainError):
    return handle_http_error(from_domain(error))


def register(bp: Blueprint) -> None:
    bp.register_error_handler(HTTPException, handle_http_error)
    bp.register_error_handler(DomainError, handle_domain_error)
