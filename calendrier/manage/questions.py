"""Organiser pages for an event's registration questions: add, reorder, remove."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..domain import questions
from ..domain.errors import InvalidInput, NotFound
from ..extensions import db
from ..models import Question
from .forms import PostForm, options
from .views import bp, managed_event, show_field_errors


class QuestionForm(FlaskForm):
    label = StringField(_l("Question"), validators=[DataRequired(), Length(max=300)])
    label_en = StringField(
        _l("Question in English (optional)"), validators=[Optional(), Length(max=300)]
    )
    type = SelectField(
        _l("Kind of answer"),
        choices=options(questions.TYPE_LABELS.items()),
        validate_choice=False,  # questions.py says so, in the same words as the API
    )
    choices = TextAreaField(
        _l("Choices, one per line (one choice or several choices only)"),
        validators=[Optional(), Length(max=12_000)],
        render_kw={"rows": 4},
    )
    required = BooleanField(_l("An answer is required (for yes / no: must be ticked)"))


def _question(event, question_id: int) -> Question:
    question = db.session.get(Question, question_id)
    if question is None or question.event_id != event.id or question.deleted_at is not None:
        abort(404)
    return question


@bp.route("/events/<int:event_id>/questions", methods=["GET", "POST"])
@login_required
def event_questions(event_id: int):
    event = managed_event(event_id)
    form = QuestionForm()
    if form.validate_on_submit():
        lines = [line.strip() for line in (form.choices.data or "").splitlines() if line.strip()]
        data = {
            "label": form.label.data,
            "label_en": form.label_en.data or "",
            "type": form.type.data,
            "required": form.required.data,
        }
        if form.type.data in questions.WITH_CHOICES or lines:
            data["choices"] = lines
        try:
            questions.create_question(event.id, actor=current_user, **data)
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Question added."), "success")
            return redirect(url_for("manage.event_questions", event_id=event.id))
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "manage/questions.html",
            event=event,
            asked=questions.event_questions(event.id),
            form=form,
            post_form=PostForm(),
            type_labels=questions.TYPE_LABELS,
        ),
        status,
    )


@bp.route("/events/<int:event_id>/questions/<int:question_id>/move", methods=["POST"])
@login_required
def question_move(event_id: int, question_id: int):
    event = managed_event(event_id)
    question = _question(event, question_id)
    if PostForm().validate_on_submit():
        step = -1 if request.form.get("direction") == "up" else 1
        questions.move_question(question.id, step, actor=current_user)
    return redirect(
        url_for("manage.event_questions", event_id=event.id) + f"#question-{question_id}"
    )


@bp.route("/events/<int:event_id>/questions/<int:question_id>/remove", methods=["POST"])
@login_required
def question_remove(event_id: int, question_id: int):
    event = managed_event(event_id)
    question = _question(event, question_id)
    if PostForm().validate_on_submit():
        try:
            questions.delete_question(question.id, actor=current_user)
        except NotFound:
            abort(404)
        flash(_("Question removed; the answers already given stay with the bookings."), "success")
    return redirect(url_for("manage.event_questions", event_id=event.id))
