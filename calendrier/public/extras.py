"""What the booking form asks besides places: wheelchair, the event's questions, a group.

The fields are built from the event's questions; the answers are checked by
``domain/questions.py`` when ``bookings.book`` is called, and its messages are put
back on the fields they are about.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain import accessibility, questions
from ..domain import bookings as rules
from ..domain.errors import InvalidInput
from ..domain.groups import GROUP_TYPES, GroupRequest
from ..domain.groups import describe as describe_group
from ..i18n import current_language
from ..models import Question
from .views import bp  # imported by views at its end


@bp.app_template_global()
def access_features(codes):
    return accessibility.features(codes)


@bp.app_template_global()
def access_codes():
    return accessibility.CODES


@bp.app_template_global()
def occurrence_access(occurrence):
    return accessibility.occurrence_codes(occurrence)


@bp.app_template_global()
def release_at(occurrence):
    return rules.release_at(occurrence)


def _keep_none(value):
    return value if value is None else str(value)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def question_field(question: Question):
    """The form field asking one question; the checking is left to ``questions.py``."""
    label = questions.label_of(question, current_language())
    if not question.required and question.type != "checkbox":
        label = _l("%(label)s (optional)", label=label)
    choices = [SelectChoice(c, c) for c in question.choices or []]
    kind = question.type
    if kind == "textarea":
        return TextAreaField(label, validators=[Optional(), Length(max=5000)])
    if kind == "choice":
        return RadioField(label, choices=choices, coerce=_keep_none, validate_choice=False)
    if kind == "multiple":
        return MultiCheckboxField(label, choices=choices, validate_choice=False)
    if kind == "checkbox":
        return BooleanField(label)
    if kind == "number":
        return StringField(label, render_kw={"inputmode": "decimal"})
    return StringField(label, validators=[Optional(), Length(max=500)])


def with_extras(form_class, asked: list[Question], *, wheelchair: bool, groups: bool):
    """A subclass of the booking form with the fields this event needs."""
    attributes = {f"q_{q.id}": question_field(q) for q in asked}
    if wheelchair:
        attributes["wheelchair"] = BooleanField(_l("I use a wheelchair"))
    if groups:
        attributes["group_request"] = BooleanField(
            _l("We are a group (a school class, an association, a company)")
        )
        attributes["group_name"] = StringField(
            _l("Name of the group"), validators=[Optional(), Length(max=200)]
        )
        attributes["group_type"] = SelectField(
            _l("Kind of group"),
            choices=[SelectChoice(k, v) for k, v in GROUP_TYPES.items()],
            validate_choice=False,
        )
        attributes["group_children"] = IntegerField(
            _l("Children"),
            default=0,
            validators=[Optional(), NumberRange(min=0, max=10_000)],
            render_kw={"inputmode": "numeric", "min": 0},
        )
        attributes["group_adults"] = IntegerField(
            _l("Adults"),
            default=0,
            validators=[Optional(), NumberRange(min=0, max=10_000)],
            render_kw={"inputmode": "numeric", "min": 0},
        )
    return type("BookingFormWithExtras", (form_class,), attributes)


def answers_of(form, asked: list[Question]) -> dict:
    """The form's strings as the values the API takes (a number that is not one stays text,
    for ``questions.check_answers`` to say so)."""
    answers = {}
    for q in asked:
        raw = form[f"q_{q.id}"].data
        try:
            answers[str(q.id)] = questions.from_form_value(q.type, raw)
        except ValueError:
            answers[str(q.id)] = raw
    return answers


def group_of(form) -> GroupRequest | None:
    if "group_request" not in form or not form.group_request.data:
        return None
    return GroupRequest(
        name=form.group_name.data or "",
        type=form.group_type.data or "",
        children=form.group_children.data or 0,
        adults=form.group_adults.data or 0,
    )


def show_errors(form, error: InvalidInput, asked: list[Question]) -> None:
    """The domain's messages on the fields they are about."""
    by_question = getattr(error, "by_question", {})
    for q in asked:
        if q.id in by_question:
            field = form[f"q_{q.id}"]
            field.errors = [*field.errors, by_question[q.id]]
    for message in error.messages().get("group", []):
        if "group_request" in form:
            form.group_request.errors = [*form.group_request.errors, message]
    for name, messages in error.messages().items():
        if name not in ("answers", "group") and name in form:
            form[name].errors = [*form[name].errors, *messages]


def booking_form(form_class, asked: list[Question], occurrences):
    """The event's booking form: the wheelchair box where places are held, the group
    fields where groups are taken, a field per question."""
    cls = with_extras(
        form_class,
        asked,
        wheelchair=any(o.wheelchair_spaces for o in occurrences),
        groups=any(o.groups for o in occurrences),
    )
    return cls()


def request_extras(form, asked: list[Question]) -> dict:
    """The ``BookingRequest`` fields the extras give."""
    return {
        "wheelchair": bool("wheelchair" in form and form.wheelchair.data),
        "answers": answers_of(form, asked),
        "group": group_of(form),
    }


@bp.app_template_global()
def group_description(booking) -> str:
    return describe_group(booking)


@bp.app_template_global()
def answer_label(answer) -> str:
    return questions.label_of(answer, current_language())


@bp.app_template_global()
def answer_text(answer) -> str:
    return questions.display(answer)
