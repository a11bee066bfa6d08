"""Organiser endpoints: Bearer token, and only the token's organisation's data."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from ..domain import bookings as rules
from ..domain import catalogue, questions, trainings
from ..domain import feedback as opinions
from ..extensions import db
from ..models import Booking, Event, Occurrence, Organisation, Question
from .auth import current_organiser, organiser_only, require_access
from .common import (
    BOOKING_REFERENCE,
    EVENT_SLUG,
    OCCURRENCE_ID,
    blueprint,
    require_json_body,
)
from .errors import ErrorSchema, fail
from .events import ID_RULE, SLUG_RULE, EventView, shown
from .fields import is_slug
from .schemas import (
    AttendanceResultSchema,
    AttendanceSchema,
    AttendeeSchema,
    CheckInSchema,
    EventCreateSchema,
    EventSchema,
    FeedbackResultsSchema,
    OccurrenceCreateSchema,
    OccurrencePatchSchema,
    OccurrenceSchema,
    QuestionCreateSchema,
    QuestionPatchSchema,
    QuestionSchema,
    VenueCreateSchema,
    VenueSchema,
)

bp = blueprint(
    "Organisers",
    __name__,
    "Organisers' endpoints: `Authorization: Bearer <token>`, scoped to the token's "
    "organisation (an admin's token reaches every organisation).",
)

REFERENCE_RULE = "<string(maxlength=16):reference>"
REFERENCE = re.compile(r"[A-Za-z0-9]{4}-[A-Za-z0-9]{4}")

NOT_FOUND = {"schema": ErrorSchema, "description": "Nothing has this id or reference."}


def managed_occurrence(occurrence_id: int) -> Occurrence:
    occurrence = db.session.scalar(
        select(Occurrence)
        .where(Occurrence.id == occurrence_id)
        .options(joinedload(Occurrence.event), joinedload(Occurrence.venue))
    )
    if occurrence is None:
        fail(404, "not_found")
    require_access(occurrence.event.organisation_id)
    return occurrence


def managed_booking(reference: str) -> Booking:
    booking = None
    if REFERENCE.fullmatch(reference):
        booking = db.session.scalar(
            select(Booking)
            .where(Booking.reference == reference.upper())
            .options(joinedload(Booking.occurrence).joinedload(Occurrence.event))
        )
    if booking is None or not current_organiser().can_manage(
        booking.occurrence.event.organisation_id
    ):
        fail(404, "not_found")  # another organisation's references stay unknown, as missing ones
    return booking


TRANSITION = {
    "schema": ErrorSchema,
    "description": "`invalid_state`: the booking is not in a state that allows this.",
}


INVALID = {"schema": ErrorSchema, "description": "Invalid fields, listed in `errors`."}
INVALID_RULES = {
    "schema": ErrorSchema,
    "description": "Invalid fields, listed in `errors`: also the rules between fields "
    "(an end after the start, booking that opens before the start, a capacity within the "
    "venue's and not below the places already confirmed…).",
}


@bp.route("/venues", methods=["POST"])
@organiser_only(bp)
@bp.arguments(VenueCreateSchema())
@bp.response(201, VenueSchema)
@bp.alt_response(422, **INVALID_RULES)
def create_venue(data: dict):
    """Add a venue, owned by the token's organisation; any organiser may hold dates there"""
    user = current_organiser()
    return catalogue.create_venue(actor=user, organisation_id=user.organisation_id, **data)


@bp.route("/events", methods=["POST"])
@organiser_only(bp)
@bp.arguments(EventCreateSchema())
@bp.response(201, EventSchema)
@bp.alt_response(422, **INVALID_RULES)
def create_event(data: dict):
    """Add an event, published at once unless `"status": "draft"`

    Its dates are added next with POST /api/v1/events/{slug}/occurrences.
    """
    user = current_organiser()
    slug = data.pop("organisation", None)
    if slug is None:
        organisation_id = user.organisation_id
    else:
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
        if organisation is None:
            fail(422, errors={"organisation": [_("There is no such organisation.")]})
        require_access(organisation.id)
        organisation_id = organisation.id
    if organisation_id is None:
        fail(422, errors={"organisation": [_("Say which organisation this event is for.")]})
    event = catalogue.create_event(organisation_id, actor=user, **data)
    return EventView(event, [])


@bp.route(f"/events/{SLUG_RULE}/occurrences", methods=["POST"], parameters=[EVENT_SLUG])
@organiser_only(bp)
@bp.arguments(OccurrenceCreateSchema())
@bp.response(201, OccurrenceSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No event has this slug.")
@bp.alt_response(422, **INVALID_RULES)
def create_occurrence(data: dict, slug: str):
    """Add a date to an event (drafts included)"""
    event = db.session.scalar(select(Event).where(Event.slug == slug)) if is_slug(slug) else None
    if event is None:
        fail(404, "not_found")
    require_access(event.organisation_id)
    occurrence = catalogue.create_occurrence(event.id, actor=current_organiser(), **data)
    return shown([managed_occurrence(occurrence.id)])[0]


@bp.route(f"/occurrences/{ID_RULE}", methods=["PATCH"], parameters=[OCCURRENCE_ID])
@organiser_only(bp)
@bp.arguments(OccurrencePatchSchema())
@bp.response(200, OccurrenceSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(409, **TRANSITION)
@bp.alt_response(422, **INVALID_RULES)
def patch_occurrence(data: dict, occurrence_id: int):
    """Change an occurrence: its time, venue, capacity, options, or cancel it

    A new time or venue tells every attendee by email (and their calendars, by a
    higher SEQUENCE); a higher capacity confirms people from the waiting list at
    once; `"status": "cancelled"` ends every live booking and tells each attendee.
    All the changes are made, or none.
    """
    require_json_body()
    occurrence = managed_occurrence(occurrence_id)
    reason = data.pop("cancel_reason", "")
    catalogue.update_occurrence(occurrence.id, actor=current_organiser(), reason=reason, **data)
    return shown([managed_occurrence(occurrence_id)])[0]


@bp.route(f"/occurrences/{ID_RULE}/attendees", parameters=[OCCURRENCE_ID])
@organiser_only(bp)
@bp.response(200, AttendeeSchema(many=True))
@bp.alt_response(404, **NOT_FOUND)
def attendees(occurrence_id: int):
    """Everyone who booked an occurrence, whatever their booking's status"""
    occurrence = managed_occurrence(occurrence_id)
    return db.session.scalars(
        select(Booking)
        .where(Booking.occurrence_id == occurrence.id)
        .order_by(Booking.status, Booking.created_at, Booking.id)
        .options(selectinload(Booking.answers))
    ).all()


def _booking_action(reference: str, action) -> Booking:
    booking = managed_booking(reference)
    action(booking.id, actor=current_organiser())
    return db.session.get(Booking, booking.id)


@bp.route(f"/bookings/{REFERENCE_RULE}/check-in", methods=["POST"], parameters=[BOOKING_REFERENCE])
@organiser_only(bp)
@bp.arguments(CheckInSchema(), required=False)
@bp.response(200, AttendeeSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(409, **TRANSITION)
@bp.alt_response(422, schema=ErrorSchema, description="Invalid fields, listed in `errors`.")
def check_in(data: dict, reference: str):
    """Mark a confirmed attendee as arrived (`{"undo": true}` takes it back)

    Checking in twice keeps the first arrival time.
    """
    booking = managed_booking(reference)
    # A date in sittings: the check-in is the sitting under way's (see /attendance).
    position = trainings.current_position(booking.occurrence)
    undo = data.get("undo", False)
    trainings.mark(booking.id, position, not undo, actor=current_organiser())
    return db.session.get(Booking, booking.id)


@bp.route(f"/bookings/{REFERENCE_RULE}/approve", methods=["POST"], parameters=[BOOKING_REFERENCE])
@organiser_only(bp)
@bp.response(200, AttendeeSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(
    409,
    schema=ErrorSchema,
    description="`invalid_state`: the booking is not pending; `full`: its places no "
    "longer fit; `closed`: the date is cancelled.",
)
def approve(reference: str):
    """Accept a pending booking request: it takes its places now"""
    return _booking_action(reference, rules.approve)


@bp.route(f"/bookings/{REFERENCE_RULE}/reject", methods=["POST"], parameters=[BOOKING_REFERENCE])
@organiser_only(bp)
@bp.response(200, AttendeeSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(409, **TRANSITION)
def reject(reference: str):
    """Decline a pending (or waiting) booking request"""
    return _booking_action(reference, rules.reject)


# --- trainings: attendance per sitting, feedback --------------------------------------


@bp.route(
    f"/bookings/{REFERENCE_RULE}/attendance", methods=["POST"], parameters=[BOOKING_REFERENCE]
)
@organiser_only(bp)
@bp.arguments(AttendanceSchema())
@bp.response(200, AttendanceResultSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(409, **TRANSITION)
@bp.alt_response(422, schema=ErrorSchema, description="Invalid fields, listed in `errors`.")
def attendance(data: dict, reference: str):
    """Mark a confirmed attendee present at one sitting (`"present": false` undoes it)

    `sitting` is the position in the occurrence's `sittings`, from 0; a date without
    sittings is one sitting (0), its check-in. Hours attended follow from the marks.
    """
    booking = managed_booking(reference)
    trainings.mark(booking.id, data["sitting"], data["present"], actor=current_organiser())
    booking = db.session.get(Booking, booking.id)
    present = trainings.present_at(booking)
    booking.sittings_present = sorted(present)
    booking.hours_attended = trainings.hours_attended(booking, present)
    booking.hours_planned = trainings.hours_planned(booking.occurrence)
    return booking


@bp.route(f"/occurrences/{ID_RULE}/feedback", parameters=[OCCURRENCE_ID])
@organiser_only(bp)
@bp.response(200, FeedbackResultsSchema)
@bp.alt_response(404, **NOT_FOUND)
def feedback(occurrence_id: int):
    """What the attendees answered after the date: average, distribution, comments"""
    occurrence = managed_occurrence(occurrence_id)
    found = opinions.results(occurrence_id=occurrence.id)
    return {
        "occurrence": occurrence.id,
        "count": found.count,
        "average": found.average,
        "distribution": {str(k): v for k, v in found.distribution.items()},
        "answers": [
            {
                "reference": booking.reference,
                "rating": answer.rating,
                "comment": answer.comment,
                "answered_at": answer.updated_at,
            }
            for answer, booking in found.answers
        ],
    }


# --- registration questions ----------------------------------------------------

QUESTION_ID = {"in": "path", "name": "question_id", "description": "A question's id.", "example": 1}


def _managed_event(slug: str) -> Event:
    event = db.session.scalar(select(Event).where(Event.slug == slug)) if is_slug(slug) else None
    if event is None:
        fail(404, "not_found")
    require_access(event.organisation_id)
    return event


def _managed_question(question_id: int) -> Question:
    question = db.session.get(Question, question_id)
    if question is None or question.deleted_at is not None:
        fail(404, "not_found")
    require_access(question.event.organisation_id)
    return question


@bp.route(f"/events/{SLUG_RULE}/questions", methods=["POST"], parameters=[EVENT_SLUG])
@organiser_only(bp)
@bp.arguments(QuestionCreateSchema())
@bp.response(201, QuestionSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No event has this slug.")
@bp.alt_response(422, **INVALID)
def create_question(data: dict, slug: str):
    """Add a registration question at the end of an event's booking form

    Bookings then answer it in `answers`: `{"<id>": value}`: a string (`text`,
    `textarea`, `choice`), a list of strings (`multiple`), `true`/`false` (`checkbox`;
    required means ticked) or a number (`number`).
    """
    event = _managed_event(slug)
    return questions.create_question(event.id, actor=current_organiser(), **data)


@bp.route(
    f"/questions/<int(max={2_147_483_647}):question_id>",
    methods=["PATCH"],
    parameters=[QUESTION_ID],
)
@organiser_only(bp)
@bp.arguments(QuestionPatchSchema())
@bp.response(200, QuestionSchema)
@bp.alt_response(404, **NOT_FOUND)
@bp.alt_response(422, **INVALID)
def patch_question(data: dict, question_id: int):
    """Change a question; the answers already given keep the wording they answered"""
    require_json_body()
    question = _managed_question(question_id)
    return questions.update_question(question.id, actor=current_organiser(), **data)


@bp.route(
    f"/questions/<int(max={2_147_483_647}):question_id>",
    methods=["DELETE"],
    parameters=[QUESTION_ID],
)
@organiser_only(bp)
@bp.response(204)
@bp.alt_response(404, **NOT_FOUND)
def delete_question(question_id: int):
    """Stop asking a question; its answers stay readable with the bookings"""
    question = _managed_question(question_id)
    questions.delete_question(question.id, actor=current_organiser())
    return ""
