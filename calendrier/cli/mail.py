import logging
import signal
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click
from flask import current_app

from ..domain import feedback, outbox, reminders
from ..extensions import db
from ..timeutil import utcnow

log = logging.getLogger(__name__)


@click.group("mail", help="The email outbox.")
def mail_group():
    pass


@mail_group.command("send")
@click.option("--watch", is_flag=True, help="Keep delivering until stopped (SIGTERM, Ctrl-C).")
@click.option(
    "--now", "at_once", is_flag=True, help="Try at once the emails waiting for their retry."
)
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
@click.option("--batch", default=100, show_default=True, help="Messages claimed at a time.")
def send(watch: bool, at_once: bool, interval: float, batch: int):
    """Deliver the outbox (failures are retried later with backoff).

    Several workers may run at once: each message is claimed by one of them.
    Stopped by SIGTERM or Ctrl-C, a watching worker finishes the message in hand.
    """
    if at_once:
        click.echo(f"{outbox.bring_forward()} email(s) due for a retry later, tried now")
    if not watch:
        report = outbox.deliver_all(batch)
        click.echo(summary(report))
        say_what_waits()
        return
    stop = threading.Event()
    handler = lambda *_: stop.set()  # noqa: E731
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        while not stop.is_set():
            try:
                report = outbox.deliver_all(batch)
            except Exception as error:  # database or mail server away: try again later
                db.session.rollback()
                log.exception("delivery round failed")
                click.echo(f"delivery failed, retrying: {error}", err=True)
            else:
                if report.claimed:
                    click.echo(summary(report))
                    if report.failed:
                        say_what_waits()
            stop.wait(interval)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped")


def summary(report: outbox.DeliveryReport) -> str:
    text = f"sent {report.sent}, failed {report.failed}"
    if report.skipped:
        text += f", skipped {report.skipped} (no longer true)"
    return text


def say_what_waits() -> None:
    waiting = outbox.waiting()
    if waiting.count and waiting.next_at is not None:
        click.echo(
            f"{waiting.count} waiting to retry, next at {local_time(waiting.next_at)}"
            " (mail send --now tries them at once)"
        )
        say_last_error(waiting)


def say_last_error(waiting: outbox.Waiting) -> None:
    if waiting.last_error:
        click.echo(f"last error: {waiting.last_error}")


def local_time(moment: datetime) -> str:
    """21:42 today, in the configured time zone; with the date when it is another day."""
    zone = ZoneInfo(current_app.config.get("TIMEZONE") or "UTC")
    local = moment.astimezone(zone)
    if local.date() == utcnow().astimezone(zone).date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


@mail_group.command("status")
def status():
    """How many emails are queued, being sent, sent, skipped and given up; the next attempt."""
    for state, count in outbox.counts().items():
        click.echo(f"{state}: {count}")
    waiting = outbox.waiting()
    if waiting.count and waiting.next_at is not None:
        click.echo(
            f"next attempt: {local_time(waiting.next_at)} ({waiting.count} waiting to retry)"
        )
        say_last_error(waiting)


@mail_group.command("retry")
@click.option("--days", type=int, default=None, help="Only messages written in the last DAYS days.")
def retry(days: int | None):
    """Queue again the emails that were given up (e.g. after fixing the mail settings)."""
    since = utcnow() - timedelta(days=days) if days is not None else None
    click.echo(f"queued {outbox.retry_failed(since)} email(s) again")


@mail_group.command("reminders")
def queue_reminders():
    """Queue one reminder per confirmed booking for occurrences starting within a day."""
    count = reminders.queue_reminders()
    click.echo(f"queued {count} reminder(s)")


@mail_group.command("feedback")
def queue_feedback():
    """Ask each attendee who came to a date that has ended for their opinion (once)."""
    count = feedback.queue_requests()
    click.echo(f"queued {count} feedback request(s)")
