"""Organiser accounts: loading users for Flask-Login, API tokens, access rules."""

from __future__ import annotations

import hashlib
import secrets

from flask import abort, current_app, render_template
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select

from .domain import catalogue, outbox
from .extensions import db, login_manager
from .models import ApiToken, OutboxMessage, User
from .timeutil import utcnow

login_manager.login_view = "manage.login"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User) -> str:
    """Create a token; only its hash is stored, so it is shown once. Flushes."""
    token = "cal_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=hash_token(token)))
    db.session.flush()
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user


def require_organisation_access(organisation_id: int | None) -> None:
    """403 unless the logged-in user may manage this organisation's data."""
    if not current_user.is_authenticated or not current_user.can_manage(organisation_id):
        abort(403)


# --- password reset and invitation, by email through the outbox -----------------

RESET_MAX_AGE = 2 * 3600  # seconds a reset link stays valid
INVITE_MAX_AGE = 7 * 24 * 3600


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(user: User) -> str:
    """Changes with the password, so a link works once and dies when the password changes."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def password_reset_token(user: User) -> str:
    return _reset_serializer().dumps({"id": user.id, "pw": _password_fingerprint(user)})


def user_for_reset_token(token: str, max_age: int = INVITE_MAX_AGE) -> User | None:
    try:
        data = _reset_serializer().loads(token, max_age=max_age)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        return None
    user = db.session.get(User, data["id"])
    if user is None or not user.active or data.get("pw") != _password_fingerprint(user):
        return None
    return user


def queue_password_email(user: User, kind: str = "reset") -> OutboxMessage:
    """Write the reset (or welcome) email's intent to the outbox; the caller commits.

    The link is made when the worker sends it, from the account as it is then.
    """
    return outbox.queue(
        f"password_{kind}", user.email, locale=user.locale or "fr", snapshot={"user_id": user.id}
    )


@outbox.renders("password_reset", "password_welcome")
def render_password_email(row: OutboxMessage) -> outbox.Email:
    user = db.session.get(User, (row.snapshot or {}).get("user_id") or 0)
    if user is None or not user.active:
        raise outbox.Skip("the account no longer exists or was disabled")
    kind = row.kind.removeprefix("password_")
    link = f"{current_app.config['PUBLIC_URL']}/manage/reset/{password_reset_token(user)}"
    if kind == "welcome":
        subject = _("Your organiser account on the agenda")
    else:
        subject = _("Choose a new password")
    context = {"user": user, "link": link, "kind": kind}
    return outbox.Email(
        subject=subject,
        text=render_template("manage/email/password.txt", **context),
        html=render_template("manage/email/password.html", **context),
    )


def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; say nothing either way. Commits."""
    user = find_user(email or "")
    if user is not None and user.active:
        queue_password_email(user, "reset")
        db.session.commit()


def reset_password(token: str, password: str) -> User | None:
    """Set a new password from a valid link (None if the link is not). Commits."""
    user = user_for_reset_token(token)
    if user is None:
        return None
    max_age = INVITE_MAX_AGE if user.last_login_at is None else RESET_MAX_AGE
    if user_for_reset_token(token, max_age=max_age) is None:
        return None
    return catalogue.set_password(user.id, password, actor=user)
