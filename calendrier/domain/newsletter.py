"""The monthly letter, "Les actus du mois": subscriptions, the letter, its delivery.

- Double opt-in: ``subscribe`` writes a pending subscriber and queues a confirmation email
  linking ``/newsletter/confirm/<token>``; only ``confirm`` makes the address receive letters.
  Pending subscriptions are deleted by the purge after ``PENDING_DAYS``.
- An address is kept only while subscribed: ``unsubscribe`` deletes the subscriber and every
  email of the newsletter written to them (queued ones never leave).
- ``send_month`` freezes the month's letter (``NewsletterIssue.content``: per language, the
  email's subject, text and HTML and the archive page's fragment) and queues one outbox row
  per confirmed subscriber in one ``INSERT … SELECT``: 10,000 subscribers take one statement,
  and ``dedup_key`` (``newsletter:<month>:<subscriber id>``) makes "once per subscriber and
  month" a database guarantee. Each row is an intent (the subscriber's language, the month):
  ``render_letter`` (the outbox's renderer for the kind ``newsletter``, sent after the
  emails about bookings) puts the frozen letter and the subscriber's own unsubscribe link
  together when the worker sends it, with the ``List-Unsubscribe`` headers of RFC 8058;
  a subscriber gone meanwhile gets nothing (the row ends ``skipped``). The letter is read
  once per delivery round and its MIME message written once per language and round
  (``outbox.Email.fill``): a letter then costs its worker a read, a send and a commit.
- The confirmation email and an organiser's test letter are intents too, rendered when sent.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, case, cast, delete, func, insert, literal, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import (
    Event,
    EventKind,
    EventStatus,
    NewsletterIssue,
    NewsletterSubscriber,
    Occurrence,
    OccurrenceStatus,
    OutboxMessage,
    OutboxStatus,
)
from ..timeutil import utcnow
from . import outbox
from .bookings import availability, normalise_email, seats_taken_by_occurrence
from .errors import InvalidInput, NotFound
from .listing import day_start, site_zone

KIND_CONFIRM = "newsletter_confirm"
KIND_LETTER = "newsletter"
KIND_TEST = "newsletter_test"
KINDS = (KIND_CONFIRM, KIND_LETTER)
PENDING_DAYS = 7
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Where each subscriber's own unsubscribe address goes in the frozen letter.
UNSUBSCRIBE_PLACEHOLDER = "__UNSUBSCRIBE_URL__"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- months --------------------------------------------------------------------------------


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month; InvalidInput otherwise."""
    found = MONTH.match((text or "").strip())
    if not found:
        raise InvalidInput({"month": [_l("Write the month as YYYY-MM, e.g. 2026-03.")]})
    return date(int(found.group(1)), int(found.group(2)), 1)


def next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def month_key(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


# --- subscribing -----------------------------------------------------------------------------


def subscribe(email: str, locale: str, consent: bool, *, now: datetime | None = None) -> None:
    """Ask for the letter. Commits. The answer never says whether the address was known."""
    email = normalise_email(email or "")
    errors: dict[str, list] = {}
    if not EMAIL.match(email) or len(email) > 320:
        errors["email"] = [_l("Enter a valid email address.")]
    if locale not in current_app.config["LANGUAGES"]:
        errors["language"] = [_l("Unknown choice.")]
    if not consent:
        errors["consent"] = [_l("Please accept the privacy notice to subscribe.")]
    if errors:
        raise InvalidInput(errors)
    now = now or utcnow()
    subscriber = db.session.scalar(
        select(NewsletterSubscriber).where(NewsletterSubscriber.email == email)
    )
    try:
        if subscriber is None:
            subscriber = NewsletterSubscriber(
                email=email,
                locale=locale,
                token=secrets.token_urlsafe(32),
                consent_at=now,
                created_at=now,
            )
            db.session.add(subscriber)
            db.session.flush()
        elif subscriber.confirmed_at is not None:
            subscriber.locale = locale  # already receiving it: a change of language only
            db.session.commit()
            return
        else:
            subscriber.locale = locale
            subscriber.consent_at = now
        _queue_confirmation(subscriber)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def _queue_confirmation(subscriber: NewsletterSubscriber) -> None:
    """The intent of the confirmation email (rendered by ``render_confirmation``)."""
    outbox.queue(
        KIND_CONFIRM,
        subscriber.email,
        locale=subscriber.locale,
        snapshot={"subscriber_id": subscriber.id},
    )


@outbox.renders(KIND_CONFIRM)
def render_confirmation(row: OutboxMessage) -> outbox.Email:
    """The confirmation email, at send time: none once confirmed, or gone, meanwhile."""
    subscriber = db.session.get(NewsletterSubscriber, (row.snapshot or {}).get("subscriber_id", 0))
    if subscriber is None or subscriber.email != row.recipient:
        raise outbox.Skip("no longer subscribing")
    if subscriber.confirmed_at is not None:
        raise outbox.Skip("already confirmed")
    public_url = current_app.config["PUBLIC_URL"]
    context = {
        "confirm_url": f"{public_url}/newsletter/confirm/{subscriber.token}",
        "privacy_url": f"{public_url}/privacy",
        "days": PENDING_DAYS,
    }
    context["subject"] = subject = _("Confirm your subscription to the monthly news")
    return outbox.Email(
        subject=subject,
        text=render_template("email/newsletter_confirm.txt", **context),
        html=render_template("email/newsletter_confirm.html", **context),
    )


def confirm(token: str, *, now: datetime | None = None) -> NewsletterSubscriber:
    """The link of the confirmation email. Commits. NotFound for an unknown token."""
    subscriber = _by_token(token)
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = now or utcnow()
    db.session.commit()
    return subscriber


def _by_token(token: str) -> NewsletterSubscriber:
    subscriber = db.session.scalar(
        select(NewsletterSubscriber).where(NewsletterSubscriber.token == token)
    )
    if subscriber is None:
        db.session.rollback()
        raise NotFound("subscriber")
    return subscriber


def find_by_token(token: str) -> NewsletterSubscriber | None:
    return db.session.scalar(
        select(NewsletterSubscriber).where(NewsletterSubscriber.token == token)
    )


def unsubscribe(token: str) -> bool:
    """Forget the subscriber of this link at once. Commits. False if already gone."""
    subscriber = find_by_token(token)
    if subscriber is None:
        db.session.rollback()
        return False
    _forget(subscriber.email)
    db.session.commit()
    return True


def _forget(email: str) -> int:
    """Delete the subscriber and the newsletter's emails to them (in the caller's transaction)."""
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.kind.in_(KINDS), func.lower(OutboxMessage.recipient) == email
        )
    )
    result = db.session.execute(
        delete(NewsletterSubscriber).where(NewsletterSubscriber.email == email)
    )
    return result.rowcount


def forget(email: str) -> int:
    """The right to erasure (domain/privacy.py): in the caller's transaction."""
    return _forget(normalise_email(email))


def export(email: str) -> dict | None:
    """What is held about the address as a subscriber (domain/privacy.py's export)."""
    subscriber = db.session.scalar(
        select(NewsletterSubscriber).where(NewsletterSubscriber.email == normalise_email(email))
    )
    if subscriber is None:
        return None
    return {
        "language": subscriber.locale,
        "subscribed_at": subscriber.created_at.isoformat(),
        "consent_at": subscriber.consent_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
    }


def purge_pending(*, now: datetime | None = None) -> int:
    """Delete subscriptions never confirmed within PENDING_DAYS, and their emails.

    In the caller's transaction (``privacy.purge`` commits)."""
    cutoff = (now or utcnow()) - timedelta(days=PENDING_DAYS)
    stale = select(NewsletterSubscriber.email).where(
        NewsletterSubscriber.confirmed_at.is_(None), NewsletterSubscriber.created_at < cutoff
    )
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.kind.in_(KINDS), OutboxMessage.recipient.in_(stale)
        )
    )
    result = db.session.execute(
        delete(NewsletterSubscriber).where(
            NewsletterSubscriber.confirmed_at.is_(None), NewsletterSubscriber.created_at < cutoff
        )
    )
    return result.rowcount


@dataclass
class Counts:
    confirmed: int = 0
    pending: int = 0


def counts() -> Counts:
    """Subscribers, for the dashboard."""
    confirmed = func.count(NewsletterSubscriber.confirmed_at)
    row = db.session.execute(select(confirmed, func.count(NewsletterSubscriber.id))).one()
    return Counts(confirmed=row[0] or 0, pending=(row[1] or 0) - (row[0] or 0))


# --- the letter ------------------------------------------------------------------------------


@dataclass
class Item:
    """One event in the letter, with its dates of the month."""

    event: Event
    dates: list = field(default_factory=list)  # (occurrence, availability)

    @property
    def image(self):
        return getattr(self.event, "image", None)  # the image model, where it exists


def programme(first: date, *, now: datetime | None = None) -> list[Item]:
    """The month's public events, festivals first, then by their first date of the month."""
    tz = site_zone()
    start, end = day_start(first, tz), day_start(next_month(first), tz)
    occurrences = list(
        db.session.scalars(
            select(Occurrence)
            .join(Occurrence.event)
            .where(
                Event.status == EventStatus.PUBLISHED,
                Occurrence.status == OccurrenceStatus.SCHEDULED,
                Occurrence.starts_at >= start,
                Occurrence.starts_at < end,
            )
            .options(
                joinedload(Occurrence.event).joinedload(Event.organisation),
                joinedload(Occurrence.venue),
            )
            .order_by(Occurrence.starts_at, Occurrence.id)
        ).unique()
    )
    taken = seats_taken_by_occurrence([o.id for o in occurrences])
    now = now or utcnow()
    items: dict[int, Item] = {}
    for occurrence in occurrences:
        item = items.setdefault(occurrence.event_id, Item(occurrence.event))
        item.dates.append((occurrence, availability(occurrence, taken[occurrence.id], now)))
    return sorted(
        items.values(),
        key=lambda i: (i.event.kind != EventKind.FESTIVAL, i.dates[0][0].starts_at, i.event.id),
    )


def get_issue(month: str) -> NewsletterIssue | None:
    return db.session.scalar(select(NewsletterIssue).where(NewsletterIssue.month == month))


def save_introduction(month: str, introduction: str, introduction_en: str) -> NewsletterIssue:
    """The team's words above the programme. Commits. A letter already sent stays as sent."""
    key = month_key(parse_month(month))
    issue = get_issue(key)
    if issue is not None and issue.sent_at is not None:
        db.session.rollback()
        raise InvalidInput({"month": [_l("This month's letter has already been sent.")]})
    if issue is None:
        issue = NewsletterIssue(month=key)
        db.session.add(issue)
    issue.introduction = (introduction or "").strip()
    issue.introduction_en = (introduction_en or "").strip()
    db.session.commit()
    return issue


def subject_for(first: date) -> str:
    """In the current language: "Les actus du mois : décembre 2026"."""
    return _("This month's news: %(month)s", month=format_date(first, "LLLL y"))


def render(
    first: date,
    language: str,
    *,
    introduction: str = "",
    unsubscribe_url: str = UNSUBSCRIBE_PLACEHOLDER,
    items: list[Item] | None = None,
) -> dict[str, str]:
    """The letter in one language: ``subject``, ``text``, ``html`` (the email), ``page``."""
    public_url = current_app.config["PUBLIC_URL"]
    items = programme(first) if items is None else items
    with force_locale(language):
        subject = subject_for(first)
        context = {
            "subject": subject,
            "items": items,
            "introduction": introduction,
            "public_url": public_url,
            "unsubscribe_url": unsubscribe_url,
            "archive_url": f"{public_url}/newsletter/{month_key(first)}",
            "subscribe_url": f"{public_url}/newsletter",
            "language": language,
        }
        return {
            "subject": subject,
            "text": render_template("email/newsletter.txt", **context),
            "html": render_template("email/newsletter.html", **context),
            "page": render_template("public/_newsletter_letter.html", **context),
        }


def _introduction(issue: NewsletterIssue | None, language: str) -> str:
    if issue is None:
        return ""
    if language == "en" and issue.introduction_en:
        return issue.introduction_en
    return issue.introduction


def preview(month: str, language: str) -> dict[str, str]:
    """The letter as it would be sent now (the organiser's preview)."""
    first = parse_month(month)
    issue = get_issue(month_key(first))
    if issue is not None and issue.content:
        return issue.content.get(language) or issue.content["fr"]
    return render(first, language, introduction=_introduction(issue, language))


def send_test(month: str, recipient: str, language: str) -> None:
    """The letter to one address (the organiser's own), not counted as sent. Commits.

    Its intent (month, language) is written; ``render_test_letter`` makes it when it goes.
    """
    parse_month(month)
    outbox.queue(
        KIND_TEST, recipient, locale=language, snapshot={"month": month, "language": language}
    )
    db.session.commit()


@outbox.renders(KIND_TEST)
def render_test_letter(row: OutboxMessage) -> outbox.Email:
    snapshot = row.snapshot or {}
    letter = preview(snapshot["month"], snapshot.get("language") or row.locale)
    unsubscribe = f"{current_app.config['PUBLIC_URL']}/newsletter"
    return outbox.Email(
        subject="[test] " + letter["subject"],
        text=letter["text"].replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe),
        html=letter["html"].replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe),
    )


@dataclass
class SendReport:
    month: str
    queued: int
    events: int


def send_month(month: str, *, now: datetime | None = None) -> SendReport:
    """Freeze the month's letter (once) and queue it to every confirmed subscriber who has
    not had it. Commits once. Run again, it queues only the subscribers confirmed since."""
    first = parse_month(month)
    key = month_key(first)
    now = now or utcnow()
    try:
        issue = get_issue(key)
        if issue is None:
            issue = NewsletterIssue(month=key)
            db.session.add(issue)
            db.session.flush()
        if not issue.content:
            items = programme(first, now=now)
            issue.content = {
                language: render(
                    first, language, introduction=_introduction(issue, language), items=items
                )
                for language in current_app.config["LANGUAGES"]
            }
            issue.sent_at = now
        queued = _queue_letters(issue, now)
    except BaseException:
        db.session.rollback()
        raise
    events = issue.content["fr"]["page"].count('class="letter-event"')
    db.session.commit()
    return SendReport(key, queued, events)


def _queue_letters(issue: NewsletterIssue, now: datetime) -> int:
    """One INSERT … SELECT: a row per confirmed subscriber without this month's letter."""
    subscriber = NewsletterSubscriber
    prefix = f"newsletter:{issue.month}:"
    dedup = literal(prefix, String) + cast(subscriber.id, String)
    languages = list(current_app.config["LANGUAGES"])
    subject = issue.content["fr"]["subject"]
    subject_by_language = case(
        *[
            (subscriber.locale == language, literal(issue.content[language]["subject"]))
            for language in languages
            if language in issue.content
        ],
        else_=literal(subject),
    )
    already = select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup).exists()
    rows = select(
        literal(KIND_LETTER),
        subscriber.email,
        subject_by_language,
        subscriber.locale,
        literal({"month": issue.month}, OutboxMessage.snapshot.type),
        dedup,
        literal(OutboxStatus.QUEUED.value),
        literal(0),
        literal(now, OutboxMessage.next_attempt_at.type),
        literal(""),
        literal(now, OutboxMessage.created_at.type),
    ).where(subscriber.confirmed_at.is_not(None), ~already)
    statement = insert(OutboxMessage).from_select(
        [
            "kind",
            "recipient",
            "subject",
            "locale",
            "snapshot",
            "dedup_key",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
        ],
        rows,
    )
    # Counted, not read from rowcount, which not every driver gives for INSERT … SELECT.
    this_month = select(func.count(OutboxMessage.id)).where(
        OutboxMessage.kind == KIND_LETTER, OutboxMessage.dedup_key.like(prefix + "%")
    )
    before = db.session.scalar(this_month)
    db.session.execute(statement)
    outbox.mark_written()
    return db.session.scalar(this_month) - before


def unsubscribe_url(token: str) -> str:
    return f"{current_app.config['PUBLIC_URL']}/newsletter/unsubscribe/{token}"


# A sent letter never changes (send_month freezes it once): a worker reads it once, and
# then only checks that it is still the same issue (id and time sent), a small query.
_sent: dict[tuple, dict] = {}


def _sent_content(month: str) -> dict | None:
    found = db.session.execute(
        select(NewsletterIssue.id, NewsletterIssue.sent_at).where(NewsletterIssue.month == month)
    ).first()
    if found is None or found.sent_at is None:
        return None
    key = (db.engine.url.render_as_string(), month, found.id, found.sent_at)
    if key not in _sent:
        content = db.session.get(NewsletterIssue, found.id).content
        if not content:
            return None
        _sent.clear()  # one month at a time is all a worker needs
        _sent[key] = content
    return _sent[key]


@outbox.renders(KIND_LETTER, bulk=True)
def render_letter(row: OutboxMessage) -> outbox.Email:
    """The frozen letter, for this subscriber, when the worker sends it (kind ``newsletter``)."""
    _kind, month, subscriber_id = (row.dedup_key or "::").split(":", 2)
    subscriber = db.session.get(NewsletterSubscriber, int(subscriber_id or 0))
    content = outbox.once_per_round(("newsletter", month), lambda: _sent_content(month))
    if subscriber is None or subscriber.confirmed_at is None or content is None:
        raise outbox.Skip("no longer subscribed")
    letter = content.get(subscriber.locale) or content["fr"]
    return outbox.Email(
        subject=letter["subject"],
        text=letter["text"],
        html=letter["html"],
        headers={
            "List-Unsubscribe": f"<{UNSUBSCRIBE_PLACEHOLDER}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Precedence": "bulk",
        },
        # The letter is the same for all who read it in this language but for their own
        # unsubscribe link: its MIME message is written once per round (outbox.Mould).
        fill={UNSUBSCRIBE_PLACEHOLDER: unsubscribe_url(subscriber.token)},
    )


def sent_issues() -> list[NewsletterIssue]:
    return list(
        db.session.scalars(
            select(NewsletterIssue)
            .where(NewsletterIssue.sent_at.is_not(None))
            .order_by(NewsletterIssue.month.desc())
        )
    )
