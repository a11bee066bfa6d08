"""The cluster's identity: its name, tagline, accent colour, logo, contact, legal texts.

One deployment serves one cluster. The environment gives the defaults
(``CALENDRIER_SITE_NAME``, ``CALENDRIER_SITE_TAGLINE``, ``CALENDRIER_ACCENT_COLOUR``); a
cluster admin overrides them at /manage/settings, and the row they write wins.

Every page, email and feed reads them, so they must cost next to nothing: each app server
keeps them in memory, and at most every ``SITE_SETTINGS_TTL`` seconds asks the database for
their version (one indexed read of one integer); only a new version reads the row again.
The server that saves them forgets its copy at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from .. import colours
from ..extensions import db
from ..models import Picture, SiteSettings, User
from . import audit, images
from .errors import InvalidInput
from .text import has_control_characters

SETTINGS_ID = 1
TEXT_FIELDS = {
    # name: (max length, multi-line)
    "name": (200, False),
    "tagline": (300, False),
    "accent_colour": (7, False),
    "contact_email": (320, False),
    "legal_notice": (20_000, True),
    "accessibility_statement": (20_000, True),
}


@dataclass(frozen=True)
class Logo:
    url: str  # a path on this site
    absolute_url: str
    width: int
    height: int


@dataclass(frozen=True)
class Settings:
    """What the pages, emails and feeds show of the cluster (the defaults filled in)."""

    version: int
    name: str
    tagline: str
    accent_colour: str
    contact_email: str
    legal_notice: str
    accessibility_statement: str
    logo: Logo | None
    # What the admin typed, empty where the default applies (the settings form shows it).
    overrides: dict[str, str]

    @property
    def theme(self) -> dict[str, str]:
        return colours.theme(self.accent_colour)

    @property
    def sender(self) -> str:
        """The emails' From: the cluster's name before the configured address."""
        address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
        return formataddr((self.name, address))


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Settings | None = None
        self.checked = 0.0


def _cache() -> _Cache:
    cache = current_app.extensions.get("site_settings")
    if cache is None:
        cache = current_app.extensions.setdefault("site_settings", _Cache())
    return cache


def current_settings() -> Settings:
    """The cluster's settings, as this request (or command) should see them.

    Within ``SITE_SETTINGS_TTL`` of the last check this reads no database at all."""
    cache = _cache()
    now = time.monotonic()
    value = cache.value
    ttl = float(current_app.config.get("SITE_SETTINGS_TTL", 2))
    if value is not None and now - cache.checked < ttl:
        return value
    try:
        version = db.session.scalar(
            select(SiteSettings.version).where(SiteSettings.id == SETTINGS_ID)
        )
    except OperationalError:
        # The database is down: the "nothing was saved" page still needs a name to show.
        db.session.rollback()
        return value if value is not None else _read(None)
    if value is None or value.version != (version or 0):
        value = _read(version)
    with cache.lock:
        cache.value, cache.checked = value, now
    return value


def logo_jpeg() -> bytes | None:
    """The logo's largest JPEG copy, for what draws it itself (the certificates' PDF)."""
    row = db.session.get(SiteSettings, SETTINGS_ID)
    if row is None or row.logo is None:
        return None
    name, _width, _height = images.largest_jpeg(row.logo)
    found = images.find_file(row.logo.digest, name)
    return found.data if found is not None else None


def forget() -> None:
    """This server's copy is stale (the settings were just saved here)."""
    if has_app_context():
        cache = _cache()
        with cache.lock:
            cache.value = None


def _read(version: int | None) -> Settings:
    config = current_app.config
    row = db.session.get(SiteSettings, SETTINGS_ID) if version is not None else None
    overrides = {name: (getattr(row, name) or "") if row else "" for name in TEXT_FIELDS}
    logo = None
    if row is not None and row.logo is not None:
        name, width, height = images.largest_jpeg(row.logo)
        logo = Logo(
            url=images.file_path(row.logo, name),
            absolute_url=images.file_url(row.logo, name),
            width=width,
            height=height,
        )
    return Settings(
        version=row.version if row else 0,
        name=overrides["name"] or str(config["SITE_NAME"]),
        tagline=overrides["tagline"] or str(config["SITE_TAGLINE"] or ""),
        accent_colour=overrides["accent_colour"] or str(config["ACCENT_COLOUR"]),
        contact_email=overrides["contact_email"]
        or parseaddr(config["MAIL_DEFAULT_SENDER"])[1],
        legal_notice=overrides["legal_notice"],
        accessibility_statement=overrides["accessibility_statement"],
        logo=logo,
        overrides=overrides,
    )


# --- changing them -------------------------------------------------------------------


def _check(values: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, list] = {}
    clean: dict[str, str] = {}
    for name, value in values.items():
        if name not in TEXT_FIELDS:
            raise TypeError(f"unknown settings field: {name}")
        limit, multiline = TEXT_FIELDS[name]
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = [_l("Enter some text.")]
            continue
        value = value.strip()
        if len(value) > limit:
            errors[name] = [_l("At most %(num)d characters.", num=limit)]
        elif has_control_characters(value, multiline=multiline):
            errors[name] = [_l("This field contains characters that are not allowed.")]
        clean[name] = value
    colour = clean.get("accent_colour")
    if colour:
        problem = colours.problem(colour)
        if problem == "format":
            errors["accent_colour"] = [_l("Write the colour as #rrggbb, e.g. #6b21a8.")]
        elif problem == "contrast":
            errors["accent_colour"] = [
                _l(
                    "This colour is too light for text on white (contrast %(ratio)s:1, "
                    "at least 4.5:1 is needed). Choose a darker one.",
                    ratio=f"{colours.contrast_with_white(colour):.2f}",
                )
            ]
        else:
            clean["accent_colour"] = colour.lower()
    email = clean.get("contact_email")
    if email and ("@" not in email or " " in email or parseaddr(email)[1] != email):
        errors["contact_email"] = [_l("Enter an email address, like name@example.org.")]
    if errors:
        raise InvalidInput(errors)
    return clean


def update_settings(
    *,
    actor: User | None = None,
    logo: bytes | None = None,
    remove_logo: bool = False,
    **values: Any,
) -> Settings:
    """Save the admins' settings (every field checked first; nothing written if one is wrong)."""
    try:
        clean = _check(values)
        picture: Picture | None = None
        if logo:
            picture = images.new_picture(logo, alt="")
    except InvalidInput:
        db.session.rollback()
        raise
    row = db.session.get(SiteSettings, SETTINGS_ID)
    if row is None:
        row = SiteSettings(id=SETTINGS_ID, version=0)
        db.session.add(row)
    changed = {}
    for name, value in clean.items():
        if (getattr(row, name) or "") != value:
            changed[name] = value
            setattr(row, name, value)
    old_logo = row.logo if (picture is not None or remove_logo) else None
    if picture is not None:
        row.logo = picture
        changed["logo"] = picture.digest
    elif remove_logo and row.logo is not None:
        row.logo = None
        changed["logo"] = None
    row.version = (row.version or 0) + 1
    db.session.flush()
    images.delete_picture(old_logo)
    audit.record(actor, "settings.updated", row, **{k: str(v)[:200] for k, v in changed.items()})
    db.session.commit()
    forget()
    return current_settings()
