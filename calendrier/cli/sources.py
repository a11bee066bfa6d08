"""``flask sources add|list|sync``: the iCalendar feeds this agenda follows."""

from __future__ import annotations

import click

from ..domain import sources
from ..domain.errors import InvalidInput
from ..models import EventKind


@click.group("sources", help="A network of agendas: the feeds this agenda follows.")
def sources_group():
    pass


@sources_group.command("add")
@click.argument("url")
@click.option("--organisation", "organisation_slug", required=True, help="Slug of the organiser.")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in EventKind]),
    help="Kind of the new events whose CATEGORIES name none.",
)
def add(url: str, organisation_slug: str, kind: str | None):
    """Follow the iCalendar feed at URL; its events appear under the organisation."""
    try:
        source = sources.add_source(url, organisation_slug, kind)
    except InvalidInput as error:
        raise click.UsageError(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in error.messages().items())
        ) from None
    click.echo(f"following {source.url} (source {source.id}); `flask sources sync` fetches it")


@sources_group.command("list")
def list_command():
    """Each source, its state, and what its last sync did or why it failed."""
    rows = sources.list_sources()
    if not rows:
        click.echo("no source")
    for source in rows:
        checked = source.checked_at.isoformat(timespec="seconds") if source.checked_at else "never"
        click.echo(f"{source.id}\t{source.status}\t{source.organisation.slug}\t{source.url}")
        click.echo(f"\tchecked: {checked}")
        if source.last_error:
            click.echo(f"\terror: {source.last_error}")
        if source.last_report:
            click.echo(f"\tlast change: {source.last_report}")


@sources_group.command("sync")
def sync():
    """Fetch every source and apply what changed (run it from cron, e.g. every 15 minutes)."""
    failed = 0
    for report in sources.sync_all():
        line = f"{report.url}: {report.status}"
        if report.summary:
            line += f" ({report.summary})"
        if report.error:
            line += f": {report.error}"
            failed += 1
        click.echo(line)
    if failed:
        raise SystemExit(1)
