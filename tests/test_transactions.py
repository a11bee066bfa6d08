"""One place commits: the domain function that owns the transaction, never a door.

The doors (the public pages, the organiser area, the API, the feeds) call the domain, which
commits once for everything a change writes (the rows, the audit entry, the email): an
account is created with its welcome email or not at all.
"""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import select

from calendrier.extensions import db
from calendrier.models import AuditEntry, OutboxMessage, User

DOORS = ("public", "manage", "api", "feeds", "outreach")
PACKAGE = Path(__file__).resolve().parent.parent / "calendrier"


def commits_in(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def test_no_door_commits():
    found = {
        str(path.relative_to(PACKAGE)): lines
        for door in DOORS
        for path in sorted((PACKAGE / door).glob("**/*.py"))
        if (lines := commits_in(path))
    }
    assert found == {}


def test_an_account_comes_with_its_welcome_email_and_a_login_is_recorded(client, make):
    admin = make.user(is_admin=True, organisation=None)
    client.post("/manage/login", data={"email": admin.email, "password": "correct horse battery"})
    db.session.expire_all()
    assert db.session.get(User, admin.id).last_login_at is not None
    response = client.post(
        "/manage/users/new",
        data={
            "email": "New@Example.org",
            "name": "Nouvelle",
            "organisation_id": 0,
            "is_admin": "y",
            "active": "y",
            "locale": "fr",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user is not None and user.last_login_at is None
    [welcome] = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == "new@example.org")
    ).all()
    assert welcome.kind == "password_welcome"
    assert db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "user.created", AuditEntry.object_id == user.id
        )
    )
