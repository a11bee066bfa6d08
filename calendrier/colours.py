"""Colours: the accent colour's format and its contrast with white (WCAG 2.1, 1.4.3).

Read at start-up (config.py, for ``CALENDRIER_ACCENT_COLOUR``) and when an admin changes
it (domain/settings.py): the same rule in both places.
"""

from __future__ import annotations

import re

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MIN_CONTRAST = 4.5  # text on white, WCAG AA


def rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(colour: str) -> float:
    return 1.05 / (luminance(colour) + 0.05)


def problem(colour: str) -> str | None:
    """Why this colour cannot be the accent ("format" or "contrast"), or None."""
    if not isinstance(colour, str) or not HEX_COLOUR.match(colour):
        return "format"
    if contrast_with_white(colour) < MIN_CONTRAST:
        return "contrast"
    return None


def mix(colour: str, other: str, share: float) -> str:
    """``colour`` with ``share`` of ``other`` blended in."""
    a, b = rgb(colour), rgb(other)
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def theme(accent: str) -> dict[str, str]:
    """The pages' custom properties made from one accent colour (all readable on white)."""
    return {
        "--accent": accent.lower(),
        "--accent-dark": mix(accent, "#000000", 0.3),
        "--accent-soft": mix(accent, "#ffffff", 0.92),
    }
