"""The parsers real calendar clients use, each run on our bytes, each answering alike.

- Mozilla's ical.js (Thunderbird), from the npm registry, run with node;
- libical (Evolution, and many servers), Debian's ``gir1.2-ical-3.0`` through
  ``/usr/bin/python3`` (python3-gi is a system package, not in the virtualenv);
- icalendar (Python).

Each returns ``{"events": [{"uid", "summary", "start": {"utc", "zone"}, "end", "status",
"sequence", ...}], ...}`` with instants as ``YYYY-MM-DDTHH:MM:SSZ``. A missing parser fails
the test with the command that installs it: these tests are never skipped.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from icalendar import Calendar

ROOT = Path(__file__).resolve().parent.parent
PARSERS = Path(__file__).resolve().parent / "parsers"
SYSTEM_PYTHON = "/usr/bin/python3"


def _run(command: list[str], data: bytes, hint: str) -> dict:
    try:
        done = subprocess.run(
            command, input=data, capture_output=True, cwd=ROOT, timeout=60, check=False
        )
    except FileNotFoundError as exc:  # pragma: no cover - a machine without the parser
        raise AssertionError(f"{command[0]} is missing: {hint}") from exc
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({hint}):\n{done.stderr.decode(errors='replace')}"
        )
    return json.loads(done.stdout)


def icaljs(data: bytes) -> dict:
    if not (ROOT / "node_modules" / "ical.js").is_dir():
        raise AssertionError("ical.js is not installed: run `npm ci` (make test does)")
    return _run(["node", str(PARSERS / "icaljs.mjs")], data, "needs node and `npm ci`")


def libical(data: bytes) -> dict:
    return _run(
        [SYSTEM_PYTHON, str(PARSERS / "libical.py")],
        data,
        "apt-get install gir1.2-ical-3.0 python3-gi (.ci/run does)",
    )


def libical_restriction_errors(data: bytes) -> list[dict]:
    """What Evolution finds wrong: every ``X-LIC-ERROR`` after libical's parse and its
    RFC 5546 ``check_restrictions()`` (``[]`` when the calendar passes), each with the
    component holding it."""
    return _run(
        [SYSTEM_PYTHON, str(PARSERS / "libical_restrictions.py")],
        data,
        "apt-get install gir1.2-ical-3.0 python3-gi (.ci/run does)",
    )["errors"]


def _instant(value) -> dict:
    moment = value.dt
    zone = getattr(moment.tzinfo, "key", None) or str(moment.tzinfo)
    utc = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "utc": utc,
        "zone": "UTC"
        if moment.utcoffset().total_seconds() == 0 and zone in ("UTC", "UTC+00:00")
        else zone,
    }


def icalendar(data: bytes) -> dict:
    cal = Calendar.from_ical(data)
    events = []
    for vevent in cal.walk("VEVENT"):
        events.append(
            {
                "uid": str(vevent["uid"]),
                "summary": str(vevent.get("summary")),
                "description": str(vevent.get("description")),
                "location": str(vevent.get("location")),
                "start": _instant(vevent["dtstart"]),
                "end": _instant(vevent["dtend"]),
                "status": str(vevent.get("status")),
                "sequence": int(vevent.get("sequence", 0)),
                "url": str(vevent.get("url")),
                "properties": [name.lower() for name in vevent],
            }
        )
    return {
        "name": str(cal.get("name")),
        "calname": str(cal.get("x-wr-calname")),
        "components": [c.name.lower() for c in cal.subcomponents],
        "events": events,
    }


PARSERS_BY_NAME = {"ical.js": icaljs, "libical": libical, "icalendar": icalendar}


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
