"""Strict fields: what the document promises is exactly what is accepted.

A JSON ``"3"`` is not an integer and ``"yes"`` is not a boolean; strings carry
a pattern that refuses control characters (PostgreSQL refuses NUL, people
never type the others); times must carry an offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import marshmallow as ma
from flask import current_app
from marshmallow import validate

from ..domain import listing
from ..timeutil import zone

# One line of printable text, with at least one visible character.
LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
# Free text: line breaks and tabs allowed, no other control character.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"

MAX_INT = 2_147_483_647  # a PostgreSQL integer
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099  # the times a programme's dates may take


def is_slug(value: str) -> bool:
    """Slugs in paths are checked before they reach SQL (a NUL would upset PostgreSQL)."""
    return len(value) <= 120 and re.fullmatch(SLUG, value) is not None


def _no_surrogates(value: str) -> bool:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ma.ValidationError("Invalid characters.")
    return True


def Line(max_length: int, *, required: bool = False, **kwargs) -> ma.fields.String:
    """A one-line text field, stripped of surrounding spaces."""
    return Stripped(
        required=required,
        validate=[
            validate.Length(min=1, max=max_length),
            validate.Regexp(LINE, error="Enter text without control characters."),
            _no_surrogates,
        ],
        **kwargs,
    )


def OneLine(max_length: int, **kwargs) -> ma.fields.String:
    """One line of text that may be empty."""
    return Stripped(
        validate=[
            validate.Length(max=max_length),
            validate.Regexp(ONE_LINE, error="Enter text without control characters."),
            _no_surrogates,
        ],
        **kwargs,
    )


def Number(minimum: float, maximum: float, **kwargs) -> ma.fields.Float:
    """A JSON number, not a string that looks like one."""
    return StrictFloat(validate=validate.Range(minimum, maximum), **kwargs)


class StrictFloat(ma.fields.Float):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def Text(max_length: int, **kwargs) -> ma.fields.String:
    """Free text over several lines."""
    return ma.fields.String(
        validate=[
            validate.Length(max=max_length),
            validate.Regexp(TEXT, error="Enter text without control characters."),
            _no_surrogates,
        ],
        **kwargs,
    )


def Slug(**kwargs) -> ma.fields.String:
    kwargs.setdefault("validate", [validate.Length(min=1, max=120), validate.Regexp(SLUG)])
    kwargs.setdefault("metadata", {"description": "A slug: lowercase letters, digits and hyphens."})
    return ma.fields.String(**kwargs)


class Stripped(ma.fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class StrictBoolean(ma.fields.Boolean):
    """``true`` or ``false``, nothing that merely looks like them."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def Count(minimum: int = 0, maximum: int = MAX_INT, **kwargs) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


class Moment(ma.fields.AwareDateTime):
    """An ISO 8601 time with its offset; written back in the venue's (or Paris) time."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # the first or last hours of year 1 or 9999
            raise ma.ValidationError("This time is out of range.") from None
        # A programme's dates: not the Middle Ages (Paris then kept local mean time, an
        # offset of +00:09:21 that no ISO 8601 reader takes back), not the year 9999.
        if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            raise ma.ValidationError("This time is out of range.")
        return moment

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        tz = getattr(getattr(obj, "venue", None), "timezone", None)
        return value.astimezone(zone(tz or current_app.config["TIMEZONE"])).isoformat()


class Day(ma.fields.String):
    """A day for the filters: ``2026-03-14``, or a time with its offset (its day in Paris).

    Years far from ours are brought back within the listing's range (1900 to 2999): as
    filter bounds they mean the same.
    """

    default_error_messages = {  # noqa: RUF012 - marshmallow's own convention
        "invalid": "Enter a date (2026-03-14) or a time with its offset."
    }

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise self.make_error("invalid") from None
            if moment.tzinfo is None:
                raise ma.ValidationError("A time needs its offset (e.g. +01:00).") from None
            try:
                day = moment.astimezone(zone(current_app.config["TIMEZONE"])).date()
            except OverflowError:
                day = moment.date()
        return min(max(day, listing.FIRST_DAY), listing.LAST_DAY).isoformat()
