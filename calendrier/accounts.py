"""Organiser accounts: loading users for Flask-Login, API tokens, access rules."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

from flask import abort
from flask_login import current_user
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from .domain import catalogue
from .domain.accounts import (  # the links and emails, named here too for the doors
    INVITE_MAX_AGE,
    RESET_MAX_AGE,
    queue_password_email,
    user_for_reset_token,
)
from .extensions import db, login_manager
from .models import ApiToken, User
from .timeutil import utcnow

login_manager.login_view = "manage.login"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session's user, unless the password changed since it was opened (auth_epoch)."""
    ident, _sep, epoch = user_id.partition(":")
    if not ident.isdigit() or not epoch.isdigit():
        return None
    user = db.session.get(User, int(ident))
    if user is None or (user.auth_epoch or 0) != int(epoch):
        return None
    return user


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


@functools.cache
def _dummy_hash() -> str:
    """A hash of the same kind as the users', checked when there is no such account."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None.

    A password hash is checked in every case, a dummy one when no account has this
    address: the time of the answer does not tell which addresses have accounts.
    """
    user = find_user(email or "")
    stored = user.password_hash if user is not None else _dummy_hash()
    matches = check_password_hash(stored, password or "")
    if user is None or not user.active or not matches:
        return None
    return user


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User) -> str:
    """Create a token; only its hash is stored, so it is shown once. Commits."""
    token = "cal_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=hash_token(token)))
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_PRECISION:
        # At most one write a minute per token, in a transaction of its own: reading
        # requests commit nothing else, and busy clients do not write on every call.
        db.session.execute(
            update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
        )
        db.session.commit()
    return row.user


TOKEN_USE_PRECISION = timedelta(minutes=1)


def user_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_tokens(user: User, token_id: int | None = None) -> int:
    """Revoke this user's live API tokens (or only ``token_id``). Commits; returns how many."""
    query = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    count = db.session.execute(query.values(revoked_at=utcnow())).rowcount
    db.session.commit()
    return count


def require_organisation_access(organisation_id: int | None) -> None:
    """403 unless the logged-in user may manage this organisation's data."""
    if not current_user.is_authenticated or not current_user.can_manage(organisation_id):
        abort(403)


# --- password reset and invitation: the links and emails are domain/accounts.py's ---


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
