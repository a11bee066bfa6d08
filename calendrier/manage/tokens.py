"""The organiser's own API tokens: when each was made and last used, and revoking them."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import accounts
from .forms import PostForm
from .views import bp


@bp.route("/tokens")
@login_required
def tokens():
    return render_template(
        "manage/tokens.html", tokens=accounts.user_tokens(current_user), form=PostForm()
    )


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@bp.route("/tokens/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int | None = None):
    if not PostForm().validate_on_submit():
        abort(400)
    count = accounts.revoke_tokens(current_user, token_id)
    if count:
        flash(_("Revoked: programs using it are refused from now on."), "success")
    return redirect(url_for("manage.tokens"))
