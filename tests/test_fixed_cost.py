"""What a request costs whatever it asks: a polling calendar's 304 from the cache, no query."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import event

from calendrier import cache, create_app
from calendrier.domain import bookings as rules
from calendrier.extensions import db

from .conftest import make_config, wait_for_connections_back


def queries_during(work, engine=None) -> list[str]:
    """The statements ``work`` sends through ``engine`` (the current app's by default)."""
    engine = engine or db.engine
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


@pytest.mark.config(FEED_VALIDATORS_SECONDS=30)
def test_a_poll_within_seconds_is_a_304_without_a_query(client, make):
    occurrence = make.occurrence()
    slug = occurrence.event.slug
    first = client.get(f"/events/{slug}.ics")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    answers = []
    sent = queries_during(
        lambda: answers.append(client.get(f"/events/{slug}.ics", headers={"If-None-Match": etag}))
    )
    assert answers[0].status_code == 304
    assert answers[0].headers["ETag"] == etag
    assert sent == []
    # another ETag, or no condition at all: the feed itself, its bytes kept under its ETag,
    # still without a query
    for headers in ({"If-None-Match": '"x"'}, {}):
        answers.clear()
        sent = queries_during(
            lambda h=headers: answers.append(client.get(f"/events/{slug}.ics", headers=h))
        )
        assert answers[0].status_code == 200 and answers[0].data == first.data
        assert answers[0].headers["ETag"] == etag
        assert answers[0].headers["Content-Disposition"] == f'inline; filename="{slug}.ics"'
        assert sent == []
    # the language is part of the URL, so of what is remembered
    english = client.get(f"/events/{slug}.ics?lang=en", headers={"If-None-Match": etag})
    assert english.status_code == 200


def test_without_the_cache_window_every_poll_asks_the_database(client, make):
    occurrence = make.occurrence()
    slug = occurrence.event.slug
    etag = client.get(f"/events/{slug}.ics").headers["ETag"]
    answers = []
    sent = queries_during(
        lambda: answers.append(client.get(f"/events/{slug}.ics", headers={"If-None-Match": etag}))
    )
    assert answers[0].status_code == 304
    assert sent


def redis_is_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")
def test_app_servers_share_the_cache_through_redis(app_config, database_uri, tmp_path):
    config = make_config(database_uri, tmp_path, CACHE_REDIS_URL="redis://127.0.0.1:6379/15")
    one, two = create_app(config), create_app(config)
    key = f"test:{tmp_path.name}"
    with one.app_context():
        cache.put(key, ["etag", 12.0], 30)
        # a page or a feed: its bytes as they are (a NUL too), beside what JSON holds
        cache.put_large(key + ":page", [["ETag", '"x"']], b"BEGIN:VCALENDAR\r\n\0\xc3\xa9", 30)
    with two.app_context():
        assert cache.get(key) == ["etag", 12.0]
        assert cache.get(key + ":other") is None
        assert cache.get_large(key + ":page") == (
            [["ETag", '"x"']],
            b"BEGIN:VCALENDAR\r\n\0\xc3\xa9",
        )
        assert cache.get_large(key + ":other") is None


def test_a_cache_that_is_down_is_a_miss(app_config, database_uri, tmp_path):
    config = make_config(database_uri, tmp_path, CACHE_REDIS_URL="redis://127.0.0.1:1/0")
    app = create_app(config)
    with app.app_context():
        cache.put("k", 1, 5)
        assert cache.get("k") is None
        cache.put_large("p", None, b"page", 5)
        assert cache.get_large("p") is None


def test_list_pages_show_places_left_from_the_counter(client, make):
    occurrence = make.occurrence(capacity=3)
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=2))
    data = client.get(f"/api/v1/occurrences/{occurrence.id}").get_json()
    assert data["seats_left"] == 1
    sent = queries_during(lambda: client.get("/events"))
    assert not any("FROM booking" in q for q in sent), sent


def test_a_feed_is_built_once_for_its_etag_and_again_when_it_changes(client, make):
    occurrence = make.occurrence()
    slug = occurrence.event.slug
    first = client.get(f"/events/{slug}.ics")
    answers = []
    sent = queries_during(lambda: answers.append(client.get(f"/events/{slug}.ics")))
    assert answers[0].data == first.data
    assert answers[0].headers["ETag"] == first.headers["ETag"]
    # the event and the validators' one indexed read (and perhaps the settings' version,
    # every few seconds): the dates themselves are not read again
    assert not any("occurrence.capacity" in q or "FROM sitting" in q for q in sent), sent
    make.occurrence(event=occurrence.event, venue=occurrence.venue, capacity=5)
    changed = client.get(f"/events/{slug}.ics")
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert changed.data.count(b"BEGIN:VEVENT") == 2


def dates_read(sent: list[str]) -> bool:
    """Whether a feed was built: its dates read, not only its validators."""
    return any("occurrence.capacity" in q for q in sent)


@pytest.mark.skipif(not redis_is_up(), reason="no Redis on 127.0.0.1:6379")
def test_a_feed_is_built_once_for_every_app_server_and_copied_into_each(
    app, app_config, make, tmp_path
):
    # three app servers sharing one Redis, with their own ETags (this test's own URL)
    config = {
        **app_config,
        "CACHE_REDIS_URL": "redis://127.0.0.1:6379/15",
        "PUBLIC_URL": f"https://{tmp_path.name}.example.org",
    }
    slug = make.occurrence().event.slug
    db.session.commit()  # SQLite: the test's read transaction would keep the servers waiting
    servers = [create_app(config) for _ in range(3)]
    engines = []
    for server in servers:
        with server.app_context():
            engines.append(db.engine)

    def get(number: int):
        answers = []
        client = servers[number].test_client(use_cookies=False)
        sent = queries_during(
            lambda: answers.append(client.get(f"/events/{slug}.ics")), engines[number]
        )
        assert answers[0].status_code == 200
        return answers[0], dates_read(sent)

    try:
        first, built = get(0)
        assert built
        # the second server finds its bytes in Redis
        second, built = get(1)
        assert not built and second.data == first.data
        # gone from Redis: both servers still have their own copy
        import redis

        etag = first.headers["ETag"].strip('"')
        assert (
            redis.Redis.from_url(config["CACHE_REDIS_URL"]).delete(
                f"{cache.PREFIX}feed-body:{etag}"
            )
            == 1
        )
        for number in (0, 1):
            again, built = get(number)
            assert not built and again.data == first.data
        # and a server that never served it builds it again
        third, built = get(2)
        assert built and third.data == first.data
    finally:
        for engine in engines:
            wait_for_connections_back(engine)
            engine.dispose()


def test_a_feed_too_large_for_the_process_is_built_again(client, make, monkeypatch):
    slug = make.occurrence().event.slug
    first = client.get(f"/events/{slug}.ics")
    sent = queries_during(lambda: client.get(f"/events/{slug}.ics"))
    assert not dates_read(sent), sent  # kept in the process
    monkeypatch.setattr(cache, "NEAR_COPIES_BYTES", len(first.data))  # at most half of it
    cache.init_app(client.application)
    client.get(f"/events/{slug}.ics")
    sent = queries_during(lambda: client.get(f"/events/{slug}.ics"))
    assert dates_read(sent), sent


def test_near_copies_keep_the_bytes_budget_the_most_recently_used_first():
    now = [0.0]
    near = cache.NearCopies(budget=100, clock=lambda: now[0])
    near.put("a", b"a" * 40, ttl=60)
    near.put("b", b"b" * 40, ttl=60)
    assert near.get("a") == b"a" * 40  # "a" used last: "b" goes first
    near.put("c", b"c" * 40, ttl=60)
    assert near.get("b") is None
    assert near.get("a") == b"a" * 40 and near.get("c") == b"c" * 40
    near.put("big", b"x" * 51, ttl=60)  # over half the budget: not kept, nothing dropped
    assert near.get("big") is None and near.get("a") is not None
    near.put("a", b"A" * 50, ttl=60)  # a new value under a key replaces it, in the budget
    assert near.get("a") == b"A" * 50 and near.get("c") == b"c" * 40
    now[0] = 61  # past their time
    assert near.get("a") is None and near.get("c") is None
    near.put("d", b"d" * 50, ttl=60)
    near.put("e", b"e" * 50, ttl=60)  # the expired ones no longer count
    assert near.get("d") == b"d" * 50 and near.get("e") == b"e" * 50
