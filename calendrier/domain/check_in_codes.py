"""The QR code that lets an organiser check a person in with the phone's own camera.

It opens the organiser's check-in page for the booking (named by its reference, not
its secret token): the page needs an organiser of that organisation logged in, so
the code is useless to anyone else. Shown as SVG on the attendee's pages, and as a
PNG in their emails, where mail programs do not show SVG.
"""

from __future__ import annotations

import io
import re

import qrcode
import qrcode.image.pure
import qrcode.image.svg
from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from ..models import Booking, BookingStatus

# The Content-ID of the PNG in an email, which its HTML shows as <img src="cid:...">.
EMAIL_IMAGE_ID = "check-in-code@calendrier"


def check_in_path(booking: Booking) -> str:
    return f"/manage/bookings/{booking.reference}/check-in"


def check_in_url(booking: Booking) -> str:
    """What the QR code in the attendee's confirmation opens: the organiser's check-in page.

    It names the booking by its reference (not its secret token): the page needs an
    organiser of that organisation logged in, so the code is useless to anyone else.
    """
    return current_app.config["PUBLIC_URL"] + check_in_path(booking)


def _code(data: str, image_factory, **options):
    """The same code on the pages and in the emails: a 2-module margin, 15 % redundancy."""
    return qrcode.make(
        data,
        image_factory=image_factory,
        border=2,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        **options,
    )


def qr_svg(data: str, label: str) -> Markup:
    """An inline SVG QR code (no style attribute, so the strict CSP allows it)."""
    source = _code(data, qrcode.image.svg.SvgPathImage).to_string(encoding="unicode")
    size = re.search(r'viewBox="0 0 (\d+) (\d+)"', source).group(1)
    path = re.search(r' d="([^"]+)"', source).group(1)
    return Markup(  # noqa: S704 - every value is a number or escaped here
        f'<svg class="qr-code" viewBox="0 0 {size} {size}" width="200" height="200" '
        f'role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{escape(path)}" fill="#000"/></svg>'
    )


def check_in_qr(booking: Booking) -> Markup:
    """For the attendee's confirmation page and own page: ``{{ check_in_qr(booking) }}``."""
    if booking.status != BookingStatus.CONFIRMED:
        return Markup("")
    label = _l("Check-in code for booking %(ref)s", ref=booking.reference)
    return qr_svg(check_in_url(booking), str(label))


def qr_png(data: str) -> bytes:
    """A black-and-white PNG, 8 pixels a module: sharp on a phone, about 1 KB."""
    out = io.BytesIO()
    _code(data, qrcode.image.pure.PyPNGImage, box_size=8).save(out)
    return out.getvalue()
