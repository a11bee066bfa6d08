"""What the API reads and writes, named as in SURFACE.md."""

from __future__ import annotations

from types import SimpleNamespace

import marshmallow as ma
from flask import current_app
from marshmallow import validate

from ..domain import accessibility, listing, questions, trainings
from ..domain.groups import GROUP_TYPES
from ..domain.images import image_json
from ..domain.languages import TRANSLATED_FIELDS, localised
from ..forms import PHONE_PATTERN
from ..i18n import current_language
from ..models import BookingStatus, EventKind, EventStatus, OccurrenceStatus
from .fields import (
    ONE_LINE,
    SLUG,
    Count,
    Day,
    Line,
    Moment,
    Number,
    OneLine,
    Slug,
    StrictBoolean,
    Text,
)

PAGE_MAX = 100_000
MAX_CAPACITY = 100_000


# --- public reading -----------------------------------------------------------


class SittingSchema(ma.Schema):
    position = ma.fields.Integer(required=True)
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)


def _sittings(occurrence) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            position=n, starts_at=slot.starts_at, ends_at=slot.ends_at, venue=occurrence.venue
        )
        for n, slot in enumerate(trainings.slots(occurrence))
    ]


class OccurrenceSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    event = ma.fields.Function(
        lambda o: o.event.slug, required=True, metadata={"description": "The event's slug."}
    )
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    venue = ma.fields.Function(
        lambda o: o.venue.slug, required=True, metadata={"description": "The venue's slug."}
    )
    venue_name = ma.fields.Function(lambda o: o.venue.name, required=True)
    address = ma.fields.Function(lambda o: o.venue.full_address, required=True)
    capacity = ma.fields.Integer(required=True)
    seats_left = ma.fields.Function(
        lambda o: o.availability.seats_left,
        required=True,
        metadata={"description": "Places still free (0 when full)."},
    )
    status = ma.fields.String(
        required=True, validate=validate.OneOf([s.value for s in OccurrenceStatus])
    )
    booking_open = ma.fields.Function(
        lambda o: o.availability.booking_open,
        required=True,
        metadata={"description": "A booking request would be taken now (possibly waitlisted)."},
    )
    availability = ma.fields.Function(
        lambda o: o.availability.state,
        required=True,
        metadata={
            "description": "What a person sees at a glance: open, last_places, waitlist, full, "
            "closed, not_yet_open, past or cancelled."
        },
    )
    waitlist = ma.fields.Boolean(required=True)
    requires_approval = ma.fields.Boolean(required=True)
    max_seats_per_booking = ma.fields.Integer(required=True)
    booking_opens_at = Moment(allow_none=True, required=True)
    booking_closes_at = Moment(allow_none=True, required=True)
    cancel_reason = ma.fields.String(required=True)
    sittings = ma.fields.Method(
        "get_sittings",
        required=True,
        metadata={
            "description": "Its sittings (e.g. each half-day of a training), in order; "
            "attendance is kept per sitting, named by `position`. A date not cut into "
            "sittings is one sitting, its own start to end.",
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "position": {"type": "integer"},
                    "starts_at": {"type": "string", "format": "date-time"},
                    "ends_at": {"type": "string", "format": "date-time"},
                },
                "required": ["position", "starts_at", "ends_at"],
            },
        },
    )

    def get_sittings(self, occurrence) -> list[dict]:
        return SittingSchema(many=True).dump(_sittings(occurrence))
    # accessibility, held wheelchair places, group requests (domain/accessibility.py, groups.py)
    accessibility = ma.fields.Function(
        accessibility.occurrence_codes,
        required=True,
        metadata={"description": "Accessibility codes: the venue's and this date's own."},
    )
    wheelchair_spaces = ma.fields.Integer(
        required=True, metadata={"description": "Places held for wheelchair users."}
    )
    wheelchair_release_hours = ma.fields.Integer(
        required=True,
        metadata={"description": "Held places go to everyone this many hours before the start."},
    )
    wheelchair_spaces_left = ma.fields.Function(
        lambda o: o.availability.wheelchair_left,
        required=True,
        metadata={
            "description": "Held places still free (0 once released), apart from seats_left."
        },
    )
    groups = ma.fields.Boolean(required=True, metadata={"description": "Takes group requests."})
    max_group_size = ma.fields.Integer(required=True, allow_none=True)


class QuestionSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    label = ma.fields.String(required=True)
    label_en = ma.fields.String(required=True)
    type = ma.fields.String(required=True, validate=validate.OneOf(questions.TYPES))
    choices = ma.fields.List(ma.fields.String(), required=True)
    required = ma.fields.Boolean(required=True)


class QuestionCreateSchema(ma.Schema):
    label = Line(300, required=True)
    label_en = OneLine(300)
    type = ma.fields.String(required=True, validate=validate.OneOf(questions.TYPES))
    choices = ma.fields.List(
        Line(200),
        validate=validate.Length(max=questions.MAX_CHOICES),
        metadata={"description": "The choices offered (types choice and multiple only)."},
    )
    required = StrictBoolean(load_default=False)


class QuestionPatchSchema(QuestionCreateSchema):
    label = Line(300)
    type = ma.fields.String(validate=validate.OneOf(questions.TYPES))
    required = StrictBoolean()


class EventSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in EventKind]))
    summary = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    organisation = ma.fields.Function(lambda e: e.organisation.slug, required=True)
    organisation_name = ma.fields.Function(lambda e: e.organisation.name, required=True)
    parent = ma.fields.Function(
        lambda e: e.parent.slug if e.parent else None, required=True, allow_none=True
    )
    url = ma.fields.Function(
        lambda e: f"{current_app.config['PUBLIC_URL']}/events/{e.slug}",
        required=True,
        metadata={"description": "Its public page."},
    )
    occurrences = ma.fields.List(ma.fields.Nested(OccurrenceSchema), required=True)
    questions = ma.fields.List(
        ma.fields.Nested(QuestionSchema),
        required=True,
        metadata={"description": "Registration questions, answered in a booking's `answers`."},
    )
    title_en = ma.fields.String(
        required=True, metadata={"description": "The English title; empty if none."}
    )
    summary_en = ma.fields.String(required=True)
    description_en = ma.fields.String(required=True)
    shown = ma.fields.Function(
        lambda e: shown_texts(e),
        required=True,
        metadata={
            "description": "The texts in the request's language (`?lang=en`): the English "
            "ones where written, the French ones otherwise, each with its language."
        },
    )
    image = ma.fields.Function(
        lambda e: image_json(e.image),
        required=True,
        allow_none=True,
        metadata={"description": "Its picture: `{url, alt, alt_en, width, height}`, or null."},
    )
    source_url = ma.fields.String(
        allow_none=True,
        dump_default=None,
        metadata={"description": "A followed event: the iCalendar feed it comes from."},
    )
    external_url = ma.fields.String(
        allow_none=True,
        dump_default=None,
        metadata={"description": "A followed event: its page at the source, where one books."},
    )


def shown_texts(event) -> dict:
    language = current_language()
    shown = {}
    for name in TRANSLATED_FIELDS:
        text, lang = localised(getattr(event, name), getattr(event, f"{name}_en"), language)
        shown[name], shown[f"{name}_lang"] = text, lang
    return shown


class ImageSchema(ma.Schema):
    url = ma.fields.String(required=True, metadata={"description": "Absolute URL of a JPEG."})
    alt = ma.fields.String(required=True)
    alt_en = ma.fields.String(required=True)
    width = ma.fields.Integer(required=True)
    height = ma.fields.Integer(required=True)


# --- booking --------------------------------------------------------------------


class GroupSchema(ma.Schema):
    name = Line(200, required=True)
    type = ma.fields.String(required=True, validate=validate.OneOf(list(GROUP_TYPES)))
    children = Count(0, 10_000, load_default=0)
    adults = Count(0, 10_000, load_default=0)


def AccessCodes(**kwargs) -> ma.fields.List:
    kwargs.setdefault(
        "metadata", {"description": "Accessibility codes: " + ", ".join(accessibility.CODES)}
    )
    return ma.fields.List(
        ma.fields.String(validate=validate.OneOf(accessibility.CODES)),
        validate=validate.Length(max=len(accessibility.CODES) * 2),
        **kwargs,
    )


class BookingRequestSchema(ma.Schema):
    name = Line(200, required=True)
    email = ma.fields.Email(required=True, validate=validate.Length(max=320))
    seats = Count(
        1, 1000, metadata={"description": "Required, except for a group (children + adults)."}
    )
    wheelchair = StrictBoolean(
        load_default=False,
        metadata={"description": "Someone in the party uses a wheelchair: takes a held place."},
    )
    answers = ma.fields.Dict(
        keys=ma.fields.String(validate=validate.Length(max=20)),
        values=ma.fields.Raw(allow_none=True),
        validate=validate.Length(max=100),
        metadata={"description": 'Registration answers: {"<question id>": value}.'},
    )
    group = ma.fields.Nested(
        GroupSchema,
        metadata={"description": "A group request (dates with `groups`): waits for approval."},
    )

    @ma.validates_schema(skip_on_field_errors=False)
    def seats_or_group(self, data, **kwargs):
        if "seats" not in data and "group" not in data:
            raise ma.ValidationError("Missing data for required field.", "seats")

    consent = StrictBoolean(
        required=True,
        validate=validate.Equal(True, error="Please accept the privacy notice to book."),
        metadata={"description": "The privacy notice acknowledged: must be true."},
    )
    phone = ma.fields.String(
        validate=validate.Regexp(
            PHONE_PATTERN, error="Enter a phone number with digits, spaces and + only."
        ),
    )
    locale = ma.fields.String(
        validate=validate.OneOf(["fr", "en"]),
        metadata={"description": "The language of the emails; by default the request's."},
    )


class IdempotencySchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # every other header

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        validate=[validate.Length(min=1, max=200), validate.Regexp(r"^[\x21-\x7e]+$")],
        load_default=None,
        metadata={
            "description": "Any unique string (a UUID): repeating the request with the same "
            "key returns the booking made the first time instead of a second one."
        },
    )


class BookingCreatedSchema(ma.Schema):
    reference = ma.fields.String(required=True)
    status = ma.fields.String(
        required=True,
        validate=validate.OneOf(["confirmed", "waitlisted", "pending"]),
    )
    seats = ma.fields.Integer(required=True)
    token = ma.fields.String(
        required=True,
        metadata={
            "description": "The secret of the attendee's own page and of "
            "this API's /bookings/{token}."
        },
    )
    manage_url = ma.fields.String(required=True)


class BookingSchema(BookingCreatedSchema):
    status = ma.fields.String(
        required=True, validate=validate.OneOf([s.value for s in BookingStatus])
    )
    name = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    phone = ma.fields.String(required=True)
    locale = ma.fields.String(required=True)
    created_at = Moment(required=True)
    cancelled_at = Moment(required=True, allow_none=True)
    can_cancel = ma.fields.Boolean(required=True)
    cancellation_deadline = Moment(required=True)
    occurrence = ma.fields.Nested(OccurrenceSchema, required=True)


# --- filters and pages -------------------------------------------------------------


class FilterArgs(ma.Schema):
    """The filters of /events, for the API (``listing.parse_filters`` reads them)."""

    class Meta:
        unknown = ma.EXCLUDE  # ?lang=en and the like

    kind = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(listing.KINDS)),
        metadata={"description": "Only these kinds (repeat the parameter for several)."},
    )
    venue = ma.fields.List(Slug(), metadata={"description": "Only at these venues (slugs)."})
    organisation = ma.fields.List(
        Slug(), metadata={"description": "Only by these organisations (slugs)."}
    )
    q = ma.fields.String(
        validate=[validate.Length(max=listing.MAX_QUERY_LENGTH), validate.Regexp(ONE_LINE)],
        metadata={"description": "Words to find in titles, descriptions, venues, organisers."},
    )
    from_ = Day(
        data_key="from",
        metadata={
            "description": "From this day on (a date, or a time with its offset); "
            "by default from now.",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
        },
    )
    to = Day(
        metadata={
            "description": "Until this day, included.",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
        },
    )
    available = ma.fields.Boolean(
        metadata={"description": "true: only occurrences that can still be booked."}
    )
    access = ma.fields.List(
        ma.fields.String(validate=validate.OneOf(accessibility.CODES)),
        metadata={"description": "Only dates offering all these accessibility codes (repeat)."},
    )
    page = ma.fields.Integer(load_default=1, validate=validate.Range(1, PAGE_MAX))
    per_page = ma.fields.Integer(
        load_default=listing.DEFAULT_PER_PAGE, validate=validate.Range(1, listing.MAX_PER_PAGE)
    )

    @ma.post_load
    def as_query(self, data, **kwargs) -> dict:
        """Back to the query-string form the shared parser reads."""
        query = {key: value for key, value in data.items() if key != "from_"}
        if "from_" in data:
            query["from"] = data["from_"]
        if "available" in data:
            query["available"] = "1" if data["available"] else "0"
        return query


PAGE_HEADERS = {
    "X-Total-Count": {
        "description": "How many items all pages hold.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Link": {
        "description": "Links to the `next` and `prev` pages (RFC 8288), when there are.",
        "schema": {"type": "string"},
    },
}


# --- organisers ----------------------------------------------------------------


class AttendeeSchema(ma.Schema):
    reference = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    phone = ma.fields.String(required=True)
    seats = ma.fields.Integer(required=True)
    status = ma.fields.String(
        required=True, validate=validate.OneOf([s.value for s in BookingStatus])
    )
    source = ma.fields.String(required=True)
    locale = ma.fields.String(required=True)
    created_at = Moment(required=True)
    confirmed_at = Moment(required=True, allow_none=True)
    cancelled_at = Moment(required=True, allow_none=True)
    checked_in_at = Moment(required=True, allow_none=True)
    wheelchair = ma.fields.Boolean(required=True)
    group = ma.fields.Function(
        lambda b: (
            {
                "name": b.group_name,
                "type": b.group_type,
                "children": b.group_children,
                "adults": b.group_adults,
            }
            if b.is_group
            else None
        ),
        required=True,
        allow_none=True,
    )
    answers = ma.fields.Function(
        questions.as_json,
        required=True,
        metadata={"description": "Registration answers, each with its question's label."},
    )


class OccurrenceFieldsSchema(ma.Schema):
    """What an organiser sets on an occurrence; times with their offset."""

    starts_at = Moment()
    ends_at = Moment()
    venue = Slug(metadata={"description": "The venue's slug (see GET /api/v1/venues)."})
    capacity = Count(0, MAX_CAPACITY)
    waitlist = StrictBoolean(
        metadata={"description": "When full, further requests join a waiting list."}
    )
    requires_approval = StrictBoolean(
        metadata={"description": "Each request waits for the organiser's approval."}
    )
    max_seats_per_booking = Count(
        1, MAX_CAPACITY, allow_none=True, metadata={"description": "null: the default (6)."}
    )
    booking_opens_at = Moment(allow_none=True)
    booking_closes_at = Moment(allow_none=True)
    cancellation_deadline_hours = Count(
        0,
        24 * 366,
        metadata={"description": "Attendees may cancel until this many hours before."},
    )
    sittings = ma.fields.List(
        ma.fields.Nested(lambda: SittingInSchema()),
        metadata={
            "description": "Cut the date into sittings (half-days…), each within it; "
            "`[]` makes it one sitting again. Sittings with attendance recorded cannot move."
        },
    )
    accessibility = AccessCodes()
    wheelchair_spaces = Count(
        0, MAX_CAPACITY, metadata={"description": "Places held for wheelchair users (default 0)."}
    )
    wheelchair_release_hours = Count(
        0, 24 * 366, metadata={"description": "Released to everyone this many hours before."}
    )
    groups = StrictBoolean(metadata={"description": "Takes group requests."})
    max_group_size = Count(1, 10_000, allow_none=True)


class OccurrenceCreateSchema(OccurrenceFieldsSchema):
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)
    venue = Slug(required=True, metadata={"description": "The venue's slug."})
    capacity = Count(0, MAX_CAPACITY, required=True)


class OccurrencePatchSchema(OccurrenceFieldsSchema):
    status = ma.fields.String(
        validate=validate.OneOf([s.value for s in OccurrenceStatus]),
        metadata={
            "description": "`cancelled` cancels the date and tells every attendee; a "
            "cancelled date cannot be scheduled again."
        },
    )
    cancel_reason = Text(
        2000, metadata={"description": "Told to the attendees with `status`; ignored without it."}
    )


class VenueSchema(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    address = ma.fields.String(required=True)
    postcode = ma.fields.String(required=True)
    city = ma.fields.String(required=True)
    access = ma.fields.String(required=True, metadata={"description": "How to get in."})
    capacity = ma.fields.Integer(required=True, allow_none=True)
    latitude = ma.fields.Float(required=True, allow_none=True)
    longitude = ma.fields.Float(required=True, allow_none=True)
    timezone = ma.fields.String(required=True)
    accessibility = ma.fields.Function(accessibility.venue_codes, required=True)
    organisation = ma.fields.Function(
        lambda v: v.organisation.slug if v.organisation else None,
        required=True,
        allow_none=True,
    )


class VenueCreateSchema(ma.Schema):
    name = Line(200, required=True)
    address = Line(300, required=True)
    city = Line(120, required=True)
    postcode = OneLine(20)
    access = Text(5000)
    accessibility = AccessCodes()
    capacity = Count(1, MAX_CAPACITY, allow_none=True)
    latitude = Number(-90, 90, allow_none=True)
    longitude = Number(-180, 180, allow_none=True)
    timezone = ma.fields.String(
        validate=[validate.Length(max=64), validate.Regexp(r"^[A-Za-z]+(?:/[A-Za-z0-9_+-]+)+$")],
        metadata={"description": "An IANA zone, Europe/Paris by default."},
    )
    slug = Slug(
        validate=[validate.Length(min=1, max=80), validate.Regexp(SLUG)],
        metadata={"description": "By default made from the name."},
    )


class EventCreateSchema(ma.Schema):
    title = Line(200, required=True)
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in EventKind]))
    description = Text(20_000)
    summary = OneLine(500)
    title_en = OneLine(200, metadata={"description": "The title in English (optional)."})
    summary_en = OneLine(500)
    description_en = Text(20_000)
    parent = Slug(
        allow_none=True, metadata={"description": "The slug of the festival it belongs to."}
    )
    status = ma.fields.String(
        validate=validate.OneOf([s.value for s in EventStatus]),
        metadata={"description": "`draft` keeps it hidden; published at once by default."},
    )
    slug = Slug(
        validate=[validate.Length(min=1, max=80), validate.Regexp(SLUG)],
        metadata={"description": "By default made from the title."},
    )
    organisation = Slug(
        metadata={
            "description": "The organisation's slug: by default the token's; another one "
            "only with an admin's token."
        }
    )


class CheckInSchema(ma.Schema):
    undo = StrictBoolean(
        load_default=False, metadata={"description": "true: undo a mistaken check-in."}
    )


# --- trainings: attendance and feedback --------------------------------------------


class SittingInSchema(ma.Schema):
    starts_at = Moment(required=True)
    ends_at = Moment(required=True)


class AttendanceSchema(ma.Schema):
    sitting = Count(
        0,
        trainings.MAX_SITTINGS - 1,
        required=True,
        metadata={"description": "The sitting's position in the occurrence's `sittings`."},
    )
    present = StrictBoolean(
        load_default=True, metadata={"description": "false: undo a mistaken mark."}
    )


class AttendanceResultSchema(AttendeeSchema):
    sittings_present = ma.fields.List(
        ma.fields.Integer(), required=True, metadata={"description": "Positions present at."}
    )
    hours_attended = ma.fields.Float(required=True)
    hours_planned = ma.fields.Float(required=True)


class FeedbackAnswerSchema(ma.Schema):
    reference = ma.fields.String(required=True)
    rating = ma.fields.Integer(required=True)
    comment = ma.fields.String(required=True)
    answered_at = Moment(required=True)


class FeedbackResultsSchema(ma.Schema):
    occurrence = ma.fields.Integer(required=True)
    count = ma.fields.Integer(required=True)
    average = ma.fields.Float(required=True, allow_none=True)
    distribution = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={"description": "How many answers gave each rating, \"1\" to \"5\"."},
    )
    answers = ma.fields.List(ma.fields.Nested(FeedbackAnswerSchema), required=True)
