"""An event's picture through the API: ``POST`` and ``DELETE /api/v1/events/<slug>/image``."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from ..domain import images
from ..extensions import db
from ..models import Event
from .auth import current_organiser, organiser_only, require_access
from .common import EVENT_SLUG, blueprint
from .errors import ErrorSchema, fail
from .events import SLUG_RULE
from .fields import is_slug
from .schemas import ImageSchema

bp = blueprint(
    "Images",
    __name__,
    "An event's picture (organisers' token): a JPEG, PNG or WebP of at most 10 MB and "
    "40 megapixels, with its alternative text.",
)

# The file, its alternative texts and the multipart framing around them.
MAX_REQUEST = images.MAX_BYTES + 64 * 1024

UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "alt"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "A JPEG, PNG or WebP picture: at most 10 MB and "
                        "40 megapixels.",
                    },
                    "alt": {
                        "type": "string",
                        "maxLength": images.MAX_ALT,
                        "description": "What the picture shows, for people who cannot see it "
                        "(in French).",
                    },
                    "alt_en": {
                        "type": "string",
                        "maxLength": images.MAX_ALT,
                        "description": "The same in English (optional).",
                    },
                },
            }
        }
    },
}
REFUSED = {
    "schema": ErrorSchema,
    "description": "Not a JPEG, PNG or WebP picture, a damaged one, too large (bytes or "
    "pixels), or no alternative text: listed in `errors` (`file`, `alt`). Nothing is stored.",
}


@bp.before_request
def allow_a_picture() -> None:
    request.max_content_length = MAX_REQUEST


def managed_event(slug: str) -> Event:
    event = db.session.scalar(select(Event).where(Event.slug == slug)) if is_slug(slug) else None
    if event is None:
        fail(404, "not_found")
    require_access(event.organisation_id)
    return event


def _too_large() -> None:
    message = _("This file is too large: at most 10 MB.")
    fail(422, "unprocessable_entity", message, errors={"file": [message]})


@bp.route(f"/events/{SLUG_RULE}/image", methods=["POST"], parameters=[EVENT_SLUG])
@organiser_only(bp)
@bp.doc(requestBody=UPLOAD)
@bp.response(201, ImageSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No event has this slug.")
@bp.alt_response(422, **REFUSED)
def upload(slug: str):
    """Give an event its picture (replacing the one it had)"""
    event = managed_event(slug)
    if (request.content_length or 0) > MAX_REQUEST:
        _too_large()  # refused before a byte of it is read
    try:
        upload = request.files.get("file")
        form = request.form
    except RequestEntityTooLarge:
        _too_large()
    data = upload.stream.read(images.MAX_BYTES + 1) if upload else b""
    picture = images.set_event_image(
        event.id,
        data,
        alt=form.get("alt"),
        alt_en=form.get("alt_en", ""),
        actor=current_organiser(),
    )
    return images.image_json(picture)


@bp.route(f"/events/{SLUG_RULE}/image", methods=["DELETE"], parameters=[EVENT_SLUG])
@organiser_only(bp)
@bp.response(204)
@bp.alt_response(404, schema=ErrorSchema, description="No event has this slug.")
def remove(slug: str):
    """Take an event's picture away (an event without one stays so: 204 all the same)"""
    event = managed_event(slug)
    images.remove_event_image(event.id, actor=current_organiser())
    return None
