"""Organiser forms. Field names are the domain's, so its field errors land on the right field."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    FloatField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain import accessibility, trainings
from ..forms import AttendeeFieldsMixin, no_control_characters
from ..models import EventKind

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=320)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=500)],
        render_kw={"autocomplete": "current-password"},
    )


class PostForm(FlaskForm):
    """A CSRF-only form for buttons that change state."""


class ResetRequestForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=320), Email(check_deliverability=False)],
        render_kw={"autocomplete": "username"},
    )


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password (at least 8 characters)"),
        validators=[DataRequired(), Length(min=8, max=500)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("The same password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


def options(pairs) -> list[SelectChoice]:
    """Choices as WTForms wants them: (value, label) pairs made into ``SelectChoice``."""
    return [SelectChoice(value, label) for value, label in pairs]


LANGUAGES = [("fr", "Français"), ("en", "English")]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def kind_choices() -> list[tuple[str, str]]:
    labels = {
        EventKind.FESTIVAL: _l("Festival"),
        EventKind.VISIT: _l("Guided visit"),
        EventKind.SCREENING: _l("Screening"),
        EventKind.TRAINING: _l("Training"),
        EventKind.TALK: _l("Talk"),
        EventKind.WORKSHOP: _l("Workshop"),
    }
    return options((kind.value, labels[kind]) for kind in EventKind)


class EventForm(FlaskForm):
    organisation = SelectField(_l("Organisation"), coerce=int, validate_choice=True)
    title = StringField(
        _l("Title"), validators=[DataRequired(), Length(max=200), no_control_characters]
    )
    kind = SelectField(_l("Kind"), choices=kind_choices, validators=[DataRequired()])
    parent = SelectField(_l("Part of the festival"), choices=[], validate_choice=True)
    summary = StringField(
        _l("Summary (one sentence, shown in lists)"),
        validators=[Optional(), Length(max=500), no_control_characters],
    )
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=20_000)], render_kw={"rows": 8}
    )
    title_en = StringField(
        _l("Title in English (optional)"),
        validators=[Optional(), Length(max=200), no_control_characters],
        render_kw={"lang": "en"},
    )
    summary_en = StringField(
        _l("Summary in English (optional)"),
        validators=[Optional(), Length(max=500), no_control_characters],
        render_kw={"lang": "en"},
    )
    description_en = TextAreaField(
        _l("Description in English (optional)"),
        validators=[Optional(), Length(max=20_000)],
        render_kw={"rows": 8, "lang": "en"},
    )
    status = RadioField(
        _l("Visibility"),
        choices=options(
            [
                ("published", _l("Published: visible to the public")),
                ("draft", _l("Draft: only organisers see it")),
            ]
        ),
        default="published",
    )


class DuplicateForm(FlaskForm):
    title = StringField(
        _l("Title of the copy"), validators=[DataRequired(), Length(max=200), no_control_characters]
    )
    with_occurrences = BooleanField(_l("Copy the dates too"), default=True)
    shift_days = IntegerField(
        _l("Move the copied dates by this many days"),
        default=0,
        validators=[InputRequired(), NumberRange(min=-3660, max=3660)],
        render_kw={"inputmode": "numeric"},
    )


class OccurrenceFieldsMixin:
    venue = SelectField(_l("Venue"), choices=[], validators=[DataRequired()])
    capacity = IntegerField(
        _l("Places"),
        validators=[InputRequired(), NumberRange(min=0, max=100_000)],
        render_kw={"inputmode": "numeric", "min": 0},
    )
    waitlist = BooleanField(_l("Waiting list when full"))
    requires_approval = BooleanField(_l("Each request needs my approval"))
    max_seats_per_booking = IntegerField(
        _l("Most places in one booking"),
        default=6,
        validators=[InputRequired(), NumberRange(min=1, max=1000)],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    cancellation_deadline_hours = IntegerField(
        _l("Attendees may cancel until this many hours before the start"),
        default=0,
        validators=[InputRequired(), NumberRange(min=0, max=24 * 366)],
        render_kw={"inputmode": "numeric", "min": 0},
    )


def _readable_sittings(form, field):
    try:
        trainings.parse_lines(field.data or "")
    except ValueError as error:
        raise ValidationError(_l("Cannot read this line: %(line)s", line=str(error))) from None


def _readable_times(form, field):
    try:
        trainings.parse_time_slots(field.data or "")
    except ValueError as error:
        raise ValidationError(_l("Cannot read these times: %(part)s", part=str(error))) from None


class SittingsFieldsMixin:
    """A date cut into sittings (half-days of a training): by a rule, or one a line."""

    sitting_days = MultiCheckboxField(
        _l("Sittings on"),
        choices=options(
            zip(
                range(7),
                (
                    _l("Monday"),
                    _l("Tuesday"),
                    _l("Wednesday"),
                    _l("Thursday"),
                    _l("Friday"),
                    _l("Saturday"),
                    _l("Sunday"),
                ),
                strict=True,
            )
        ),
        coerce=int,
        validators=[Optional()],
    )
    sitting_times = StringField(
        _l("Sittings each of these days (e.g. 9:00-12:30, 14:00-17:30)"),
        validators=[Optional(), Length(max=200), _readable_times],
    )
    sittings = TextAreaField(
        _l("Or the sittings one a line (e.g. 2027-03-01 9:00-12:30); empty: one sitting"),
        validators=[Optional(), Length(max=10_000), _readable_sittings],
        render_kw={"rows": 4},
    )

    def sittings_given(self, current: str | None) -> list | None:
        """The sittings to write (None: leave them as they are)."""
        if (self.sitting_times.data or "").strip():
            days = set(self.sitting_days.data or range(7))
            return trainings.by_rule(
                self.starts_at.data.date(),
                self.ends_at.data.date(),
                days,
                trainings.parse_time_slots(self.sitting_times.data),
            )
        lines = (self.sittings.data or "").strip()
        if lines == (current or "").strip():
            return None
        return trainings.parse_lines(lines)


def access_choices() -> list[SelectChoice]:
    return options((f.code, f.label) for f in accessibility.FEATURES)


class AccessFieldsMixin:
    """A date's own accessibility, its held wheelchair places and group requests (i14)."""

    accessibility = MultiCheckboxField(
        _l("Accessibility of this date (besides the venue's)"),
        choices=access_choices(),
        validate_choice=False,  # domain/accessibility.py says which codes are unknown
    )
    wheelchair_spaces = IntegerField(
        _l("Places held for wheelchair users"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=100_000)],
        render_kw={"inputmode": "numeric", "min": 0},
    )
    wheelchair_release_hours = IntegerField(
        _l("Held places go to everyone this many hours before the start"),
        default=24,
        validators=[Optional(), NumberRange(min=0, max=24 * 366)],
        render_kw={"inputmode": "numeric", "min": 0},
    )
    groups = BooleanField(_l("Takes group requests (school classes, associations…)"))
    max_group_size = IntegerField(
        _l("Most people in one group (empty: no limit)"),
        validators=[Optional(), NumberRange(min=1, max=10_000)],
        render_kw={"inputmode": "numeric", "min": 1},
    )


class OccurrenceForm(SittingsFieldsMixin, AccessFieldsMixin, OccurrenceFieldsMixin, FlaskForm):
    starts_at = DateTimeLocalField(
        _l("Starts"), format=DATETIME_FORMAT, validators=[InputRequired()]
    )
    ends_at = DateTimeLocalField(_l("Ends"), format=DATETIME_FORMAT, validators=[InputRequired()])
    booking_opens_at = DateTimeLocalField(
        _l("Booking opens (empty: now)"), format=DATETIME_FORMAT, validators=[Optional()]
    )
    booking_closes_at = DateTimeLocalField(
        _l("Booking closes (empty: at the start)"),
        format=DATETIME_FORMAT,
        validators=[Optional()],
    )


WEEKDAYS = [
    (0, _l("Monday")),
    (1, _l("Tuesday")),
    (2, _l("Wednesday")),
    (3, _l("Thursday")),
    (4, _l("Friday")),
    (5, _l("Saturday")),
    (6, _l("Sunday")),
]
_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), (3, 2, 1)),
)


def parse_dates(text: str) -> list[date]:
    """Dates written 2027-05-14 or 14/05/2027, separated by commas, spaces or lines."""
    found = []
    for token in re.split(r"[\s,;]+", text or ""):
        if not token:
            continue
        for pattern, (y, m, d) in _DATE_PATTERNS:
            match = pattern.match(token)
            if match:
                found.append(date(int(match.group(y)), int(match.group(m)), int(match.group(d))))
                break
        else:
            raise ValueError(token)
    return found


def valid_date_list(form, field):
    try:
        parse_dates(field.data)
    except ValueError as error:
        raise ValidationError(
            _l("“%(text)s” is not a date: write 14/05/2027.", text=str(error)[:30])
        ) from None


class RecurrenceForm(OccurrenceFieldsMixin, FlaskForm):
    weekdays = MultiCheckboxField(
        _l("Every"),
        choices=options(WEEKDAYS),
        coerce=int,
        validators=[DataRequired(message=_l("Choose at least one day of the week."))],
    )
    every_weeks = IntegerField(
        _l("Every how many weeks"),
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=52)],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    start_time = TimeField(_l("Start time"), validators=[InputRequired()])
    end_time = TimeField(_l("End time"), validators=[InputRequired()])
    first_day = DateField(_l("From"), validators=[InputRequired()])
    last_day = DateField(_l("Until"), validators=[InputRequired()])
    except_dates = TextAreaField(
        _l("Except these dates (e.g. 14/05/2027, one or more)"),
        validators=[Optional(), Length(max=5000), valid_date_list],
        render_kw={"rows": 2},
    )
    booking_opens_days_before = IntegerField(
        _l("Booking opens this many days before each date (empty: now)"),
        validators=[Optional(), NumberRange(min=0, max=366)],
        render_kw={"inputmode": "numeric", "min": 0},
    )


class CapacityForm(FlaskForm):
    capacity = IntegerField(
        _l("Places"),
        validators=[InputRequired(), NumberRange(min=0, max=100_000)],
        render_kw={"inputmode": "numeric", "min": 0},
    )


class CancelOccurrenceForm(FlaskForm):
    reason = TextAreaField(
        _l("Message to the attendees"),
        validators=[DataRequired(), Length(max=2000)],
        render_kw={"rows": 4},
    )
    confirm = BooleanField(
        _l("Yes, cancel this date and tell everyone who booked"),
        validators=[DataRequired(message=_l("Tick the box to confirm."))],
    )


class ManualBookingForm(AttendeeFieldsMixin, FlaskForm):
    consent = BooleanField(
        _l("The person was told how their details are used (privacy notice)"),
        validators=[DataRequired(message=_l("Tell the person about the privacy notice first."))],
    )
    override_capacity = BooleanField(
        _l("Take the booking even if the date is full, closed or needs approval")
    )
    locale = SelectField(_l("Language of the emails"), choices=options(LANGUAGES))


class MessageForm(FlaskForm):
    statuses = MultiCheckboxField(
        _l("Send to"),
        choices=options(
            [
                ("confirmed", _l("Confirmed")),
                ("waitlisted", _l("Waiting list")),
                ("pending", _l("Awaiting approval")),
            ]
        ),
        default=["confirmed"],
        validators=[DataRequired(message=_l("Choose who receives the message."))],
    )
    message = TextAreaField(
        _l("Message"), validators=[DataRequired(), Length(max=5000)], render_kw={"rows": 6}
    )


class CancelBookingForm(FlaskForm):
    reason = StringField(
        _l("Reason (sent to the attendee)"),
        validators=[Optional(), Length(max=500), no_control_characters],
    )


class ChangeSeatsForm(FlaskForm):
    seats = IntegerField(
        _l("Places"),
        validators=[InputRequired(), NumberRange(min=1, max=1000)],
    )


class VenueForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=200), no_control_characters]
    )
    address = StringField(
        _l("Address"), validators=[Optional(), Length(max=300), no_control_characters]
    )
    postcode = StringField(
        _l("Postcode"), validators=[Optional(), Length(max=20), no_control_characters]
    )
    city = StringField(_l("City"), validators=[Optional(), Length(max=120), no_control_characters])
    capacity = IntegerField(
        _l("Most people the venue holds (empty: no limit)"),
        validators=[Optional(), NumberRange(min=1, max=100_000)],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    access = TextAreaField(
        _l("Access and accessibility"),
        validators=[Optional(), Length(max=5000)],
        render_kw={"rows": 3},
    )
    accessibility = MultiCheckboxField(
        _l("Accessibility of the venue"), choices=access_choices(), validate_choice=False
    )
    latitude = FloatField(_l("Latitude"), validators=[Optional(), NumberRange(min=-90, max=90)])
    longitude = FloatField(_l("Longitude"), validators=[Optional(), NumberRange(min=-180, max=180)])
    organisation_id = SelectField(_l("Organisation"), coerce=int, validate_choice=True)


class OrganisationForm(FlaskForm):
    name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=200), no_control_characters]
    )
    slug = StringField(
        _l("Short name in addresses (empty: made from the name)"),
        validators=[Optional(), Length(max=80)],
    )
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=5000)], render_kw={"rows": 3}
    )
    website = StringField(_l("Website"), validators=[Optional(), Length(max=500)])
    email = EmailField(
        _l("Contact email"),
        validators=[Optional(), Length(max=320), Email(check_deliverability=False)],
    )


class UserForm(FlaskForm):
    email = EmailField(
        _l("Email"), validators=[DataRequired(), Length(max=320), Email(check_deliverability=False)]
    )
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200), no_control_characters])
    organisation_id = SelectField(_l("Organisation"), coerce=int, validate_choice=True)
    is_admin = BooleanField(_l("Admin of the whole cluster"))
    active = BooleanField(_l("Active (may log in)"), default=True)
    locale = SelectField(_l("Language"), choices=options(LANGUAGES))


class PersonalDataForm(FlaskForm):
    email = EmailField(
        _l("The person's email address"),
        validators=[DataRequired(), Length(max=320), Email(check_deliverability=False)],
    )


class EraseForm(FlaskForm):
    """The confirmation step of an erasure: the address travels in a hidden field."""

    email = HiddenField(validators=[DataRequired(), Length(max=320)])
    confirm = BooleanField(
        _l("Yes, erase this person's data now: this cannot be undone"),
        validators=[DataRequired(message=_l("Tick the box to confirm."))],
    )


class PictureForm(FlaskForm):
    """An event's picture; the domain (domain/images.py) checks the file itself."""

    file = FileField(
        _l("Picture (JPEG, PNG or WebP, at most 10 MB)"),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    alt = StringField(
        _l("What the picture shows, for people who cannot see it"),
        validators=[Length(max=500), no_control_characters],
    )
    alt_en = StringField(
        _l("The same in English (optional)"),
        validators=[Optional(), Length(max=500), no_control_characters],
        render_kw={"lang": "en"},
    )


class SettingsForm(FlaskForm):
    """The cluster's identity (empty: the default from the environment)."""

    name = StringField(_l("Name of the site"), validators=[Length(max=200), no_control_characters])
    tagline = StringField(
        _l("Tagline (under the name, and the pages' description)"),
        validators=[Length(max=300), no_control_characters],
    )
    accent_colour = StringField(
        _l("Accent colour (#rrggbb, dark enough for text on white)"),
        validators=[Length(max=7), no_control_characters],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    contact_email = StringField(
        _l("Contact address"), validators=[Length(max=320), no_control_characters]
    )
    legal_notice = TextAreaField(
        _l("Legal notice (publisher, director of publication, host)"),
        validators=[Length(max=20_000)],
        render_kw={"rows": 8},
    )
    accessibility_statement = TextAreaField(
        _l("Accessibility statement: state of conformity and what is not yet accessible"),
        validators=[Length(max=20_000)],
        render_kw={"rows": 8},
    )
    logo = FileField(
        _l("Logo (JPEG, PNG or WebP)"),
        render_kw={"accept": "image/jpeg,image/png,image/webp"},
    )
    remove_logo = BooleanField(_l("Remove the logo"))
