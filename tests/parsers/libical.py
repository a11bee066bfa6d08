"""Parses an iCalendar stream (stdin) with libical, as Evolution does; prints JSON.

Runs with Debian's /usr/bin/python3: python3-gi and gir1.2-ical-3.0 (libical's GLib
binding, ICalGLib) are system packages, not in the project's virtualenv. Each VEVENT's
start and end are resolved through the VTIMEZONE of the same VCALENDAR (never libical's
built-in zones, which would hide a wrong VTIMEZONE) and given as UTC instants.
"""

import json
import sys
from datetime import UTC, datetime

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as ICal  # noqa: E402

Kind = ICal.ComponentKind
root = ICal.Component.new_from_string(sys.stdin.buffer.read().decode())
if root is None or root.isa() != Kind.VCALENDAR_COMPONENT:
    sys.exit("libical could not parse the calendar")
utc = ICal.Timezone.get_utc_timezone()


def children(component, kind):
    found = []
    child = component.get_first_component(kind)
    while child is not None:
        found.append(child)
        child = component.get_next_component(kind)
    return found


def properties(component, kind=ICal.PropertyKind.ANY_PROPERTY):
    found = []
    prop = component.get_first_property(kind)
    while prop is not None:
        found.append(prop)
        prop = component.get_next_property(kind)
    return found


def instant(vevent, kind):
    [prop] = properties(vevent, kind)
    time = prop.get_datetime_with_component(vevent)
    tzid = prop.get_parameter_as_string("TZID")
    if time.is_utc():
        zone, name = utc, "UTC"
    elif tzid:
        zone, name = root.get_timezone(tzid), tzid
        if zone is None:
            sys.exit(f"no VTIMEZONE for TZID {tzid}")
    else:
        sys.exit("a floating time: no client can place it")
    seconds = time.as_timet_with_zone(zone)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"utc": moment, "zone": name}


def value(component, kind):
    found = properties(component, kind)
    return found[0].get_value_as_string() if found else None


events = []
for vevent in children(root, Kind.VEVENT_COMPONENT):
    status = value(vevent, ICal.PropertyKind.STATUS_PROPERTY)
    events.append(
        {
            "uid": vevent.get_uid(),
            "summary": vevent.get_summary(),
            "description": vevent.get_description(),
            "location": vevent.get_location(),
            "start": instant(vevent, ICal.PropertyKind.DTSTART_PROPERTY),
            "end": instant(vevent, ICal.PropertyKind.DTEND_PROPERTY),
            "status": status,
            "sequence": vevent.get_sequence(),
            "url": value(vevent, ICal.PropertyKind.URL_PROPERTY),
            "properties": [p.get_property_name().lower() for p in properties(vevent)],
        }
    )
print(
    json.dumps(
        {
            "name": value(root, ICal.PropertyKind.NAME_PROPERTY),
            "components": [
                ICal.Component.kind_to_string(c.isa()).lower()
                for c in children(root, Kind.ANY_COMPONENT)
            ],
            "events": events,
        }
    )
)
