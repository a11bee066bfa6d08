from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length


class SubscribeForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=320), Email(check_deliverability=False)],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "email"},
    )
    language = RadioField(
        _l("Language of the letter"),
        choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")],
        default="fr",
        validators=[DataRequired()],
    )
    consent = BooleanField(
        _l(
            "I agree that my email address is used to send me the monthly news, "
            "and kept until I unsubscribe, as the privacy notice explains."
        ),
        validators=[DataRequired(message=_l("Please accept the privacy notice to subscribe."))],
    )


class ButtonForm(FlaskForm):
    """Only the CSRF token: a button that changes something."""
