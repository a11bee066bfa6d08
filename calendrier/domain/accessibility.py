"""Accessibility as data: the codes of venues and dates, and the held wheelchair places.

A venue says what its building offers (step-free access, a hearing loop); a date adds
what this screening or visit offers (sign language, audio description, a relaxed
session). The public sees the two together, filters on them (``access=``), and finds
them in every feed. Each code is always shown with its words, never the picture alone.

Held wheelchair places: until ``wheelchair_release_hours`` before the start, an
occurrence keeps ``wheelchair_spaces`` of its places for people who say they use a
wheelchair. Each confirmed booking that said so takes one of them for its party; every
other booking sees only the places not held. The counting is done under the
occurrence's lock by ``domain/bookings.py`` through ``room``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..models import Occurrence, Venue


@dataclass(frozen=True)
class Feature:
    code: str
    label: object  # lazy translation
    expect: object  # what to expect, in plain words
    schema: str | None  # schema.org accessibilityFeature
    family: bool  # one of the five families of disability


FEATURES: tuple[Feature, ...] = (
    Feature(
        "wheelchair",
        _l("Wheelchair access"),
        _l(
            "Step-free access from the street to the room, with places for wheelchairs "
            "and an accessible toilet."
        ),
        "wheelchairAccessible",
        True,
    ),
    Feature(
        "hearing",
        _l("Suited to deaf and hard-of-hearing people"),
        _l("Deaf and hard-of-hearing visitors are welcome: the team is ready to help."),
        None,
        True,
    ),
    Feature(
        "visual",
        _l("Suited to blind and partially sighted people"),
        _l(
            "Blind and partially sighted visitors are welcome: guide dogs are allowed "
            "and the team can guide you."
        ),
        None,
        True,
    ),
    Feature(
        "intellectual",
        _l("Suited to people with an intellectual disability"),
        _l("The content and the welcome are suited to people with an intellectual disability."),
        None,
        True,
    ),
    Feature(
        "psychic",
        _l("Suited to people with a mental disability"),
        _l("A calm welcome suited to people with a mental or psychological disability."),
        None,
        True,
    ),
    Feature(
        "sign_language",
        _l("French Sign Language (LSF)"),
        _l("Interpreted in French Sign Language (LSF)."),
        "signLanguage",
        False,
    ),
    Feature(
        "audio_description",
        _l("Audio description"),
        _l("Audio description: ask for a headset at the entrance."),
        "audioDescription",
        False,
    ),
    Feature(
        "hearing_loop",
        _l("Hearing loop"),
        _l(
            "A magnetic hearing loop carries the sound to hearing aids set to T "
            "(the seats in the loop are indicated in the room)."
        ),
        "inductionLoop",
        False,
    ),
    Feature(
        "subtitles",
        _l("Subtitles for the deaf and hard of hearing"),
        _l("Subtitles for the deaf and hard of hearing (SME), with the sounds and who speaks."),
        "captions",
        False,
    ),
    Feature(
        "easy_read",
        _l("Easy to read and understand (FALC)"),
        _l("Documents in easy-to-read and understand language (FALC)."),
        "easyToRead",
        False,
    ),
    Feature(
        "relaxed",
        _l("Relaxed session"),
        _l(
            "A relaxed session: softer sound and lights, and you may move, talk or "
            "go out and come back whenever you need to."
        ),
        None,
        False,
    ),
)
BY_CODE = {f.code: f for f in FEATURES}
CODES: tuple[str, ...] = tuple(BY_CODE)
# schema.org accessibilityHazard: what a relaxed session promises not to have.
HAZARDS_ABSENT = {"relaxed": ("noFlashingHazard", "noSoundHazard")}
ICAL_PROPERTY = "X-ACCESSIBILITY"  # e.g. X-ACCESSIBILITY:wheelchair,hearing_loop
ATOM_SCHEME = "urn:calendrier:accessibility"


# --- codes, stored as " wheelchair hearing_loop " -------------------------------


def unknown_codes(codes: Iterable[str]) -> list[str]:
    return [c for c in codes if c not in BY_CODE]


def normalise(codes: Iterable[str]) -> list[str]:
    """Known codes, each once, in the order of ``CODES``. Raises ValueError on an unknown one."""
    wanted = {str(c).strip() for c in codes if str(c).strip()}
    unknown = unknown_codes(wanted)
    if unknown:
        raise ValueError(unknown)
    return [c for c in CODES if c in wanted]


def encode(codes: Iterable[str]) -> str:
    """The column's form: spaces around each code, so that ``LIKE '% code %'`` finds it."""
    known = normalise(codes)
    return f" {' '.join(known)} " if known else ""


def decode(stored: str | None) -> list[str]:
    return [c for c in (stored or "").split() if c in BY_CODE]


def venue_codes(venue: Venue) -> list[str]:
    return decode(venue.accessibility)


def occurrence_codes(occurrence: Occurrence) -> list[str]:
    """What the public is told about a date: its venue's codes and its own."""
    own = set(decode(occurrence.accessibility)) | set(decode(occurrence.venue.accessibility))
    return [c for c in CODES if c in own]


def features(codes: Iterable[str]) -> list[Feature]:
    return [BY_CODE[c] for c in codes if c in BY_CODE]


def parse_list(text: str) -> list[str]:
    """ "wheelchair, hearing_loop" (an iCalendar property, a CSV cell): the known codes."""
    return [c for c in CODES if c in {part.strip().lower() for part in text.split(",")}]


# --- what other formats say -----------------------------------------------------


def json_ld(codes: Sequence[str]) -> dict[str, list[str]]:
    """schema.org ``accessibilityFeature`` and, where it applies, ``accessibilityHazard``."""
    out: dict[str, list[str]] = {}
    feature_names = [BY_CODE[c].schema for c in codes if c in BY_CODE and BY_CODE[c].schema]
    if feature_names:
        out["accessibilityFeature"] = feature_names
    hazards = [h for c in codes for h in HAZARDS_ABSENT.get(c, ())]
    if hazards:
        out["accessibilityHazard"] = list(dict.fromkeys(hazards))
    return out


def atom_categories(codes: Sequence[str]) -> list[dict[str, str]]:
    """For the Atom feed: one ``<category term scheme label>`` per code, in the current language."""
    return [{"term": f.code, "scheme": ATOM_SCHEME, "label": str(f.label)} for f in features(codes)]


def ical_value(codes: Sequence[str]) -> str | None:
    """The value of ``X-ACCESSIBILITY`` in feeds (None: no line)."""
    return ",".join(codes) if codes else None


# --- what organisers set (called by catalogue.py's checks) ------------------------------

OCCURRENCE_FIELDS = ("accessibility", "wheelchair_spaces", "wheelchair_release_hours")
MAX_RELEASE_HOURS = 24 * 366


def _codes(errors, name: str, value) -> str | None:
    if isinstance(value, str):
        value = parse_list(value) if value.strip() else []
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        errors.add(name, _l("Give a list of accessibility codes."))
        return None
    try:
        return encode(value)
    except ValueError as error:
        errors.add(
            name,
            _l(
                "Unknown accessibility code: %(codes)s. Known: %(known)s.",
                codes=", ".join(error.args[0])[:200],
                known=", ".join(CODES),
            ),
        )
        return None


def _count(errors, name: str, value, maximum: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        errors.add(name, _l("Enter a whole number between 0 and %(max)d.", max=maximum))
        return None
    return value


def venue_values(errors, data: dict) -> dict:
    """``accessibility`` of a venue, checked (``errors`` collects the field errors)."""
    if "accessibility" not in data:
        return {}
    stored = _codes(errors, "accessibility", data["accessibility"])
    return {} if stored is None else {"accessibility": stored}


def occurrence_values(errors, data: dict, capacity: int | None) -> dict:
    """A date's own codes and its held places, checked against its capacity."""
    values: dict = {}
    if "accessibility" in data:
        stored = _codes(errors, "accessibility", data["accessibility"])
        if stored is not None:
            values["accessibility"] = stored
    if data.get("wheelchair_spaces") is not None:
        spaces = _count(errors, "wheelchair_spaces", data["wheelchair_spaces"], 100_000)
        if spaces is not None and capacity is not None and spaces > capacity:
            errors.add("wheelchair_spaces", _l("Cannot hold more places than the capacity."))
        elif spaces is not None:
            values["wheelchair_spaces"] = spaces
    if data.get("wheelchair_release_hours") is not None:
        hours = _count(
            errors, "wheelchair_release_hours", data["wheelchair_release_hours"], MAX_RELEASE_HOURS
        )
        if hours is not None:
            values["wheelchair_release_hours"] = hours
    return values


def copied(occurrence: Occurrence) -> dict:
    """What a duplicated date keeps of this."""
    return {name: getattr(occurrence, name) for name in OCCURRENCE_FIELDS}
