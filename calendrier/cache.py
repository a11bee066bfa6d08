"""A small shared cache for values worth a few seconds: Redis when configured, else memory.

``CALENDRIER_CACHE_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/1``) shares it between every
worker and app server; without it each process keeps its own, and the app works the same.
Nothing kept here outlives ``ttl`` seconds, and nothing is the only copy of anything: a
miss, or Redis being down, only costs the work the cache would have saved.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from flask import Flask, current_app

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
        try:
            self._client.set(PREFIX + key, json.dumps(value), px=max(1, int(ttl * 1000)))
        except Exception as error:
            log.warning("cache unavailable: %s", error)


def init_app(app: Flask) -> None:
    url = app.config.get("CACHE_REDIS_URL")
    app.extensions["calendrier_cache"] = RedisCache(url) if url else MemoryCache()


def get(key: str) -> Any:
    return current_app.extensions["calendrier_cache"].get(key)


def put(key: str, value: Any, ttl: float) -> None:
    current_app.extensions["calendrier_cache"].set(key, value, ttl)
