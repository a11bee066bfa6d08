"""Organiser accounts: loading users for Flask-Login, API tokens, access rules."""

from __future__ import annotations

import hashlib
import secrets

from flask import abort
from flask_login import current_user
from sqlalchemy import select

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
