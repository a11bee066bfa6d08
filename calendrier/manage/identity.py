"""The cluster's settings (admins) and each event's picture (its organisers)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from ..domain import images
from ..domain.errors import InvalidInput
from ..domain.settings import TEXT_FIELDS, current_settings, update_settings
from .forms import PictureForm, PostForm, SettingsForm
from .views import admin_required, bp, managed_event, show_field_errors

# The file, its texts and the multipart framing around them.
MAX_REQUEST = images.MAX_BYTES + 64 * 1024


def _upload(form, name: str) -> bytes | None:
    """The bytes of an uploaded file (at most one more than allowed), or None."""
    storage = form[name].data
    if storage is None or not getattr(storage, "filename", None):
        return None
    return storage.stream.read(images.MAX_BYTES + 1)


def _form(form_class, **kwargs):
    """The form, with uploads up to 10 MB; a larger one is a field error, not a 413."""
    request.max_content_length = MAX_REQUEST
    try:
        return form_class(**kwargs), False
    except RequestEntityTooLarge:
        request.max_content_length = None
        return form_class(formdata=None, **kwargs), True


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """The cluster's name, colour, logo, contact and legal texts."""
    current = current_settings()
    form, too_large = _form(SettingsForm, data=current.overrides)
    if too_large:
        form.logo.errors = [_("This file is too large: at most 10 MB.")]
    elif form.validate_on_submit():
        values = {name: form[name].data or "" for name in TEXT_FIELDS}
        try:
            update_settings(
                actor=current_user,
                logo=_upload(form, "logo"),
                remove_logo=form.remove_logo.data,
                **values,
            )
        except InvalidInput as error:
            if "file" in error.errors:  # the logo's own checks
                error.errors["logo"] = error.errors.pop("file")
            show_field_errors(form, error)
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for("manage.settings"))
    return render_template("manage/settings.html", form=form, current=current)


@bp.route("/events/<int:event_id>/image", methods=["GET", "POST"])
@login_required
def event_image(event_id: int):
    """Give an event its picture, with its alternative texts."""
    event = managed_event(event_id)
    initial = {"alt": event.image.alt, "alt_en": event.image.alt_en} if event.image else {}
    form, too_large = _form(PictureForm, data=initial)
    if too_large:
        form.file.errors = [_("This file is too large: at most 10 MB.")]
    elif form.validate_on_submit():
        try:
            images.set_event_image(
                event.id,
                _upload(form, "file") or b"",
                alt=form.alt.data,
                alt_en=form.alt_en.data or "",
                actor=current_user,
            )
        except InvalidInput as error:
            show_field_errors(form, error)
        else:
            flash(_("Picture saved."), "success")
            return redirect(url_for("manage.event", event_id=event.id))
    status = 422 if form.errors else 200
    return (
        render_template("manage/event_image.html", form=form, event=event, post=PostForm()),
        status,
    )


@bp.route("/events/<int:event_id>/image/remove", methods=["POST"])
@login_required
def event_image_remove(event_id: int):
    event = managed_event(event_id)
    if PostForm().validate_on_submit() and images.remove_event_image(
        event.id, actor=current_user
    ):
        flash(_("Picture removed."), "success")
    return redirect(url_for("manage.event", event_id=event.id))
