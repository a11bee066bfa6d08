"""``flask seats check``: the seat counters against the bookings they count."""

import click

from ..domain import bookings as rules


@click.group("seats", help="The occurrences' seat counters.")
def seats_group():
    pass


@seats_group.command("check")
@click.option(
    "--fix",
    is_flag=True,
    help="Set each wrong counter to its confirmed bookings (freed seats go to the waiting list).",
)
def check(fix: bool):
    """Compare each occurrence's seats_taken with its confirmed bookings.

    Exits with status 1 when a counter is wrong (after --fix too, so that cron reports it).
    """
    mismatches = rules.fix_seat_counters() if fix else rules.seat_mismatches()
    for m in mismatches:
        click.echo(
            f"occurrence {m.occurrence_id}: counter {m.counted}, confirmed bookings "
            f"{m.confirmed}, capacity {m.capacity}" + (" (fixed)" if fix else "")
        )
    if mismatches:
        click.echo(f"{len(mismatches)} occurrence(s) with a wrong seat counter", err=True)
        raise SystemExit(1)
    click.echo("every seat counter matches its bookings")
