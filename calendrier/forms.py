"""Form pieces shared by the public and organiser forms."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, IntegerField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from .domain.text import has_control_characters

PHONE_PATTERN = r"^[0-9+().\s-]{6,25}$"


def no_control_characters(form, field):
    from wtforms.validators import ValidationError

    if has_control_characters(field.data or "", multiline=True):
        raise ValidationError(_l("This field contains characters that are not allowed."))


def one_line(form, field):
    """A name is one line: no line break, no control character (as the API asks)."""
    from wtforms.validators import ValidationError

    if has_control_characters(field.data or ""):
        raise ValidationError(_l("This field contains characters that are not allowed."))


class AttendeeFieldsMixin:
    name = StringField(
        _l("Full name"),
        validators=[DataRequired(), Length(max=200), one_line],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=320), Email(check_deliverability=False)],
        render_kw={"autocomplete": "email"},
    )
    phone = StringField(
        _l("Phone (optional)"),
        validators=[
            Optional(),
            Length(max=25),
            Regexp(
                PHONE_PATTERN, message=_l("Enter a phone number with digits, spaces and + only.")
            ),
        ],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    seats = IntegerField(
        _l("Number of places"),
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=1000)],
        render_kw={"inputmode": "numeric", "min": 1},
    )


class ConsentMixin:
    consent = BooleanField(
        _l(
            "I agree that my name, email and phone are used to manage this booking "
            "and kept for a limited time, as the privacy notice explains."
        ),
        validators=[DataRequired(message=_l("Please accept the privacy notice to book."))],
    )
