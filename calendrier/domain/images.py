"""Pictures: an event's poster or still, the cluster's logo.

An upload is checked before anything decodes it: its type by its first bytes (JPEG, PNG or
WebP, whatever its name or declared type says), its size in bytes, and its size in pixels as
its header gives it (a small file that would decode to gigabytes is refused, not decoded).
It is then decoded once, turned upright, stripped of its metadata (a phone's GPS position
among them) and stored with resized copies, WebP and JPEG at a few widths, in the database:
several app servers share no disk, and they all share the database. Each file's URL holds
the picture's digest, so it never changes content and is cached for a year.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from ..extensions import db
from ..models import Event, Picture, PictureFile, User
from ..timeutil import utcnow
from . import audit
from .errors import InvalidInput, NotFound
from .languages import localised
from .text import has_control_characters

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
WIDTHS = (480, 960, 1600)
MAX_ALT = 500
# The first bytes of each accepted type, and the name Pillow gives its format.
SIGNATURES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
FORMATS = {"webp": ("WEBP", "image/webp"), "jpg": ("JPEG", "image/jpeg")}


def sniff(data: bytes) -> str | None:
    """The format by content: JPEG, PNG, WEBP, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _refuse(field: str, message: Any) -> None:
    raise InvalidInput({field: [message]})


def check_alt(alt: Any, alt_en: Any) -> tuple[str, str]:
    """The alternative texts: the French one required, each one line of at most 500."""
    errors: dict[str, list] = {}
    values = []
    for name, value, required in (("alt", alt, True), ("alt_en", alt_en, False)):
        text = value.strip() if isinstance(value, str) else ""
        if value is not None and not isinstance(value, str):
            errors[name] = [_l("Enter some text.")]
        elif required and not text:
            errors[name] = [_l("Describe the picture for people who cannot see it.")]
        elif len(text) > MAX_ALT:
            errors[name] = [_l("At most %(num)d characters.", num=MAX_ALT)]
        elif has_control_characters(text):
            errors[name] = [_l("This field contains characters that are not allowed.")]
        values.append(text)
    if errors:
        raise InvalidInput(errors)
    return values[0], values[1]


def open_checked(data: bytes) -> Image.Image:
    """The decoded picture, once type, bytes and pixels are known to be acceptable."""
    if not data:
        _refuse("file", _l("Choose a picture to send."))
    if len(data) > MAX_BYTES:
        _refuse("file", _l("This file is too large: at most 10 MB."))
    kind = sniff(data)
    if kind is None:
        _refuse("file", _l("This is not a JPEG, PNG or WebP picture."))
    try:
        # Lazy: reads the header only. Pillow itself warns (or refuses) far above our limit.
        image = Image.open(io.BytesIO(data), formats=[kind])
        width, height = image.size
        if width * height > MAX_PIXELS:
            _refuse("file", _l("This picture has too many pixels: at most 40 megapixels."))
        if width < 1 or height < 1:
            raise ValueError("empty picture")
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _refuse("file", _l("This picture has too many pixels: at most 40 megapixels."))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        _refuse("file", _l("This picture cannot be read: the file is damaged or incomplete."))
    return image


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image = _flatten(image)
        image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=80, method=4)
    else:
        image.save(out, fmt)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no transparency."""
    if image.mode in ("RGB", "L"):
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


@dataclass
class Prepared:
    digest: str
    width: int
    height: int
    widths: list[int]
    files: list[tuple[str, str, int, int, bytes]]  # name, type, width, height, data


def prepare(data: bytes) -> Prepared:
    """Check, decode, strip and resize: every file of the picture, nothing written yet."""
    image = open_checked(data)
    kind = image.format or "JPEG"
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        upright = image
    # A new image holds the pixels only: no EXIF, no XMP, no ICC comment, no GPS.
    mode = upright.mode if upright.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
    if "transparency" not in upright.info and mode == "RGBA" and upright.mode == "P":
        mode = "RGB"
    clean = Image.new(mode, upright.size)
    clean.paste(upright.convert(mode))
    original = _encode(clean, kind)
    width, height = clean.size
    digest = hashlib.sha256(original).hexdigest()
    files = [("original", SIGNATURES[kind], width, height, original)]
    widths = sorted({min(w, width) for w in WIDTHS})
    for target in widths:
        size = (target, max(1, round(height * target / width)))
        copy = clean if target == width else clean.resize(size, Image.Resampling.LANCZOS)
        for extension, (fmt, content_type) in FORMATS.items():
            files.append((f"{target}.{extension}", content_type, *size, _encode(copy, fmt)))
    return Prepared(digest, width, height, widths, files)


def new_picture(data: bytes, alt: str, alt_en: str = "") -> Picture:
    """A picture added to the session (the caller commits)."""
    return _stored(prepare(data), alt, alt_en)


def _stored(prepared: Prepared, alt: str, alt_en: str) -> Picture:
    picture = Picture(
        digest=prepared.digest,
        width=prepared.width,
        height=prepared.height,
        alt=alt,
        alt_en=alt_en,
        widths=" ".join(str(w) for w in prepared.widths),
    )
    for name, content_type, width, height, blob in prepared.files:
        picture.files.append(
            PictureFile(
                name=name, content_type=content_type, width=width, height=height, data=blob
            )
        )
    db.session.add(picture)
    return picture


def delete_picture(picture: Picture | None) -> None:
    if picture is not None:
        db.session.delete(picture)


# --- events' pictures ------------------------------------------------------------------


def _event(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise NotFound(f"Event {event_id}")
    return event


def set_event_image(
    event_id: int, data: bytes, *, alt: Any, alt_en: Any = "", actor: User | None = None
) -> Picture:
    """Give an event its picture (replacing the one it had). Nothing is written if refused."""
    event = _event(event_id)
    problems: dict[str, list] = {}
    try:
        alt, alt_en = check_alt(alt, alt_en)
    except InvalidInput as error:
        problems.update(error.errors)
    try:
        prepared = prepare(data)
    except InvalidInput as error:
        problems.update(error.errors)
    if problems:
        db.session.rollback()
        raise InvalidInput(problems)
    picture = _stored(prepared, alt, alt_en)
    old = event.image
    event.image = picture
    _touch(event)
    db.session.flush()
    delete_picture(old)
    audit.record(
        actor,
        "event.image_set",
        event,
        organisation_id=event.organisation_id,
        digest=picture.digest,
        alt=alt,
    )
    db.session.commit()
    return picture


def remove_event_image(event_id: int, *, actor: User | None = None) -> bool:
    """Take an event's picture away; False if it had none."""
    event = _event(event_id)
    old = event.image
    if old is None:
        db.session.rollback()
        return False
    event.image = None
    _touch(event)
    db.session.flush()
    delete_picture(old)
    audit.record(actor, "event.image_removed", event, organisation_id=event.organisation_id)
    db.session.commit()
    return True


def _touch(event: Event) -> None:
    """Feeds carry the picture: their Last-Modified and ETag move with it."""
    event.updated_at = utcnow()


# --- serving and showing ---------------------------------------------------------------


def find_file(digest: str, name: str) -> PictureFile | None:
    return db.session.scalar(
        select(PictureFile)
        .join(PictureFile.picture)
        .where(Picture.digest == digest, PictureFile.name == name)
        .limit(1)
    )


def file_path(picture: Picture, name: str) -> str:
    return f"/images/{picture.digest}/{name}"


def file_url(picture: Picture, name: str) -> str:
    return current_app.config["PUBLIC_URL"] + file_path(picture, name)


def widths_of(picture: Picture) -> list[int]:
    return [int(w) for w in picture.widths.split()] if picture.widths else []


def largest_jpeg(picture: Picture) -> tuple[str, int, int]:
    """The name and size of the largest resized JPEG (what feeds, emails and Open Graph use)."""
    widths = widths_of(picture)
    width = widths[-1] if widths else picture.width
    return f"{width}.jpg", width, max(1, round(picture.height * width / picture.width))


def srcset(picture: Picture, extension: str) -> str:
    return ", ".join(f"{file_path(picture, f'{w}.{extension}')} {w}w" for w in widths_of(picture))


def image_json(picture: Picture | None) -> dict | None:
    """The ``image`` of the event JSON: null, or the large JPEG with both alternative texts."""
    if picture is None:
        return None
    name, width, height = largest_jpeg(picture)
    return {
        "url": file_url(picture, name),
        "alt": picture.alt,
        "alt_en": picture.alt_en,
        "width": width,
        "height": height,
    }


def alt_text(picture: Picture, language: str) -> tuple[str, str]:
    """The alternative text in ``language`` where written, and the language it is in."""
    return localised(picture.alt, picture.alt_en, language)
