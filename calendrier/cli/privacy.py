import json

import click
from flask import current_app

from ..domain import privacy


@click.group("privacy", help="Personal data: retention and right of access.")
def privacy_group():
    pass


@privacy_group.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    default=None,
    metavar="DAYS",
    help="Anonymise attendees of occurrences that ended this many days ago "
    "[default: PRIVACY_RETENTION_DAYS, 365].",
)
def purge(days: int | None):
    """Anonymise the attendees of past occurrences (safe to run from cron, idempotent)."""
    if days is None:
        days = int(current_app.config["PRIVACY_RETENTION_DAYS"])
    report = privacy.purge(days)
    click.echo(
        f"anonymised {report.bookings} booking(s) and {report.emails} email(s) "
        f"of occurrences that ended more than {days} day(s) ago"
    )
    if report.subscriptions:
        click.echo(f"deleted {report.subscriptions} newsletter subscription(s) never confirmed")


@privacy_group.command("export")
@click.argument("email")
def export(email: str):
    """Print, as JSON, everything held about one email address (right of access)."""
    click.echo(json.dumps(privacy.export(email), ensure_ascii=False, indent=2))
