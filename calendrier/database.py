"""Engine set-up that makes SQLite and PostgreSQL behave alike where it matters."""

from flask import Flask
from sqlalchemy import event

from .extensions import db


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            _serialise_sqlite_writers(engine)


def _serialise_sqlite_writers(engine) -> None:
    """Every SQLite transaction takes the write lock when it begins.

    SQLite cannot lock one row. A deferred transaction that reads and then
    writes can fail when another writer got there first; BEGIN IMMEDIATE makes
    writers queue (busy_timeout) instead, so the booking rules' read-check-write
    sequences are serialised as ``SELECT ... FOR UPDATE`` does on PostgreSQL.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
