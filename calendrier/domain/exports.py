"""Attendee lists as CSV and XLSX, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return)
would be read as a formula by Excel or LibreOffice: a name like
``=HYPERLINK("http://evil", "click")`` typed into the booking form must stay text.
Such cells get a leading apostrophe, the spreadsheets' own "this is text" mark.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from ..models import Booking, Occurrence
from . import groups, questions

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def status_label(status: str) -> str:
    return {
        "confirmed": _("Confirmed"),
        "waitlisted": _("Waiting list"),
        "pending": _("Awaiting approval"),
        "cancelled": _("Cancelled"),
        "rejected": _("Declined"),
    }.get(status, status)


def header() -> list[str]:
    return [
        _("Reference"),
        _("Name"),
        _("Email"),
        _("Phone"),
        _("Places"),
        _("Status"),
        _("Booked at"),
        _("Arrived at"),
        _("Source"),
    ]


def rows(bookings: Iterable[Booking]) -> list[list[object]]:
    """One row per booking, times in the app's zone as plain text (same in CSV and XLSX)."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])

    def local(moment) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    return [
        [
            b.reference,
            b.name,
            b.email,
            b.phone,
            b.seats,
            status_label(b.status),
            local(b.created_at),
            local(b.checked_in_at),
            b.source,
        ]
        for b in bookings
    ]


def to_csv(table: Sequence[Sequence[object]], language: str = "fr") -> bytes:
    """UTF-8 with a byte-order mark, so Excel reads the accents right.

    Separated by semicolons in French: Excel set up for France splits on them (commas
    are its decimal mark) and would put a comma-separated row in a single column.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if language == "fr" else ",", lineterminator="\r\n")
    for row in table:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Sequence[Sequence[object]], title: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (title or "Sheet")[:31].translate(str.maketrans("[]:*?/\\", "       "))
    for r, row in enumerate(table, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            cell.value = safe_cell(value)
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever it starts with
    for c, width in enumerate((12, 28, 32, 18, 8, 18, 18, 18, 10), start=1):
        sheet.column_dimensions[get_column_letter(c)].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def filename(occurrence: Occurrence, extension: str) -> str:
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    day = occurrence.starts_at.astimezone(tz).strftime("%Y-%m-%d-%H%M")
    return f"{occurrence.event.slug}-{day}.{extension}"


def table(bookings: Sequence[Booking], language: str = "fr") -> list[list[object]]:
    """The whole export: the columns above, wheelchair and group, one column per question."""
    keys = questions.columns(bookings, language)
    head = [*header(), _("Wheelchair"), _("Group"), *(label for _key, label in keys)]
    body = [
        [
            *row,
            _("Yes") if b.wheelchair else "",
            groups.describe(b),
            *questions.cells(b, [key for key, _label in keys]),
        ]
        for row, b in zip(rows(bookings), bookings, strict=True)
    ]
    return [head, *body]
