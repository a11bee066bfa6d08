// Parses an iCalendar stream (stdin) with Mozilla's ical.js, as Thunderbird does, and prints
// what a client would show: each VEVENT with its start and end as UTC instants.
// Time zones are resolved from the VTIMEZONEs in the stream itself (none is registered).
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

const root = new ICAL.Component(ICAL.parse(readFileSync(0, "utf8")));
const text = (component, name) => {
  const value = component.getFirstPropertyValue(name);
  return value === null ? null : String(value);
};
const instant = (time) => ({
  utc: time.toJSDate().toISOString().replace(".000Z", "Z"),
  zone: time.zone ? time.zone.tzid : null,
});
const events = root.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const geo = vevent.getFirstPropertyValue("geo");
  return {
    uid: event.uid,
    summary: event.summary,
    description: event.description,
    location: event.location,
    start: instant(event.startDate),
    end: instant(event.endDate),
    status: text(vevent, "status"),
    sequence: event.sequence,
    url: text(vevent, "url"),
    categories: vevent.getAllProperties("categories").flatMap((p) => p.getValues()),
    geo: geo ? geo.map(Number) : null,
    dtstamp: text(vevent, "dtstamp"),
    last_modified: text(vevent, "last-modified"),
    properties: vevent.getAllProperties().map((p) => p.name),
  };
});
process.stdout.write(
  JSON.stringify({
    name: text(root, "name"),
    calname: text(root, "x-wr-calname"),
    method: text(root, "method"),
    refresh: text(root, "refresh-interval"),
    components: root.getAllSubcomponents().map((c) => c.name),
    timezones: root.getAllSubcomponents("vtimezone").map((c) => text(c, "tzid")),
    events,
  }),
);
