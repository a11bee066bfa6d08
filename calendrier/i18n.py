"""Language choice and the way each language writes dates."""

import functools
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_time,
    get_locale,
    refresh,
)

from .timeutil import utcnow

LANG_COOKIE_KEY = "lang"


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if getattr(g, "forced_locale", None) in languages:
        return g.forced_locale
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    asked = request.args.get("lang")
    if asked in languages:
        session[LANG_COOKIE_KEY] = asked
        return asked
    remembered = session.get(LANG_COOKIE_KEY)
    if remembered in languages:
        return remembered
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


# The language the texts are written in (the msgids): shown wherever no catalogue translates them.
SOURCE_LANGUAGE = "en"


def current_language() -> str:
    """The language of the text being written: the chosen one if its catalogues are compiled,
    else the source language (so ``<html lang>`` never announces French over English text)."""
    language = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    if language != SOURCE_LANGUAGE and not has_catalogues(current_app.root_path, language):
        return SOURCE_LANGUAGE
    return language


@functools.cache
def has_catalogues(root_path: str, language: str) -> bool:
    """Whether every catalogue of the app is compiled for this language (``.mo`` beside the
    ``.po``: ``make translations`` in a checkout, the build in a wheel)."""
    folders = [Path(d) / language / "LC_MESSAGES" for d in _translation_directories(root_path)]
    catalogues = [f / "messages.mo" for f in folders if (f / "messages.po").is_file()]
    return bool(catalogues) and all(path.is_file() for path in catalogues)


# "vendredi 8 mars à 17 h 30" / "Friday 8 March at 5:30 PM"; on the hour "à 17 h" /
# "at 5 PM"; the year only when it is not this year's. Written by hand from the CLDR
# names (the same words Babel's patterns "EEEE d MMMM y", "H 'h' mm" and "h:mm a" give,
# which tests/test_i18n.py checks): list pages write hundreds of dates.
_JOINERS = {"fr": "{date} à {time}", "en": "{date} at {time}"}


@functools.cache
def _names(language: str) -> tuple[dict, dict, dict]:
    locale = Locale.parse(language)
    return (
        locale.days["format"]["wide"],
        locale.months["format"]["wide"],
        locale.day_periods["format"]["abbreviated"],
    )


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local(dt: datetime) -> datetime:
    return dt.astimezone(_zone(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


def _language() -> str:
    language = current_language()
    return language if language in _JOINERS else "en"


def _date_text(local: datetime | date, language: str, with_year: bool | None) -> str:
    days, months, _periods = _names(language)
    text = f"{days[local.weekday()]} {local.day} {months[local.month]}"
    if with_year is None:
        with_year = local.year != _local(utcnow()).year
    return f"{text} {local.year}" if with_year else text


def _time_text(local: datetime, language: str) -> str:
    if language == "fr":
        return f"{local.hour} h" if local.minute == 0 else f"{local.hour} h {local.minute:02d}"
    period = _names(language)[2]["am" if local.hour < 12 else "pm"]
    hour = local.hour % 12 or 12
    return f"{hour} {period}" if local.minute == 0 else f"{hour}:{local.minute:02d} {period}"


def when(dt: datetime, with_year: bool | None = None) -> str:
    """A start time written the way the reader's language writes it."""
    language, local = _language(), _local(dt)
    return _JOINERS[language].format(
        date=_date_text(local, language, with_year), time=_time_text(local, language)
    )


def day(dt: datetime | date, with_year: bool | None = None) -> str:
    """ "vendredi 8 mars" / "Friday 8 March", for an instant or a calendar day."""
    local = _local(dt) if isinstance(dt, datetime) else dt
    return _date_text(local, _language(), with_year)


def clock(dt: datetime) -> str:
    return _time_text(_local(dt), _language())


def colon() -> str:
    """":" after a label, with the no-break space French puts before it ("Référence :")."""
    return "\u00a0:" if _language() == "fr" else ":"


def translation_directories(app: Flask) -> list[str]:
    """Each area keeps its own catalogue (``calendrier/**/translations``); Babel merges them."""
    return _translation_directories(app.root_path)


def _translation_directories(root_path: str) -> list[str]:
    root = Path(root_path)
    return [str(p) for p in sorted(root.glob("**/translations")) if p.is_dir()]


def init_app(app: Flask, babel: Babel) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=";".join(translation_directories(app)),
    )
    # Flask-Babel caches the locale on the app context, which a request may share with
    # its caller (tests, CLI): each request chooses its language afresh.
    app.before_request(refresh)
    for language in app.config["LANGUAGES"]:
        if language != SOURCE_LANGUAGE and not has_catalogues(app.root_path, language):
            app.logger.warning(
                "No compiled catalogue for %r: its pages are shown in English "
                "(run `make translations`, or install the wheel, which has them)",
                language,
            )
    app.jinja_env.filters.update(
        when=when,
        day=day,
        clock=clock,
        date=format_date,
        time=format_time,
        datetime=format_datetime,
    )
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.globals["colon"] = colon
