"""``flask trainings …``: certificates of attendance."""

import click

from ..domain import certificates


@click.group("trainings", help="Trainings: certificates of attendance.")
def trainings_group():
    pass


@trainings_group.command("certificates")
def send_certificates():
    """Email each trainee of a training that has ended their certificate (once)."""
    count = certificates.queue_certificates()
    click.echo(f"queued {count} certificate(s)")
