"""Certificates of attendance: a PDF per trainee, one or all of a date (zip), and the
email that sends each trainee theirs once.

A certificate exists once the last sitting has ended, for a confirmed booking that was
present at one sitting at least; it states the hours attended of the hours planned,
worked out from the sittings marked (``trainings``). Drawn with fpdf2 (a maintained,
pure-Python PDF library): the document carries its language, title and author, and
the logo its alternative text.
"""

from __future__ import annotations

import io
import os
import zipfile
from datetime import datetime

from flask_babel import force_locale, format_decimal
from flask_babel import gettext as _
from fpdf import FPDF
from sqlalchemy import select

from ..extensions import db
from ..i18n import clock, colon, day
from ..models import (
    Booking,
    BookingStatus,
    Event,
    EventKind,
    Occurrence,
    OccurrenceStatus,
)
from ..timeutil import utcnow
from . import outbox, settings, trainings
from .exports import filename as export_name
from .training_mail import queue_training_email, site_name

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)


class NotYet(Exception):
    """No certificate (yet): the date has not ended, or the person was never there."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "not_ended", "absent", "not_confirmed"


def why_not(booking: Booking, now: datetime | None = None) -> str | None:
    """None when the booking has a certificate, else the reason it has none."""
    if booking.status != BookingStatus.CONFIRMED or booking.anonymised_at is not None:
        return "not_confirmed"
    if booking.occurrence.is_cancelled:
        return "not_confirmed"
    if not trainings.has_ended(booking.occurrence, now):
        return "not_ended"
    if not trainings.present_at(booking):
        return "absent"
    return None


def format_hours(hours: float) -> str:
    """35 -> "35", 3.5 -> "3,5" (fr) / "3.5" (en)."""
    return format_decimal(round(hours, 2), format="#,##0.##")


def _font(pdf: FPDF) -> str:
    for folder in FONT_DIRS:
        regular, bold = (os.path.join(folder, f) for f in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
        if os.path.isfile(regular) and os.path.isfile(bold):
            pdf.add_font("dejavu", "", regular)
            pdf.add_font("dejavu", "B", bold)
            return "dejavu"
    return "helvetica"


def _plain(text: str, font: str) -> str:
    """Core fonts know Latin-1 only: the rare other character becomes its nearest."""
    if font != "helvetica":
        return text
    swaps = {"\u2019": "'", "\u2013": "-", "\u2014": "-", "\u0153": "oe", "\u0152": "OE"}
    for a, b in swaps.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def certificate_pdf(booking: Booking) -> bytes:
    """The certificate of attendance of one trainee, in the booking's language."""
    occurrence = booking.occurrence
    event = occurrence.event
    every = trainings.slots(occurrence)
    present = trainings.present_at(booking)
    attended = trainings.hours_attended(booking, present)
    planned = trainings.hours_planned(occurrence)
    cluster = site_name()
    with force_locale(booking.locale or "fr"):
        title = _("Certificate of attendance")
        pdf = FPDF(format="A4")
        pdf.set_lang(booking.locale or "fr")
        pdf.set_title(f"{title} \u2013 {booking.name} \u2013 {event.title}")
        pdf.set_author(event.organisation.name)
        pdf.set_creator(cluster)
        pdf.set_subject(event.title)
        pdf.set_display_mode("fullpage")
        font = _font(pdf)
        t = lambda text: _plain(text, font)  # noqa: E731
        pdf.add_page()
        pdf.set_margins(20, 20, 20)
        logo = settings.logo_jpeg()  # the one an admin set at /manage/settings
        if logo:
            alt = _("Logo of %(name)s", name=cluster)
            pdf.image(io.BytesIO(logo), x=20, y=18, h=18, alt_text=alt)
            pdf.set_xy(20, 40)
        else:
            pdf.set_xy(20, 20)
        pdf.set_font(font, "B", 12)
        pdf.cell(0, 8, t(cluster), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(12)
        pdf.set_font(font, "B", 22)
        pdf.cell(0, 12, t(title), align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(10)
        pdf.set_font(font, "", 12)
        first, last = every[0].starts_at, every[-1].ends_at
        if day(first) == day(last):
            dates = _("on %(day)s", day=day(first, with_year=True))
        else:
            dates = _(
                "from %(first)s to %(last)s",
                first=day(first, with_year=True),
                last=day(last, with_year=True),
            )
        lines = [
            _(
                "%(organiser)s certifies that %(name)s attended the training "
                "“%(title)s”, %(dates)s, at %(venue)s.",
                organiser=event.organisation.name,
                name=booking.name,
                title=event.title,
                dates=dates,
                venue=occurrence.venue.name,
            ),
            _(
                "Hours attended: %(attended)s of %(planned)s hours planned.",
                attended=format_hours(attended),
                planned=format_hours(planned),
            ),
        ]
        for line in lines:
            pdf.multi_cell(0, 7, t(line), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        if len(every) > 1:
            pdf.ln(2)
            pdf.set_font(font, "B", 11)
            pdf.cell(0, 7, t(_("Sittings")), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(font, "", 10)
            for position, slot in enumerate(every):
                mark = _("present") if position in present else _("absent")
                text = f"{day(slot.starts_at, with_year=True)}, {clock(slot.starts_at)} \u2013 "
                text += f"{clock(slot.ends_at)}{colon()} {mark}"
                pdf.cell(0, 6, t(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(10)
        pdf.set_font(font, "", 11)
        issued = _(
            "Issued on %(day)s for %(organiser)s.",
            day=day(utcnow(), with_year=True),
            organiser=event.organisation.name,
        )
        pdf.multi_cell(0, 6, t(issued), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font(font, "", 9)
        reference = _("Reference %(ref)s", ref=booking.reference)
        pdf.cell(0, 6, t(reference), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def filename(booking: Booking) -> str:
    base = export_name(booking.occurrence, "pdf").removesuffix(".pdf")
    return f"{base}-{booking.reference}.pdf"


def holders(occurrence: Occurrence, now: datetime | None = None) -> list[Booking]:
    """The bookings of a date that have a certificate, by name."""
    bookings = list(
        db.session.scalars(
            select(Booking)
            .where(
                Booking.occurrence_id == occurrence.id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.anonymised_at.is_(None),
                Booking.checked_in_at.is_not(None),
            )
            .order_by(Booking.name, Booking.id)
        )
    )
    return [b for b in bookings if why_not(b, now) is None]


def certificates_zip(occurrence: Occurrence, now: datetime | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for booking in holders(occurrence, now):
            archive.writestr(filename(booking), certificate_pdf(booking))
    return buffer.getvalue()


# --- emailing each one once -----------------------------------------------------------


def certificate_key(booking: Booking) -> str:
    return f"certificate:{booking.id}"


def queue_certificates(now: datetime | None = None) -> int:
    """Email each trainee of an ended training the link to their certificate, once.

    Returns how many were queued. Commits; idempotent (unique ``dedup_key``).
    """
    now = now or utcnow()
    return outbox.queue_each_once(
        lambda: _due(now),
        certificate_key,
        lambda booking, key: why_not(booking, now) is None and _write(booking, key),
    )


def _due(now: datetime) -> list[Booking]:
    return db.session.scalars(
        select(Booking)
        .join(Booking.occurrence)
        .join(Occurrence.event)
        .where(
            Event.kind == EventKind.TRAINING,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.anonymised_at.is_(None),
            Booking.checked_in_at.is_not(None),
            Occurrence.status == OccurrenceStatus.SCHEDULED,
            Occurrence.ends_at <= now,
        )
        .order_by(Booking.id)
        .with_for_update(of=Booking)
    ).all()


def _write(booking: Booking, key: str) -> bool:
    queue_training_email(booking, "certificate", dedup_key=key)
    return True
