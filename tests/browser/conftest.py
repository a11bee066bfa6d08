"""Browser tests: the app served on a loopback port, driven by Debian's Chromium.

- ``live_server``: the test's app (same database as the test) served by a real
  WSGI server in a thread on a free 127.0.0.1 port. ``live_server.url("/events")``
  first ends the test's own transaction, so the server can write (SQLite takes
  the write lock at BEGIN): read what you need from the ORM *before* calling it.
- ``browser`` (one per worker), ``page`` (desktop) and ``phone`` (a 390 by 844
  touch screen): Playwright for Python on ``/usr/bin/chromium``, never a
  downloaded browser, French by default like most visitors.
- ``axe``: ``axe(page)`` runs axe-core (from the npm registry, ``package.json``)
  in the page and fails on any serious or critical violation of WCAG 2.1 A/AA.

Every test in this folder carries the ``browser`` marker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from calendrier.extensions import db

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CALENDRIER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def ensure_node_modules() -> Path:
    """``make test`` runs ``npm ci``; a bare ``pytest`` does it here if it was not done."""
    axe = ROOT / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed for the browser tests (axe-core): apt-get install npm")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True, capture_output=True
        )
    return axe


@pytest.fixture(scope="session")
def axe_source() -> str:
    return ensure_node_modules().read_text(encoding="utf-8")


@pytest.fixture
def app_config(app_config):
    # Real forms (CSRF on), cookies over plain http on loopback.
    app_config.update(
        WTF_CSRF_ENABLED=True,
        PUBLIC_URL="http://127.0.0.1",
        SESSION_COOKIE_SECURE=False,
        REMEMBER_COOKIE_SECURE=False,
    )
    return app_config


def closing_every_body(app):
    """The app, with each response body read whole and closed before it is sent.

    werkzeug's development server closes a body (a static file's, say) only after draining
    the request socket, and that read raises when the browser has reset the connection (a
    page left while its CSS was on the way): the file was then left open, and its
    ResourceWarning failed the test at its teardown. gunicorn closes it in any case.
    """

    def wsgi(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class LiveServer:
    def __init__(self, app):
        ensure_node_modules()  # the pages link fonts and CSS served from node_modules
        self.app = app
        self.server = make_server("127.0.0.1", 0, closing_every_body(app), threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        app.config["PUBLIC_URL"] = self.base
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        # End the test's transaction so that the server thread may write.
        db.session.commit()
        return self.base + path

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()
    db.session.rollback()


@pytest.fixture(scope="session")
def playwright_instance():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # the same deadline for expect(...) as for actions
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _context(browser, **options):
    context = browser.new_context(
        locale="fr-FR",
        timezone_id="Europe/Paris",
        extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"},
        **options,
    )
    # Deadlines, not delays: every wait ends as soon as its condition holds; a busy machine
    # (two suites side by side) may need far longer than a quiet one.
    context.set_default_timeout(60_000)
    # Only loopback: anything else (a CDN, a font service) is refused and noticed.
    blocked: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", guard)
    context.blocked_requests = blocked
    return context


@pytest.fixture
def page(browser, live_server):
    context = _context(browser, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    blocked = context.blocked_requests
    context.close()
    assert not blocked, f"the page tried to reach outside: {blocked}"


@pytest.fixture
def phone(browser, live_server):
    context = _context(browser, **PHONE)
    page = context.new_page()
    yield page
    blocked = context.blocked_requests
    context.close()
    assert not blocked, f"the page tried to reach outside: {blocked}"


class Axe:
    def __init__(self, source: str):
        self.source = source

    def run(self, page) -> list[dict]:
        """The serious and critical violations on the page as it is now."""
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            # evaluate() is not subject to the page's CSP, unlike an injected <script>.
            page.evaluate(self.source)
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]

    def __call__(self, page) -> None:
        violations = self.run(page)
        summary = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5],
            }
            for v in violations
        ]
        assert not violations, f"axe-core on {page.url}:\n" + json.dumps(summary, indent=2)


@pytest.fixture
def axe(axe_source) -> Axe:
    return Axe(axe_source)
