"""Group requests: a school class, an association, a company booking as one party.

A date accepts groups when its organiser says so (``groups``), up to
``max_group_size`` people. The group gives its name, its kind and how many children
and adults come; its seats are children + adults, the per-booking maximum does not
apply, and the request always waits for the organiser's approval, holding no seats
meanwhile, like every pending request (see "Approvals" in the README). Once approved
it counts as one booking of all its seats.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from ..models import Booking, Occurrence
from .errors import InvalidInput
from .text import has_control_characters

GROUP_TYPES = {
    "school": _l("School class"),
    "association": _l("Association"),
    "company": _l("Company"),
    "other": _l("Other group"),
}
MAX_GROUP = 10_000


@dataclass(frozen=True)
class GroupRequest:
    name: str
    type: str
    children: int = 0
    adults: int = 0

    @property
    def seats(self) -> int:
        return self.children + self.adults


def problems(occurrence: Occurrence, group: GroupRequest) -> list:
    """What is wrong with this group for this date (empty: nothing)."""
    out: list = []
    if not occurrence.groups:
        out.append(_l("This date does not take group requests."))
        return out
    name = (group.name or "").strip()
    if not name or len(name) > 200 or has_control_characters(name):
        out.append(_l("Give the group's name (at most 200 characters)."))
    if group.type not in GROUP_TYPES:
        out.append(_l("Choose the kind of group: school, association, company or other."))
    counts = (group.children, group.adults)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in counts):
        out.append(_l("Give the number of children and of adults (whole numbers, 0 or more)."))
    elif group.seats < 1:
        out.append(_l("A group needs at least one person."))
    elif group.seats > (occurrence.max_group_size or MAX_GROUP):
        out.append(_l("At most %(n)d people per group.", n=occurrence.max_group_size or MAX_GROUP))
    return out


def check(occurrence: Occurrence, group: GroupRequest) -> None:
    """Raise ``InvalidInput`` (field ``group``) unless this group may ask for this date."""
    found = problems(occurrence, group)
    if found:
        raise InvalidInput({"group": found})


def write(booking: Booking, group: GroupRequest) -> None:
    booking.group_name = group.name.strip()
    booking.group_type = group.type
    booking.group_children = group.children
    booking.group_adults = group.adults


def label(group_type: str | None) -> str:
    return str(GROUP_TYPES.get(group_type or "", ""))


OCCURRENCE_FIELDS = ("groups", "max_group_size")


def occurrence_values(errors, data: dict) -> dict:
    """Whether a date takes group requests, and up to how many people (checked)."""
    values: dict = {}
    if "groups" in data:
        values["groups"] = bool(data["groups"])
    if "max_group_size" in data:
        size = data["max_group_size"]
        if size in (None, ""):
            values["max_group_size"] = None
        elif isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_GROUP:
            errors.add("max_group_size", _l("Enter a whole number between 1 and 10000."))
        else:
            values["max_group_size"] = size
    return values


def copied(occurrence: Occurrence) -> dict:
    return {name: getattr(occurrence, name) for name in OCCURRENCE_FIELDS}


def describe(booking: Booking) -> str:
    """ "CM1 Jean-Macé (School class): 24 children, 3 adults" for lists and exports."""
    if not booking.is_group:
        return ""
    return str(
        _l(
            "%(name)s (%(kind)s): %(children)d children, %(adults)d adults",
            name=booking.group_name or "",
            kind=label(booking.group_type),
            children=booking.group_children or 0,
            adults=booking.group_adults or 0,
        )
    )
