"""The command-line door (``flask --app wsgi …``)."""

from flask import Flask

from . import accounts, demo, events, mail, newsletter, privacy, seats, sources
from . import trainings as training_commands


def register_commands(app: Flask) -> None:
    app.cli.add_command(demo.seed_demo)  # seed.py's programme, and its cluster's identity
    app.cli.add_command(accounts.orgs)
    app.cli.add_command(accounts.users)
    app.cli.add_command(mail.mail_group)
    app.cli.add_command(privacy.privacy_group)
    app.cli.add_command(events.events_group)
    app.cli.add_command(training_commands.trainings_group)
    app.cli.add_command(seats.seats_group)
    app.cli.add_command(newsletter.newsletter_group)
    app.cli.add_command(sources.sources_group)
