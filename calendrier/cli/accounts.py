import sys

import click
from flask_babel import force_locale
from sqlalchemy import select

from .. import accounts
from ..accounts import find_user, issue_api_token
from ..domain import catalogue
from ..domain.errors import InvalidInput
from ..extensions import db
from ..models import Organisation


def refused(error: InvalidInput) -> click.ClickException:
    with force_locale("en"):
        details = "; ".join(f"{field}: {' '.join(m)}" for field, m in error.messages().items())
    return click.ClickException(details)


@click.group("orgs", help="Organisations.")
def orgs():
    pass


@orgs.command("create")
@click.argument("slug")
@click.option("--name", required=True)
def create_org(slug: str, name: str):
    if db.session.scalar(select(Organisation).where(Organisation.slug == slug)):
        raise click.ClickException(f"organisation {slug!r} already exists")
    try:
        catalogue.create_organisation(slug=slug, name=name)
    except InvalidInput as error:
        raise refused(error) from None
    click.echo(f"created organisation {slug}")


@click.group("users", help="Organiser and admin accounts.")
def users():
    pass


@users.command("create")
@click.argument("email")
@click.option("--organisation", "organisation_slug", required=True)
@click.option("--admin", is_flag=True, help="An admin of the whole cluster.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", default="")
def create_user(email: str, organisation_slug: str, admin: bool, password_stdin: bool, name: str):
    email = email.strip().lower()
    organisation = db.session.scalar(
        select(Organisation).where(Organisation.slug == organisation_slug)
    )
    if organisation is None:
        raise click.ClickException(f"no organisation {organisation_slug!r}")
    if find_user(email):
        raise click.ClickException(f"user {email} already exists")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        _user, generated = catalogue.create_user(
            email, password=password, organisation_id=organisation.id, is_admin=admin, name=name
        )
    except InvalidInput as error:
        raise refused(error) from None
    click.echo(f"created {'admin' if admin else 'organiser'} {email}")
    if generated:
        click.echo(f"password (shown once): {generated}")


@users.command("token")
@click.argument("email")
def token(email: str):
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"no user {email}")
    value = issue_api_token(user)  # commits
    click.echo(value)


@users.command("revoke-tokens", help="Revoke every API token of this user (a leaked one).")
@click.argument("email")
def revoke_tokens(email: str):
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"no user {email}")
    count = accounts.revoke_tokens(user)
    click.echo(f"revoked {count} token{'s' if count != 1 else ''} of {user.email}")
