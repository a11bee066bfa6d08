"""A small shared cache for values worth a few seconds: Redis when configured, else memory.

``CALENDRIER_CACHE_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/1``) shares it between every
worker and app server; without it each process keeps its own, and the app works the same.
Nothing kept here outlives ``ttl`` seconds, and nothing is the only copy of anything: a
miss, or Redis being down, only costs the work the cache would have saved.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, make_response, request, session

from .i18n import current_language

log = logging.getLogger(__name__)
PREFIX = "calendrier:"


class MemoryCache:
    """Per process: a dict of (expiry, value), pruned when it grows."""

    def __init__(self, limit: int = 10_000):
        self._items: dict[str, tuple[float, Any]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._items) >= self._limit:
                self._items = {k: v for k, v in self._items.items() if v[0] >= now}
                if len(self._items) >= self._limit:
                    self._items.clear()
            self._items[key] = (now + ttl, value)

    # Large values (pages, feeds): kept as they are, (meta, body) as given.
    get_large = get

    def set_large(self, key: str, meta: Any, body: bytes, ttl: float) -> None:
        self.set(key, (meta, body), ttl)


class RedisCache:
    """Shared by every process; values as JSON; any Redis error is a miss."""

    def __init__(self, url: str):
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)

    def get(self, key: str) -> Any:
        try:
            raw = self._client.get(PREFIX + key)
        except Exception as error:  # the cache is an optimisation: never an outage
            log.warning("cache unavailable: %s", error)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: float) -> None:
        self._set(key, json.dumps(value).encode(), ttl)

    # Large values (pages, feeds): their meta as JSON, a NUL (which JSON never holds
    # unescaped), then the body's bytes as they are: no escaping of a feed's megabyte.

    def get_large(self, key: str) -> tuple[Any, bytes] | None:
        try:
            raw = self._client.get(PREFIX + key)
        except Exception as error:
            log.warning("cache unavailable: %s", error)
            return None
        if raw is None:
            return None
        meta, _, body = raw.partition(b"\0")
        return json.loads(meta), body

    def set_large(self, key: str, meta: Any, body: bytes, ttl: float) -> None:
        self._set(key, json.dumps(meta).encode() + b"\0" + body, ttl)

    def _set(self, key: str, raw: bytes, ttl: float) -> None:
        try:
            self._client.set(PREFIX + key, raw, px=max(1, int(ttl * 1000)))
        except Exception as error:
            log.warning("cache unavailable: %s", error)


class NearCopies:
    """This process's copies of values that never change under their key (a feed's bytes
    under its ETag): a hit costs neither a round trip to Redis nor megabytes copied out of
    it. Bounded in bytes, the least recently used dropped first; a value larger than half
    the budget is not kept."""

    def __init__(self, budget: int, clock: Callable[[], float] = time.monotonic):
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._budget = budget
        self._size = 0
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < self._clock():
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, body: bytes, ttl: float) -> None:
        if len(body) > self._budget // 2:
            return
        with self._lock:
            if key in self._items:
                self._drop(key)
            while self._items and self._size + len(body) > self._budget:
                self._drop(next(iter(self._items)))
            self._items[key] = (self._clock() + ttl, body)
            self._size += len(body)

    def _drop(self, key: str) -> None:
        self._size -= len(self._items.pop(key)[1])


# A process keeps up to this many bytes of near copies (two languages of a 7 MB agenda).
NEAR_COPIES_BYTES = 32 * 1024 * 1024


def init_app(app: Flask) -> None:
    url = app.config.get("CACHE_REDIS_URL")
    app.extensions["calendrier_cache"] = RedisCache(url) if url else MemoryCache()
    app.extensions["calendrier_near"] = NearCopies(NEAR_COPIES_BYTES)
    # Pages are large: a process keeping its own holds a few hundred at most.
    app.extensions["calendrier_pages"] = (
        app.extensions["calendrier_cache"] if url else MemoryCache(limit=PAGES_IN_MEMORY)
    )


def get(key: str) -> Any:
    return current_app.extensions["calendrier_cache"].get(key)


def put(key: str, value: Any, ttl: float) -> None:
    current_app.extensions["calendrier_cache"].set(key, value, ttl)


# --- public pages shared for a few seconds ------------------------------------------------
# A list page costs tens of queries' worth of rendering; a crowd asks for the same few.
# Served to visitors without a session (no cookie: nothing of theirs is on the page) for
# PAGE_CACHE_SECONDS (default 5): "places left" is at most that late; organisers, and anyone
# who has opened a form, carry a session and always get a fresh page.

PAGES_IN_MEMORY = 256
LONGEST_QUERY = 512  # longer query strings are nobody's shared page: not kept


def get_large(key: str) -> tuple[Any, bytes] | None:
    """``(meta, body)`` from the store for large values (pages, feeds): the shared one, or a
    small one."""
    return current_app.extensions["calendrier_pages"].get_large(key)


def put_large(key: str, meta: Any, body: bytes, ttl: float) -> None:
    """Keep ``body`` (bytes) and ``meta`` (anything JSON holds) under ``key``."""
    current_app.extensions["calendrier_pages"].set_large(key, meta, body, ttl)


def get_fixed(key: str, ttl: float) -> bytes | None:
    """The bytes kept under ``key`` by ``put_fixed``: this process's copy, else the shared
    store's (then copied here for ``ttl`` seconds)."""
    near = current_app.extensions["calendrier_near"]
    body = near.get(key)
    if body is None and isinstance(current_app.extensions["calendrier_cache"], RedisCache):
        kept = get_large(key)
        if kept is not None:
            body = kept[1]
            near.put(key, body, ttl)
    return body


def put_fixed(key: str, body: bytes, ttl: float, shared_limit: int) -> None:
    """Keep ``body``, which never changes under ``key``, for ``ttl`` seconds: in this
    process and, up to ``shared_limit`` bytes, in the shared store (Redis) for the others."""
    current_app.extensions["calendrier_near"].put(key, body, ttl)
    shared = isinstance(current_app.extensions["calendrier_cache"], RedisCache)
    if shared and len(body) <= shared_limit:
        put_large(key, None, body, ttl)


def shared_page(view: Callable) -> Callable:
    """Keep the view's page for visitors without a session, for a few seconds."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        kept = kept_page()
        if kept is not None:
            return kept
        response = make_response(view(*args, **kwargs))
        keep_page(response)
        return response

    return wrapper


def kept_page(refill: Callable[[], dict[str, str]] | None = None):
    """The page kept for this address and language, or None (also when none may be shared).

    ``refill``: the values of this visitor's own for the holes ``keep_page`` punched
    (a form's tokens, made for their session), marker by marker.
    """
    if not _may_share():
        return None
    kept = get_large(_page_key())
    if kept is None:
        return None
    headers, body = kept
    for marker, value in (refill() if refill else {}).items():
        body = body.replace(marker.encode(), value.encode())
    return current_app.response_class(body, headers=headers)


def keep_page(response, holes: dict[str, str] | None = None, session_keys=frozenset()) -> None:
    """Keep ``response`` for visitors without a session, if it is anybody's to share.

    ``holes``: values of this visitor's own in the page, each replaced by its marker
    (a form's tokens); ``session_keys``: what the page may have put in the session
    (those same tokens, made again for each visitor by ``kept_page``'s ``refill``).
    """
    if not _may_share() or not _shareable(response, session_keys):
        return
    body = response.get_data()
    for value, marker in (holes or {}).items():
        body = body.replace(value.encode(), marker.encode())
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "set-cookie"]
    seconds = float(current_app.config["PAGE_CACHE_SECONDS"])
    put_large(_page_key(), headers, body, seconds)


def _may_share() -> bool:
    return (
        float(current_app.config["PAGE_CACHE_SECONDS"]) > 0
        and request.method in ("GET", "HEAD")
        and current_app.config["SESSION_COOKIE_NAME"] not in request.cookies
        and len(request.query_string) <= LONGEST_QUERY
    )


def _page_key() -> str:
    raw = f"{request.url}|{current_language()}"  # a HEAD's body is dropped by the server
    return "page:" + hashlib.sha256(raw.encode()).hexdigest()


def _shareable(response, session_keys=frozenset()) -> bool:
    """A complete 200 that wrote nothing else in the session, with no cookie of its own."""
    return (
        response.status_code == 200
        and not response.direct_passthrough
        and set(session.keys()) <= set(session_keys)
        and "Set-Cookie" not in response.headers
        and not response.cache_control.private
        and (session_keys or not response.cache_control.no_store)
    )
