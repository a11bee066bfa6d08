"""Runs libical's iTIP restriction check on an iCalendar stream (stdin); prints JSON.

What Evolution and GNOME Calendar do on every calendar they read: parse it, then
``check_restrictions()`` (RFC 5546's table of properties each METHOD requires, allows
or forbids). Every problem libical finds becomes an ``X-LIC-ERROR`` property, at parse
time or from the check; this prints each one with the component that holds it. Runs with
Debian's /usr/bin/python3 (python3-gi, gir1.2-ical-3.0), like ``libical.py`` beside it.
"""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as ICal  # noqa: E402

root = ICal.Component.new_from_string(sys.stdin.buffer.read().decode())
if root is None or root.isa() != ICal.ComponentKind.VCALENDAR_COMPONENT:
    sys.exit("libical could not parse the calendar")
root.check_restrictions()


def errors(component, path):
    found = []
    name = ICal.Component.kind_to_string(component.isa())
    prop = component.get_first_property(ICal.PropertyKind.XLICERROR_PROPERTY)
    while prop is not None:
        found.append({"component": "/".join([*path, name]), "error": prop.get_value_as_string()})
        prop = component.get_next_property(ICal.PropertyKind.XLICERROR_PROPERTY)
    child = component.get_first_component(ICal.ComponentKind.ANY_COMPONENT)
    children = []
    while child is not None:
        children.append(child)
        child = component.get_next_component(ICal.ComponentKind.ANY_COMPONENT)
    for child in children:
        found += errors(child, [*path, name])
    return found


print(json.dumps({"errors": errors(root, [])}))
