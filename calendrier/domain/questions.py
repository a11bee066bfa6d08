"""Registration questions: what an organiser asks each person who books an event.

Types: ``text`` (one line), ``textarea`` (several lines), ``choice`` (one of the
choices), ``multiple`` (several of them), ``checkbox`` (yes or no; "required" means
it must be ticked, as for an agreement) and ``number``. Labels in French, and in
English when written (``label_en``).

Answers are checked by ``check_answers``, the one rule the booking form, the API and
every other door go through (``bookings.book`` calls it before anything is written).
Each answer keeps its own copy of the question's label and type: changing or removing
a question never makes the answers already given unreadable (a removed question that
has answers is only marked ``deleted_at``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Exists, func, select

from ..extensions import db
from ..models import Answer, Booking, Event, Occurrence, Question, QuestionType, User
from ..timeutil import utcnow
from . import audit
from .errors import InvalidInput, NotFound
from .text import has_control_characters

TYPES: tuple[str, ...] = tuple(t.value for t in QuestionType)
TYPE_LABELS = {
    "text": _l("Short text"),
    "textarea": _l("Long text"),
    "choice": _l("One choice"),
    "multiple": _l("Several choices"),
    "checkbox": _l("Yes / no"),
    "number": _l("Number"),
}
WITH_CHOICES = ("choice", "multiple")
MAX_QUESTIONS = 30
MAX_CHOICES = 50
MAX_LABEL = 300
MAX_CHOICE = 200
MAX_TEXT = {"text": 500, "textarea": 5000}
MAX_NUMBER = 1e9


# --- the organiser's questions -------------------------------------------------------


def event_questions(event_id: int) -> list[Question]:
    """The questions asked now, in order (removed ones left out)."""
    return list(
        db.session.scalars(
            select(Question)
            .where(Question.event_id == event_id, Question.deleted_at.is_(None))
            .order_by(Question.position, Question.id)
        )
    )


def occurrence_questions(occurrence_id: int) -> list[Question]:
    """The questions of the event an occurrence belongs to, in one query."""
    return list(
        db.session.scalars(
            select(Question)
            .join(Occurrence, Occurrence.event_id == Question.event_id)
            .where(Occurrence.id == occurrence_id, Question.deleted_at.is_(None))
            .order_by(Question.position, Question.id)
        )
    )


def any_asked(event_id) -> Exists:
    """Whether the event ``event_id`` (a column, e.g. ``Occurrence.event_id``) asks any."""
    return (
        select(Question.id).where(Question.event_id == event_id, Question.deleted_at.is_(None))
    ).exists()


def _values(data: Mapping[str, Any], question: Question | None) -> dict[str, Any]:
    """Check a question's fields; raise ``InvalidInput`` naming each wrong one."""
    errors: dict[str, list] = {}
    current = {
        "label": question.label if question else None,
        "label_en": question.label_en if question else "",
        "type": question.type if question else None,
        "choices": list(question.choices or []) if question else [],
        "required": question.required if question else False,
    }
    values = {**current, **{k: v for k, v in data.items() if k in current}}
    unknown = set(data) - set(current)
    if unknown:
        errors["_body"] = [_l("Unknown fields: %(names)s", names=", ".join(sorted(unknown)))]
    for name, required in (("label", True), ("label_en", False)):
        text = values[name]
        text = text.strip() if isinstance(text, str) else text
        if (
            not isinstance(text, str)
            or (required and not text)
            or len(text) > MAX_LABEL
            or has_control_characters(text)
        ):
            errors[name] = [_l("Write the question on one line (at most 300 characters).")]
        values[name] = text
    if values["type"] not in TYPES:
        errors["type"] = [_l("Choose a type: %(types)s.", types=", ".join(TYPES))]
    if not isinstance(values["required"], bool):
        errors["required"] = [_l("true or false.")]
    choices = values["choices"] if values["choices"] is not None else []
    if values["type"] in WITH_CHOICES:
        cleaned = (
            [c.strip() for c in choices if isinstance(c, str)]
            if isinstance(choices, list | tuple)
            else []
        )
        if (
            len(cleaned) != len(choices)
            or not 1 <= len(cleaned) <= MAX_CHOICES
            or len(set(cleaned)) != len(cleaned)
            or any(not c or len(c) > MAX_CHOICE or has_control_characters(c) for c in cleaned)
        ):
            errors["choices"] = [_l("Give between 1 and 50 different choices, each on one line.")]
        values["choices"] = cleaned
    elif "choices" in data and choices not in ([], None):
        errors["choices"] = [_l("Only one-choice and several-choice questions have choices.")]
    else:
        values["choices"] = []
    if errors:
        raise InvalidInput(errors)
    return values


def create_question(event_id: int, *, actor: User | None = None, **data: Any) -> Question:
    """Add a question at the end of an event's form. Commits."""
    try:
        event = db.session.get(Event, event_id)
        if event is None:
            raise NotFound(event_id)
        values = _values(data, None)
        if len(event_questions(event_id)) >= MAX_QUESTIONS:
            raise InvalidInput({"_body": [_l("At most 30 questions per event.")]})
        last = db.session.scalar(
            select(func.max(Question.position)).where(Question.event_id == event_id)
        )
        question = Question(event_id=event_id, position=(last or 0) + 1, **values)
        db.session.add(question)
        db.session.flush()
        _audit(actor, "question.created", question)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return question


def _get(question_id: int) -> Question:
    question = db.session.get(Question, question_id)
    if question is None or question.deleted_at is not None:
        raise NotFound(question_id)
    return question


def update_question(question_id: int, *, actor: User | None = None, **changes: Any) -> Question:
    """Change a question. Answers already given keep the label they were given under. Commits."""
    try:
        question = _get(question_id)
        values = _values(changes, question)
        for name, value in values.items():
            setattr(question, name, value)
        _audit(actor, "question.changed", question)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return question


def delete_question(question_id: int, *, actor: User | None = None) -> None:
    """Stop asking a question; one that has answers is kept, marked removed. Commits."""
    try:
        question = _get(question_id)
        answered = db.session.scalar(
            select(func.count(Answer.id)).where(Answer.question_id == question.id)
        )
        _audit(actor, "question.removed", question)
        if answered:
            question.deleted_at = utcnow()
        else:
            db.session.delete(question)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def move_question(question_id: int, step: int, *, actor: User | None = None) -> None:
    """Move a question up (``step`` -1) or down (+1) in its event's form. Commits."""
    try:
        question = _get(question_id)
        ordered = event_questions(question.event_id)
        index = next(i for i, q in enumerate(ordered) if q.id == question.id)
        target = index + (1 if step > 0 else -1)
        if 0 <= target < len(ordered):
            ordered[index], ordered[target] = ordered[target], ordered[index]
            for position, item in enumerate(ordered, start=1):
                item.position = position
            _audit(actor, "question.moved", question, position=target + 1)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def copy_questions(source_event_id: int, target_event_id: int) -> None:
    """A duplicated event asks the same questions (the caller commits)."""
    for question in event_questions(source_event_id):
        db.session.add(
            Question(
                event_id=target_event_id,
                position=question.position,
                label=question.label,
                label_en=question.label_en,
                type=question.type,
                choices=list(question.choices or []),
                required=question.required,
            )
        )


def _audit(actor: User | None, action: str, question: Question, **details: Any) -> None:
    event = question.event or db.session.get(Event, question.event_id)
    audit.record(
        actor,
        action,
        question,
        organisation_id=event.organisation_id,
        event=event.slug,
        label=question.label,
        **details,
    )


# --- answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    question: Question
    value: Any


def label_of(item: Question | Answer, language: str = "fr") -> str:
    return (item.label_en if language == "en" and item.label_en else item.label) or ""


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def _check_one(question: Question, value: Any, *, from_form: bool):
    """The value as stored, or raise ValueError with the reason for the person."""
    kind = question.type
    if from_form:
        value = from_form_value(kind, value)
    if value is None:
        return None
    if kind in MAX_TEXT:
        if not isinstance(value, str):
            raise ValueError(_("write some text"))
        value = value.strip()
        if len(value) > MAX_TEXT[kind]:
            raise ValueError(_("at most %(n)d characters", n=MAX_TEXT[kind]))
        if has_control_characters(value, multiline=kind == "textarea"):
            raise ValueError(_("characters that are not allowed"))
        return value
    if kind == "choice":
        if not isinstance(value, str) or value not in (question.choices or []):
            raise ValueError(_("choose one of the choices offered"))
        return value
    if kind == "multiple":
        if not isinstance(value, list) or any(
            not isinstance(v, str) or v not in (question.choices or []) for v in value
        ):
            raise ValueError(_("choose among the choices offered"))
        return [c for c in question.choices if c in value]
    if kind == "checkbox":
        if not isinstance(value, bool):
            raise ValueError(_("true or false"))
        return value
    if kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > MAX_NUMBER
        ):
            raise ValueError(_("give a number"))
        return int(value) if float(value).is_integer() else float(value)
    raise ValueError(_("unknown question type"))


def from_form_value(kind: str, value: Any) -> Any:
    """The strings a form sends, as the JSON values the API takes."""
    if kind == "multiple":
        return [v for v in (value or []) if v != ""]
    if isinstance(value, list):
        value = value[0] if value else None
    if kind == "checkbox":
        return value if isinstance(value, bool) else value not in (None, "", "n", "false", "0")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind == "number":
        try:
            number = float(str(value).replace(",", ".").replace("\u202f", "").replace(" ", ""))
        except ValueError:
            raise ValueError(_("give a number")) from None
        return number
    return value


def check_answers(
    questions: Sequence[Question],
    answers: Mapping[str, Any] | None,
    *,
    require: bool = True,
    from_form: bool = False,
) -> list[Checked]:
    """The answers as they will be stored, or ``InvalidInput`` with ``answers`` messages.

    ``answers`` maps a question's id (as text) to its value. ``require=False`` (an
    organiser adding a booking by hand) lets required questions go unanswered.
    """
    answers = answers if answers is not None else {}
    problems: list[str] = []
    by_question: dict[int, str] = {}  # the same, for a form to show beside each field
    if not isinstance(answers, Mapping):
        raise InvalidInput({"answers": [_l("Send the answers as an object: question id → value.")]})
    by_id = {str(q.id): q for q in questions}
    for key in answers:
        if str(key) not in by_id:
            problems.append(_("%(key)s: not a question of this event.", key=str(key)[:20]))
    checked: list[Checked] = []
    for key, question in by_id.items():
        try:
            value = _check_one(question, answers.get(key), from_form=from_form)
        except ValueError as error:
            problems.append(f"{question.id}: {label_of(question)}: {error}")
            by_question[question.id] = str(error)
            continue
        if _missing(value):
            if question.required and require:
                by_question[question.id] = _("An answer is required.")
                problems.append(
                    _(
                        "%(id)s: %(label)s: an answer is required.",
                        id=question.id,
                        label=label_of(question),
                    )
                )
            if value is None:
                continue
        checked.append(Checked(question, value))
    if problems:
        error = InvalidInput({"answers": problems})
        error.by_question = by_question
        raise error
    return checked


def write_answers(booking: Booking, checked: Sequence[Checked]) -> None:
    """Keep the answers with the booking, each with its question's label (caller commits)."""
    for item in checked:
        question = item.question
        db.session.add(
            Answer(
                booking=booking,
                question_id=question.id,
                position=question.position,
                label=question.label,
                label_en=question.label_en or "",
                type=question.type,
                value=item.value,
            )
        )


def display(answer: Answer) -> str:
    """An answer as a person reads it (lists, exports, the attendee's page)."""
    value = answer.value
    if value is None:
        return ""
    if answer.type == "checkbox":
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def as_json(booking: Booking) -> list[dict[str, Any]]:
    """The API's ``answers`` of an attendee: readable on their own, labels included."""
    return [
        {
            "question": a.question_id,
            "label": a.label,
            "label_en": a.label_en,
            "type": a.type,
            "value": a.value,
        }
        for a in booking.answers
    ]


def columns(bookings: Sequence[Booking], language: str = "fr") -> list[tuple[tuple, str]]:
    """The export's question columns: one per question answered or asked, in order."""
    seen: dict[tuple, str] = {}
    for booking in bookings:
        for answer in booking.answers:
            key = ("q", answer.question_id) if answer.question_id else ("a", answer.label)
            seen.setdefault(key, (answer.position, label_of(answer, language)))
    return [(key, label) for key, (_pos, label) in sorted(seen.items(), key=lambda kv: kv[1][0])]


def cells(booking: Booking, keys: Sequence[tuple]) -> list[str]:
    mine = {
        (("q", a.question_id) if a.question_id else ("a", a.label)): display(a)
        for a in booking.answers
    }
    return [mine.get(key, "") for key in keys]


def erase_answers(booking_ids: Sequence[int]) -> None:
    """The purge and the erasure: answers may say who someone is; they go (caller commits)."""
    if booking_ids:
        db.session.execute(
            Answer.__table__.delete().where(Answer.booking_id.in_(list(booking_ids)))
        )
