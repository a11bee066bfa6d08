"""Texts written in French and, optionally, in English: which one to show, and in what language.

French is the programme's language; an English text is shown to English readers where its
organiser wrote one, the French one otherwise. Doors say which language each text is in
(``lang`` attributes), so that screen readers pronounce it right.
"""

from __future__ import annotations

from typing import Any

SOURCE_LANGUAGE = "fr"
# Event fields that take an English twin (``title`` and ``title_en``...).
TRANSLATED_FIELDS = ("title", "summary", "description")
# The languages an event's texts are written in: French, and the ``_en`` twins.
TEXT_LANGUAGES = (SOURCE_LANGUAGE, "en")

# iCalendar (RFC 5545) takes one SUMMARY and one DESCRIPTION per VEVENT, each with an optional
# LANGUAGE parameter, and no standard property holds a second language. calendrier's feeds say
# the language of SUMMARY and DESCRIPTION, and give the event's texts in the other language in
# these X-properties (``X-CALENDRIER-SUMMARY;LANGUAGE=en:Short Film Night``), which
# ``events import`` and followed sources read back (domain/import_texts.py).
ICAL_TITLE = "X-CALENDRIER-SUMMARY"
ICAL_DESCRIPTION = "X-CALENDRIER-DESCRIPTION"


def localised(french: str, english: str, language: str) -> tuple[str, str]:
    """(the text to show, its language)."""
    if language == "en" and english and english.strip():
        return english, "en"
    return french, SOURCE_LANGUAGE


class Localised:
    """An event read in one language: ``title``, ``summary``, ``description`` are the
    English ones where written (when ``language`` is English), everything else is the event's.
    ``lang_of("title")`` says which language a text is in."""

    def __init__(self, event: Any, language: str):
        self._event = event
        self._language = language

    def __getattr__(self, name: str) -> Any:
        if name in TRANSLATED_FIELDS:
            return self.text(name)[0]
        return getattr(self._event, name)

    def text(self, field: str) -> tuple[str, str]:
        return localised(
            getattr(self._event, field), getattr(self._event, f"{field}_en", ""), self._language
        )

    def lang_of(self, field: str) -> str:
        return self.text(field)[1]


def event_text(event: Any, field: str, language: str) -> str:
    """One of an event's texts in ``language`` where written, in French otherwise."""
    return localised(getattr(event, field), getattr(event, f"{field}_en", "") or "", language)[0]
