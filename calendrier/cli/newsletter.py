"""``flask newsletter send --month YYYY-MM``: the monthly letter, to every confirmed subscriber."""

from __future__ import annotations

import time

import click

from ..domain import newsletter
from ..domain.errors import InvalidInput


@click.group("newsletter", help="The monthly letter (Les actus du mois).")
def newsletter_group():
    pass


@newsletter_group.command("send")
@click.option("--month", required=True, metavar="YYYY-MM", help="The month the letter is about.")
def send(month: str):
    """Queue the month's letter to each confirmed subscriber who has not had it yet.

    Safe to run again: a subscriber gets each month's letter once. `flask mail send`
    delivers it, after the emails about bookings.
    """
    started = time.perf_counter()
    try:
        report = newsletter.send_month(month)
    except InvalidInput as error:
        raise click.UsageError(" ".join(" ".join(m) for m in error.messages().values())) from None
    seconds = time.perf_counter() - started
    click.echo(
        f"{report.month}: {report.events} event(s); queued for {report.queued} "
        f"subscriber(s) in {seconds:.2f} s"
    )


@newsletter_group.command("status")
def status():
    """How many people are subscribed (confirmed) and waiting to confirm."""
    counts = newsletter.counts()
    click.echo(f"confirmed: {counts.confirmed}\npending: {counts.pending}")
