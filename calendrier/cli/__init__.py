"""The command-line door (``flask --app wsgi …``)."""

from flask import Flask

from . import accounts, events, mail, newsletter, privacy, seed, sources


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed.seed_demo)
    app.cli.add_command(accounts.orgs)
    app.cli.add_command(accounts.users)
    app.cli.add_command(mail.mail_group)
    app.cli.add_command(privacy.privacy_group)
    app.cli.add_command(events.events_group)
    app.cli.add_command(newsletter.newsletter_group)
    app.cli.add_command(sources.sources_group)
