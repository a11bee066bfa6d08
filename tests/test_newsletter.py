"""The monthly letter: double opt-in, the letter and its delivery over real SMTP, one-click
unsubscribe (RFC 8058), the archive, personal data."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_mail import email_dispatched
from sqlalchemy import event, func, select

from calendrier.domain import bookings as rules
from calendrier.domain import newsletter, outbox, privacy
from calendrier.extensions import db
from calendrier.models import NewsletterSubscriber, OutboxMessage
from calendrier.timeutil import utcnow

from .test_manage import log_in

PARIS = ZoneInfo("Europe/Paris")


def next_month() -> date:
    today = utcnow().astimezone(PARIS).date()
    return newsletter.next_month(today.replace(day=1))


def in_month(first: date, day: int, hour: int = 18) -> datetime:
    return datetime(first.year, first.month, day, hour, tzinfo=PARIS)


def subscriber(email: str, locale: str = "fr", confirmed: bool = True) -> NewsletterSubscriber:
    newsletter.subscribe(email, locale, True)
    row = db.session.scalar(select(NewsletterSubscriber).where(NewsletterSubscriber.email == email))
    if confirmed:
        newsletter.confirm(row.token)
    return row


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https://agenda\.example\.org({re.escape(path)}[A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)


def test_double_opt_in_through_the_pages_and_real_smtp(client, smtp):
    page = client.get("/newsletter")
    assert page.status_code == 200
    assert 'name="consent"' in page.get_data(as_text=True)
    answer = client.post(
        "/newsletter", data={"email": " Ana@Example.org ", "language": "en", "consent": "y"}
    )
    assert answer.status_code == 303
    row = db.session.scalar(select(NewsletterSubscriber))
    assert row.email == "ana@example.org" and row.locale == "en" and row.confirmed_at is None

    outbox.deliver_all()
    [message] = smtp.messages
    assert message["To"] == "ana@example.org"
    assert "Confirm your subscription" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    path = link_in(body, "/newsletter/confirm/")

    # Following the link shows a button; a link checker alone confirms nothing.
    assert client.get(path).status_code == 200
    db.session.expire_all()
    assert db.session.get(NewsletterSubscriber, row.id).confirmed_at is None
    assert client.post(path).status_code == 200
    db.session.expire_all()
    assert db.session.get(NewsletterSubscriber, row.id).confirmed_at is not None
    assert newsletter.counts().confirmed == 1


def test_subscribing_asks_for_consent_and_a_real_address(client):
    answer = client.post("/newsletter", data={"email": "ana@example.org", "language": "fr"})
    assert answer.status_code == 422
    answer = client.post(
        "/newsletter", data={"email": "not an address", "language": "fr", "consent": "y"}
    )
    assert answer.status_code == 422
    answer = client.post(
        "/newsletter", data={"email": "ana@example.org", "language": "de", "consent": "y"}
    )
    assert answer.status_code == 422
    assert db.session.scalar(select(func.count(NewsletterSubscriber.id))) == 0
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def same_but_boundaries_and_date(one: bytes, other: bytes) -> bool:
    def plain(raw: bytes) -> bytes:
        raw = re.sub(rb"={15}\d+==", b"(boundary)", raw)
        return re.sub(rb"\r\nDate: [^\r]+\r\n", b"\r\nDate: (date)\r\n", raw, count=1)

    return plain(one) == plain(other)


def test_the_monthly_letter_reaches_each_subscriber_once_in_their_language(app, runner, smtp, make):
    first = next_month()
    month = newsletter.month_key(first)
    festival = make.event(kind="festival", title="Festival du film d'animation")
    visit = make.event(title="Visite des studios", summary="Les coulisses.")
    make.occurrence(event=visit, starts_at=in_month(first, 3), capacity=12)
    make.occurrence(event=festival, starts_at=in_month(first, 20), capacity=100)
    later = in_month(first, 1) + timedelta(days=40)
    make.occurrence(event=make.event(title="Le mois d'après"), starts_at=later)
    subscriber("ana@example.org", "fr")
    subscriber("bob@example.org", "en")
    subscriber("cyd@example.org", "fr", confirmed=False)
    newsletter.save_introduction(month, "Bonne année à toutes et à tous !", "Happy new year!")
    outbox.deliver_all()
    smtp.envelopes.clear()

    result = runner.invoke(args=["newsletter", "send", "--month", month])
    assert result.exit_code == 0, result.output
    assert "queued for 2 subscriber(s)" in result.output
    again = runner.invoke(args=["newsletter", "send", "--month", month])
    assert "queued for 0 subscriber(s)" in again.output

    outbox.deliver_all()
    by_recipient = {m["To"]: m for m in smtp.messages}
    raw = {e.rcpt_tos[0]: e.content for e in smtp.envelopes}
    assert set(by_recipient) == {"ana@example.org", "bob@example.org"}
    french, english = by_recipient["ana@example.org"], by_recipient["bob@example.org"]
    assert french["Subject"].startswith("Les actus du mois")
    assert english["Subject"].startswith("This month's news")
    for message in (french, english):
        url = message["List-Unsubscribe"].strip("<>")
        assert url.startswith("https://agenda.example.org/newsletter/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # as a mail service reads it: the URL itself, not an RFC 2047 encoded word
        assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in raw[message["To"]]
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert url in html and url in text  # the visible link is the subscriber's own
        # festivals first, then by date; the next month's event is not in it
        assert html.index("Festival du film") < html.index("Visite des studios")
        assert "Le mois d&#39;après" not in html and "Le mois d'après" not in text
    assert "Bonne année" in french.get_body(("html",)).get_content()
    assert "Happy new year!" in english.get_body(("html",)).get_content()
    assert "12 places restantes" in french.get_body(("plain",)).get_content()
    assert "12 places left" in english.get_body(("plain",)).get_content()
    assert french["List-Unsubscribe"] != english["List-Unsubscribe"]
    # Written once per round and filled in for each: the very bytes the email package
    # writes for that letter, but for its MIME boundaries and its Date.
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "newsletter"))
    for row in rows:
        expected = outbox.build_message(row).as_bytes()
        assert same_but_boundaries_and_date(raw[row.recipient], expected)


def test_one_click_unsubscribe_needs_no_cookie_and_no_csrf_token(app, make):
    app.config["WTF_CSRF_ENABLED"] = True
    first = next_month()
    make.occurrence(starts_at=in_month(first, 5))
    ana = subscriber("ana@example.org")
    newsletter.send_month(newsletter.month_key(first))
    [row] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "newsletter"))
    message = outbox.build_message(row)
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("https://agenda.example.org")
    db.session.commit()

    client = app.test_client(use_cookies=False)
    # What a mail program sends (RFC 8058 section 3.2): no cookie, no token.
    answer = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    db.session.expire_all()
    assert db.session.get(NewsletterSubscriber, ana.id) is None
    # Addresses are kept only while subscribed: the emails to them go too.
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert client.post(path).status_code == 200  # again: the same answer
    assert client.get(path).status_code == 404
    # Every other form still wants its token.
    refused = client.post("/newsletter", data={"email": "x@example.org", "consent": "y"})
    assert refused.status_code == 400


def test_a_letter_to_someone_who_left_meanwhile_is_not_sent(app, smtp, make):
    first = next_month()
    make.occurrence(starts_at=in_month(first, 5))
    ana = subscriber("ana@example.org")
    db.session.execute(OutboxMessage.__table__.delete())  # the confirmation email
    db.session.commit()
    newsletter.send_month(newsletter.month_key(first))
    # The subscriber row goes without the outbox noticing (a race with the worker).
    db.session.delete(db.session.get(NewsletterSubscriber, ana.id))
    db.session.commit()
    outbox.deliver_all()
    assert smtp.messages == []
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "newsletter"))
    assert row.status == "skipped" and "no longer subscribed" in row.last_error


def test_someone_who_leaves_while_the_letter_goes_out_does_not_get_it(app, smtp, make):
    first = next_month()
    make.occurrence(starts_at=in_month(first, 5))
    readers = [subscriber(f"reader{n}@example.org").email for n in range(4)]
    db.session.execute(OutboxMessage.__table__.delete())  # the confirmation emails
    db.session.commit()
    newsletter.send_month(newsletter.month_key(first))
    last = db.session.scalar(
        select(OutboxMessage.recipient).order_by(OutboxMessage.id.desc()).limit(1)
    )
    token = db.session.scalar(
        select(NewsletterSubscriber.token).where(NewsletterSubscriber.email == last)
    )
    db.session.commit()  # on SQLite, a transaction left open would block the one who leaves
    left = []

    def unsubscribes_after_the_first_letter(sender, message):
        if not left:
            with app.app_context():  # the link of an earlier letter, clicked meanwhile
                left.append(newsletter.unsubscribe(token))

    email_dispatched.connect(unsubscribes_after_the_first_letter)
    try:
        report = outbox.deliver()  # one round: every letter was claimed before they left
    finally:
        email_dispatched.disconnect(unsubscribes_after_the_first_letter)
    assert left == [True]
    assert (report.claimed, report.sent, report.skipped) == (4, 3, 1)
    assert sorted(m["To"] for m in smtp.messages) == sorted(r for r in readers if r != last)
    # Nothing is kept about them: no subscriber, no letter to them.
    assert db.session.scalar(select(func.count()).where(OutboxMessage.recipient == last)) == 0


@contextmanager
def counting():
    """SQL statements and commits, as the database sees them."""
    seen = {"statements": 0, "commits": 0}

    def statement(conn, cursor, text, *args):
        if not text.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE: part of the commit
            seen["statements"] += 1

    def commit(*args):
        seen["commits"] += 1

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", commit)


def test_each_letter_costs_the_worker_the_same_few_statements(app, smtp, make):
    # A letter to 10,000 leaves at the pace of the database's commits: each letter is read
    # (its subscriber, just before it goes) and recorded sent, once; the claim, the letter
    # itself and the renewal of the claims are shared by the letters of a round.
    first = next_month()
    make.occurrence(starts_at=in_month(first, 5))
    for n in range(50):
        subscriber(f"reader{n}@example.org", "en" if n % 5 == 0 else "fr")
    outbox.deliver_all()  # the confirmation emails
    newsletter.send_month(newsletter.month_key(first))
    with counting() as small:
        assert outbox.deliver(10).sent == 10
    with counting() as big:
        assert outbox.deliver(40).sent == 40
    extra = 30
    assert big["statements"] - small["statements"] <= 2 * extra + 1, (small, big)
    assert big["commits"] - small["commits"] <= extra + 1, (small, big)
    assert len({m["To"] for m in smtp.messages if m["To"].startswith("reader")}) == 50


def test_emails_about_bookings_leave_before_a_big_letter(app, make):
    first = next_month()
    occurrence = make.occurrence(starts_at=in_month(first, 5))
    for n in range(30):
        subscriber(f"person{n}@example.org")
    db.session.execute(OutboxMessage.__table__.delete())
    db.session.commit()
    newsletter.send_month(newsletter.month_key(first))
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1))
    ids = outbox.claim(5, "test-worker")
    kinds = [db.session.get(OutboxMessage, i).kind for i in ids]
    assert kinds[0] == "confirmed"
    assert kinds[1:] == ["newsletter"] * 4


def test_the_archive_shows_sent_letters_only(client, make):
    first = next_month()
    month = newsletter.month_key(first)
    make.occurrence(event=make.event(title="Ciné-concert"), starts_at=in_month(first, 8))
    path = f"/newsletter/{month}"
    assert client.get(path).status_code == 404
    subscriber("ana@example.org")
    newsletter.send_month(month)
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ciné-concert" in html and "Les actus du mois" in html
    assert newsletter.UNSUBSCRIBE_PLACEHOLDER not in html
    english = client.get(path + "?lang=en").get_data(as_text=True)
    assert "This month&#39;s news" in english or "This month's news" in english
    assert client.get("/newsletter/2026-13").status_code == 404
    assert month in client.get("/newsletter").get_data(as_text=True)


def test_personal_data_knows_subscribers(app, runner, make):
    ana_id = subscriber("ana@example.org").id
    data = privacy.export("ANA@example.org")
    assert data["newsletter"]["confirmed_at"] is not None
    assert privacy.holds_anything(data)
    report = privacy.erase("ana@example.org")
    assert report.newsletter == 1
    assert db.session.get(NewsletterSubscriber, ana_id) is None

    # A subscription never confirmed is deleted by the purge after a week.
    pending = subscriber("bob@example.org", confirmed=False)
    fresh_id = subscriber("cyd@example.org", confirmed=False).id
    pending.created_at = utcnow() - timedelta(days=newsletter.PENDING_DAYS + 1)
    pending_id = pending.id
    db.session.commit()
    result = runner.invoke(args=["privacy", "purge"])
    assert "deleted 1 newsletter subscription(s)" in result.output, result.output
    db.session.expire_all()
    assert db.session.get(NewsletterSubscriber, pending_id) is None
    assert db.session.get(NewsletterSubscriber, fresh_id) is not None
    assert (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.recipient == "bob@example.org")
        )
        == 0
    )


@pytest.fixture
def admin(make):
    return make.user(is_admin=True)


def test_the_team_writes_previews_and_tests_the_letter(client, make, smtp, admin):
    first = next_month()
    month = newsletter.month_key(first)
    make.occurrence(event=make.event(title="Atelier stop-motion"), starts_at=in_month(first, 12))
    subscriber("ana@example.org")
    outbox.deliver_all()
    smtp.envelopes.clear()
    log_in(client, admin)
    page = client.get(f"/manage/newsletter?month={month}")
    assert page.status_code == 200
    assert "Atelier stop-motion" in page.get_data(as_text=True)
    saved = client.post(
        "/manage/newsletter",
        data={"month": month, "introduction": "Un mois riche.", "introduction_en": ""},
    )
    assert saved.status_code == 303
    preview = client.get(f"/manage/newsletter/{month}/preview?lang=fr")
    assert "Un mois riche." in preview.get_data(as_text=True)
    assert "style-src 'unsafe-inline'" in preview.headers["Content-Security-Policy"]
    assert client.post(f"/manage/newsletter/{month}/test").status_code == 303
    outbox.deliver_all()
    [message] = smtp.messages
    assert message["To"] == admin.email and message["Subject"].startswith("[test]")
    assert newsletter.get_issue(month).sent_at is None  # a test is not the sending
    dashboard = client.get("/manage/").get_data(as_text=True)
    assert "newsletter subscribers" in dashboard or "abonnés" in dashboard
    assert client.post("/manage/newsletter", data={"month": "2026-1"}).status_code == 422


def test_organisers_who_are_not_admins_do_not_see_the_letter_pages(client, make):
    organiser = make.user()
    log_in(client, organiser)
    assert client.get("/manage/newsletter").status_code == 403
    assert client.get("/manage/sources").status_code == 403
