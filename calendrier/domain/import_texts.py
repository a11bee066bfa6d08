"""The texts of an imported VEVENT, in French and in English, checked as the forms check them.

RFC 5545 takes one SUMMARY and one DESCRIPTION per VEVENT, each with an optional LANGUAGE
parameter; no standard property carries a second language. calendrier's feeds say the
language of SUMMARY and DESCRIPTION, and write the other language's texts in X-properties
of their own (``languages.ICAL_TITLE``, ``languages.ICAL_DESCRIPTION``)::

    SUMMARY;LANGUAGE=fr:Nuit du court
    X-CALENDRIER-SUMMARY;LANGUAGE=en:Short Film Night

Read back, for the title as for the description:

- the French text is the French X-property, else SUMMARY (DESCRIPTION) whatever its
  language: the catalogue needs a title, so a file written in English only gives its English
  title as the French one too (and ``title_en``, so the English pages say it is English);
- the English text is the English X-property, else SUMMARY (DESCRIPTION) said to be English;
- a VEVENT that names no language at all (most calendars' files) says nothing of English:
  ``None``, and the English texts written here stay. One that names a language (calendrier's
  feeds always do) gives all of them: an English text it lacks is cleared.

The summary (the lead under the title) is the description's first paragraph, on one line.
Every text is checked (``problem``) before anything of its event is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from icalendar.prop import vText

from .languages import ICAL_DESCRIPTION, ICAL_TITLE, SOURCE_LANGUAGE, TEXT_LANGUAGES
from .text import has_control_characters

# Longest texts, as the catalogue's forms take them (the event's and the date's UIDs are
# stored in 500 characters: a date's is the event's plus "/20270101T100000Z").
MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_UID = 500 - len("/20270101T100000Z")
MAX_LOCATION = 1_000
MAX_SUMMARY = 300

REASONS = {
    "too_long": _l("%(name)s is too long (at most %(num)d characters)."),
    "control_characters": _l("%(name)s contains characters that are not allowed."),
}

# RFC 5545 §3.3.11: what a TEXT value escapes. icalendar unescapes the properties it knows,
# and hands X-properties over as written.
_ESCAPED = re.compile(r"\\([\\;,nN])")


@dataclass(frozen=True)
class Texts:
    title: str
    description: str
    title_en: str | None  # None: the VEVENT says nothing of English
    description_en: str | None

    @property
    def summary(self) -> str:
        return lead(self.description)

    @property
    def summary_en(self) -> str | None:
        return None if self.description_en is None else lead(self.description_en)

    def for_new_event(self) -> dict[str, str]:
        return {
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "title_en": self.title_en or "",
            "summary_en": self.summary_en or "",
            "description_en": self.description_en or "",
        }

    def changes(self, event) -> dict[str, str]:
        """The texts of an existing event that the file changes. A summary changes with its
        description only: one written here stays while the file's description does."""
        wanted = {
            "title": self.title,
            "description": self.description,
            "title_en": self.title_en,
            "description_en": self.description_en,
        }
        changes = {
            name: value
            for name, value in wanted.items()
            if value is not None and (getattr(event, name) or "") != value
        }
        for description, summary in (("description", "summary"), ("description_en", "summary_en")):
            if description in changes:
                changes[summary] = lead(changes[description])
        return changes


def read(component) -> Texts:
    """The texts of a VEVENT (the head of its UID's components)."""
    title, titles, named_title = _versions(component, "SUMMARY", ICAL_TITLE)
    description, descriptions, named_description = _versions(
        component, "DESCRIPTION", ICAL_DESCRIPTION
    )
    english = named_title or named_description
    return Texts(
        title=one_line(titles.get(SOURCE_LANGUAGE) or title)[:MAX_TITLE],
        description=clean(descriptions.get(SOURCE_LANGUAGE) or description),
        title_en=one_line(titles.get("en", ""))[:MAX_TITLE] if english else None,
        description_en=clean(descriptions.get("en", "")) if english else None,
    )


def lead(description: str) -> str:
    """A summary from a description: its first paragraph, on one line."""
    return one_line(description.split("\n\n", 1)[0])[:MAX_SUMMARY].rstrip()


def one_line(text: str) -> str:
    return " ".join(text.split())


def clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def problem(uid: str, components) -> str | None:
    """The first text that the organiser's forms would refuse too, as a reason; else None."""
    if len(uid) > MAX_UID:
        return _format("too_long", name="UID", num=MAX_UID)
    if has_control_characters(uid):
        return _format("control_characters", name="UID")
    for component in components:
        for name, text, longest, multiline in _checked(component):
            if not multiline:
                text = one_line(text)
            if len(text) > longest:
                return _format("too_long", name=name, num=longest)
            if has_control_characters(text, multiline=multiline):
                return _format("control_characters", name=name)
    return None


def _checked(component):
    """(name, text, longest, multi-line) for every text of a VEVENT that may be kept."""
    for name, longest, multiline in (
        ("SUMMARY", MAX_TITLE, False),
        ("DESCRIPTION", MAX_DESCRIPTION, True),
        ("LOCATION", MAX_LOCATION, False),
    ):
        for prop in as_list(component.get(name)):
            yield name, str(prop), longest, multiline
    for name, longest, multiline in (
        (ICAL_TITLE, MAX_TITLE, False),
        (ICAL_DESCRIPTION, MAX_DESCRIPTION, True),
    ):
        for prop in as_list(component.get(name)):
            language = _language(prop)
            if language in TEXT_LANGUAGES:
                yield f"{name};LANGUAGE={language}", _text(prop), longest, multiline


def _versions(component, standard: str, extension: str) -> tuple[str, dict[str, str], bool]:
    """(the standard property's text, the texts by language, whether any names a language).

    An X-property wins over the standard property in the same language: it holds the text as
    written, where SUMMARY may say "Cancelled: …"."""
    main = ""
    by_language: dict[str, str] = {}
    named = False
    for position, prop in enumerate(as_list(component.get(standard))):
        language = _language(prop)
        if position == 0:
            main = str(prop)
        if language:
            named = True
            by_language.setdefault(language, str(prop))
    for prop in as_list(component.get(extension)):
        named = True
        language = _language(prop)
        if language:
            by_language[language] = _text(prop)
    return main, by_language, named


def _language(prop) -> str:
    """The primary subtag of a LANGUAGE parameter (RFC 5646), lower case: ``en`` for en-GB."""
    value = str(getattr(prop, "params", {}).get("LANGUAGE", ""))
    return value.split("-", 1)[0].strip().lower()


def _text(prop) -> str:
    if isinstance(prop, vText):
        return str(prop)
    return _ESCAPED.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), str(prop))


def as_list(value) -> list:
    """A property's values: icalendar gives one value, or a list when it is repeated."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _format(reason: str, **values) -> str:
    return str(REASONS[reason]) % values
