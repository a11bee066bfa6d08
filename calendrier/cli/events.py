"""``flask events import FILE.ics --organisation SLUG``: import events from iCalendar."""

from __future__ import annotations

import sys

import click
from flask_babel import force_locale
from sqlalchemy import select

from ..domain import importer
from ..extensions import db
from ..models import EventKind, Organisation, Venue


@click.group("events", help="Events: import from iCalendar.")
def events_group():
    pass


@events_group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--organisation", "organisation_slug", required=True, help="Slug of the organiser.")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in EventKind]),
    default=EventKind.SCREENING.value,
    show_default=True,
    help="Kind of the new events whose CATEGORIES name none.",
)
@click.option("--venue", "venue_slug", help="Venue of the events without LOCATION.")
@click.option(
    "--capacity", type=click.IntRange(min=0), help="Places per new date (default: the venue's)."
)
@click.option("--draft", is_flag=True, help="New events stay unpublished.")
def import_events(file, organisation_slug, kind, venue_slug, capacity, draft):
    """Create or update the events of FILE by UID (running it again changes nothing)."""
    organisation = db.session.scalar(
        select(Organisation).where(Organisation.slug == organisation_slug)
    )
    if organisation is None:
        raise click.BadParameter(
            f"no organisation {organisation_slug!r}", param_hint="--organisation"
        )
    venue_id = None
    if venue_slug:
        venue_id = db.session.scalar(select(Venue.id).where(Venue.slug == venue_slug))
        if venue_id is None:
            raise click.BadParameter(f"no venue {venue_slug!r}", param_hint="--venue")
    options = importer.ImportOptions(
        organisation_id=organisation.id,
        default_kind=kind,
        default_venue_id=venue_id,
        capacity=capacity,
        publish=not draft,
    )
    with force_locale("en"):
        try:
            vevents = importer.read_calendar(file.read())
        except importer.UnreadableCalendar as error:
            raise click.ClickException(
                f"{file.name}: {importer.unreadable_message(error)}"
            ) from None
        with click.progressbar(
            length=importer.group_count(vevents),
            label="Importing",
            file=sys.stderr,
        ) as bar:
            report = importer.import_vevents(vevents, options, progress=bar.update)
        for line in importer.report_lines(report):
            click.echo(line)
