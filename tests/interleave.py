"""Something else happening between two statements of a transaction, on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from calendrier.extensions import db


@contextmanager
def meanwhile(app: Flask, before: str, action: Callable[[], object]) -> Iterator[list]:
    """Run ``action`` to its end, in another thread and transaction, just before the first
    statement starting with ``before`` is sent: what it returns is in the yielded list.

    The other thread's own statements pass the same listener, so it only fires once.
    """
    done: list = []
    started = threading.Event()

    def run() -> None:
        with app.app_context():
            try:
                done.append(action())
            finally:
                db.session.remove()

    def listener(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith(before) and not started.is_set():
            started.set()
            worker = threading.Thread(target=run)
            worker.start()
            worker.join(timeout=60)
            assert not worker.is_alive() and done, f"what ran before {before!r} did not finish"

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield done
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert started.is_set(), f"no statement started with {before!r}"
