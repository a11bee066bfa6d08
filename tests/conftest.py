"""Fixtures: the same suite runs on SQLite (default) and on PostgreSQL.

Set ``CALENDRIER_TEST_DATABASE_URL`` to a PostgreSQL URL to run on PostgreSQL;
each pytest-xdist worker gets its own database, created here and migrated once.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, make_url, text

from calendrier import create_app
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.timeutil import clock_set_to

from . import factories

PG_URL = os.environ.get("CALENDRIER_TEST_DATABASE_URL", "")


def pytest_sessionstart(session):
    """The statements the booking rules build once per process (``bookings._glance``,
    ``_one_statement``) are built again by each test session: mutmut runs each mutant's
    session in a process forked from one that had built them (tools/mutation.sh), and a
    mutant of their building would otherwise never run."""
    from calendrier.domain import bookings

    bookings._GLANCE = None
    bookings._ONE_STATEMENTS.clear()


# The day a test marked ``@pytest.mark.clock`` runs on: before every fixed date those tests
# write (a clock change in 2027, a Friday 8 March 2030...), so they never expire.
# tests/test_suite_hygiene.py refuses a date after today anywhere else in the suite.
FIXED_NOW = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)  # a Monday morning, 10:00 in Paris


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _terminate_and_drop(conn, name: str) -> None:
    conn.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"
        ),
        {"name": name},
    )
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


def _admin_engine(url: str):
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _create_pg_database(url: str) -> str:
    """A database of this worker's own: two runs on one server never share one."""
    parsed = make_url(url)
    name = f"{parsed.database}_{_worker()}_{os.getpid()}"
    admin = _admin_engine(url)
    with admin.connect() as conn:
        _terminate_and_drop(conn, name)
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(uri: str) -> None:
    admin = _admin_engine(uri)
    with admin.connect() as conn:
        _terminate_and_drop(conn, make_url(uri).database)
    admin.dispose()


@pytest.fixture(autouse=True)
def _fixed_clock(request):
    """``@pytest.mark.clock`` (or ``clock(moment)``): the test runs as if it were then."""
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield
        return
    with clock_set_to(marker.args[0] if marker.args else FIXED_NOW):
        yield


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory):
    if PG_URL:
        uri = _create_pg_database(PG_URL)
    else:
        uri = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield uri
    if PG_URL:
        _drop_pg_database(uri)


def make_config(database_uri: str, tmp_path: Path, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "PUBLIC_URL": "https://agenda.example.org",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 1,  # nothing listens: tests that send start their own server
        "MAIL_DEFAULT_SENDER": "agenda@example.org",
        "MAIL_SUPPRESS_SEND": False,  # tests send to a real SMTP server on loopback
        "SERVER_NAME": None,
        # feeds' validators cached for seconds: tests of a change then a poll see it at once
        # (tests/test_fixed_cost.py turns it on)
        "FEED_VALIDATORS_SECONDS": 0,
        # pages shared for seconds likewise (tests/test_page_cache.py turns it on)
        "PAGE_CACHE_SECONDS": 0,
    }
    config.update(overrides)
    return config


def wait_for_connections_back(engine, timeout: float = 30) -> None:
    """Every connection of the test's app is back in its pool before the pool goes.

    One still out belongs to a thread of this test that outlived it (a server's request,
    a background sender): disposed under it, that connection would be closed by the
    garbage collector in some later test, as a ResourceWarning there. Fail here instead.
    """
    deadline = time.monotonic() + timeout
    while engine.pool.checkedout() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not engine.pool.checkedout(), "a thread of this test still holds a connection"


def clean_database() -> None:
    if db.engine.dialect.name == "postgresql":
        # Whatever a previous test left running (a server thread, a worker process)
        # must not hold locks the clean-up waits for: each test starts from a clean slate.
        db.session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    # DELETE, not TRUNCATE: far cheaper on the handful of rows a test writes.
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app_config(database_uri, tmp_path, request) -> dict:
    """Override keys here (before ``app`` is used) to change the app's config.

    ``@pytest.mark.config(KEY=value)`` on a test does it for that test.
    """
    config = make_config(database_uri, tmp_path)
    marker = request.node.get_closest_marker("config")
    if marker:
        config.update(marker.kwargs)
    return config


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        clean_database()
        yield app
        outbox.stop_background_delivery(app)  # its round ends before the engine does
        db.session.remove()
        wait_for_connections_back(db.engine)
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make(app):
    """Factories bound to the test's app: ``make.occurrence(capacity=3)``."""
    return factories


@pytest.fixture
def is_postgres(app) -> bool:
    return db.engine.dialect.name == "postgresql"


@pytest.fixture
def smtp(app):
    """A real SMTP server on loopback, with the app pointed at it."""
    from .smtp import SMTPServer, point_mail_at

    server = SMTPServer().start()
    point_mail_at(app, server.port)
    yield server
    server.stop()
