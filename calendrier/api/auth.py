"""Organiser endpoints: a Bearer token (``flask users token``), scoped to one organisation."""

from __future__ import annotations

from functools import wraps

from flask import g, request

from ..accounts import user_for_token
from ..models import User
from .errors import ErrorSchema, fail

SCHEME = "bearerAuth"
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An organiser's token, made with `flask --app wsgi users token EMAIL`.",
}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="calendrier"'}


def current_organiser() -> User:
    return g.api_user


def _authenticate() -> User:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    user = None
    if scheme.lower() == "bearer" and 0 < len(token) <= 200:
        user = user_for_token(token)
    if user is None:
        fail(401, "unauthorized", headers=CHALLENGE)
    return user


def organiser_only(bp):
    """Decorator factory: the view needs a valid token; documented as such."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.api_user = _authenticate()
            return view(*args, **kwargs)

        documented = bp.doc(security=[{SCHEME: []}])(wrapper)
        documented = bp.alt_response(
            401,
            schema=ErrorSchema,
            description="No valid token in `Authorization: Bearer <token>`.",
            headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
        )(documented)
        return bp.alt_response(
            403,
            schema=ErrorSchema,
            description="The token's organisation does not own this data.",
        )(documented)

    return decorator


def require_access(organisation_id: int | None) -> None:
    """403 unless the token's user may manage this organisation's data."""
    if not current_organiser().can_manage(organisation_id):
        fail(403, "forbidden")
