"""Organiser accounts: the password links, the emails that carry them, and logins recorded.

A link to choose a password (an invitation, or a reset) is signed with the secret key and
holds a fingerprint of the password, so it works once and dies when the password changes.
The emails go to the outbox inside the caller's transaction; ``catalogue.invite_user`` and
``record_login`` own theirs.
"""

from __future__ import annotations

import hashlib

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer

from ..extensions import db
from ..models import OutboxMessage, User
from ..timeutil import utcnow

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
    """Write the reset (or welcome) email to the outbox; the caller commits."""
    link = f"{current_app.config['PUBLIC_URL']}/manage/reset/{password_reset_token(user)}"
    with force_locale(user.locale or "fr"):
        if kind == "welcome":
            subject = _("Your organiser account on the agenda")
        else:
            subject = _("Choose a new password")
        context = {"user": user, "link": link, "kind": kind}
        body_text = render_template("manage/email/password.txt", **context)
        body_html = render_template("manage/email/password.html", **context)
    message = OutboxMessage(
        kind=f"password_{kind}",
        recipient=user.email,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
    )
    db.session.add(message)
    return message


def record_login(user_id: int) -> None:
    """Note when this account last logged in (the accounts list shows it). Commits."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.last_login_at = utcnow()
        db.session.commit()
