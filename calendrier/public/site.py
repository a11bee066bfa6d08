"""The cluster's own pages and files: its theme, its legal pages, the pictures of its events."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup

from ..domain import images
from ..domain.languages import Localised, localised
from ..domain.settings import current_settings
from ..i18n import current_language

bp = Blueprint("site", __name__)

YEAR = 365 * 24 * 3600
DIGEST_RULE = "<string(length=64):digest>"
FILE_RULE = "<string(maxlength=40):name>"


@bp.app_context_processor
def identity() -> dict:
    """``site`` in every template: the name, tagline, colour, logo of the cluster."""
    return {"site": current_settings()}


@bp.app_template_global()
def in_language(event) -> Localised:
    """The event as the reader's language shows it (English texts where written)."""
    return Localised(event, current_language())


@bp.app_template_global()
def lang_attr(language: str) -> Markup:
    """` lang="fr"` on a text whose language is not the page's; nothing otherwise."""
    if language and language != current_language():
        return Markup(' lang="%s"') % language
    return Markup("")


@bp.app_template_global()
def picture_alt(picture) -> tuple[str, str]:
    return localised(picture.alt, picture.alt_en, current_language())


@bp.app_template_global()
def picture_srcset(picture, extension: str) -> str:
    return images.srcset(picture, extension)


@bp.app_template_global()
def picture_src(picture, width: int | None = None) -> str:
    """A JPEG of the picture: the one nearest ``width`` (the largest by default)."""
    widths = images.widths_of(picture) or [picture.width]
    chosen = next((w for w in widths if width is not None and w >= width), widths[-1])
    return images.file_path(picture, f"{chosen}.jpg")


@bp.app_template_global()
def picture_size(picture, width: int | None = None) -> tuple[int, int]:
    """Width and height to write on the ``<img>`` (its ratio: nothing jumps as it loads)."""
    width = width or picture.width
    return width, max(1, round(picture.height * width / picture.width))


@bp.route("/theme.css")
def theme():
    """The accent colour as CSS custom properties (a file: the pages allow no inline style)."""
    settings = current_settings()
    lines = "".join(f"  {name}: {value};\n" for name, value in settings.theme.items())
    response = current_app.response_class(f":root {{\n{lines}}}\n", mimetype="text/css")
    # The pages link it with ?v=<version>: a new colour is a new URL.
    response.cache_control.public = True
    response.cache_control.max_age = YEAR if request.args.get("v") else 300
    response.add_etag()
    return response.make_conditional(request)


@bp.route("/accessibility")
def accessibility():
    """The accessibility statement (déclaration d'accessibilité, RGAA)."""
    return render_template("public/accessibility.html")


@bp.route("/legal")
def legal():
    """The legal notice (mentions légales)."""
    return render_template("public/legal.html")


@bp.route(f"/images/{DIGEST_RULE}/{FILE_RULE}")
def image_file(digest: str, name: str):
    """A picture's file. Its URL holds its digest: its content never changes."""
    etag = f"{digest}-{name}"
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
    else:
        found = images.find_file(digest, name)
        if found is None:
            abort(404)
        response = current_app.response_class(found.data, mimetype=found.content_type)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = YEAR
    response.cache_control.immutable = True
    return response
