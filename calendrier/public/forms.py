from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField
from wtforms.validators import Length, Optional, Regexp

from ..forms import AttendeeFieldsMixin, ConsentMixin


class BookingForm(AttendeeFieldsMixin, ConsentMixin, FlaskForm):
    occurrence = RadioField(
        _l("Date"),
        coerce=int,
        validate_choice=True,
        # the message when no date is picked
        validators=[],
    )

    # A random key written into the page: sending the same page twice (a double
    # click, a retried request) makes one booking, and only that page may see it.
    submission = HiddenField(validators=[Optional(), Length(max=64), Regexp(r"^[A-Za-z0-9_-]*$")])

    def validate_occurrence(self, field):
        from wtforms.validators import ValidationError

        if field.data is None:
            raise ValidationError(_l("Choose a date."))


class CancelForm(FlaskForm):
    """Only the CSRF token: cancelling is a POST."""
