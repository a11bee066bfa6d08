"""Organiser accounts: the password links, the emails that carry them, and logins recorded.

A link to choose a password (an invitation, or a reset) is signed with the secret key and
holds a fingerprint of the password, so it works once and dies when the password changes.
The emails go to the outbox inside the caller's transaction; ``catalogue.invite_user`` and
``record_login`` own theirs.
"""

from __future__ import annotations

import hashlib

from flask import current_app, render_template
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer

from ..extensions import db
from ..models import OutboxMessage, User
from ..timeutil import utcnow
from . import outbox

RESET_MAX_AGE = 2 * 3600  # seconds a reset link stays valid
# A first-login link is as good as a password: it lives as long as a reset link. A
# newcomer who comes later asks for one on the login page ("forgot your password").
INVITE_MAX_AGE = RESET_MAX_AGE


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


def record_login(user_id: int) -> None:
    """Note when this account last logged in (the accounts list shows it). Commits."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.last_login_at = utcnow()
        db.session.commit()
