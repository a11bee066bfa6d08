"""The site as an operator installs it, and the language it says it speaks.

``pip install .`` (a wheel, not editable) into a fresh environment, nothing compiled by
hand, run from elsewhere than the checkout: ``flask db upgrade`` and gunicorn serve French
pages, with their templates, migrations, catalogues and fonts from the installed package.
And ``<html lang>`` is always the language of the text: a language without a compiled
catalogue is shown in English and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import OutboxMessage

from .servers import app_env, free_port, get

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def fresh_clone(target: Path) -> Path:
    """The checkout's files as a clone has them (tracked or new, nothing ignored: no .mo)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "node_modules").symlink_to(ROOT / "node_modules")  # what `npm ci` gives
    assert not list(target.glob("**/*.mo"))
    return target


def run(args: list[str], **kwargs) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_wheel_installed_elsewhere_serves_french_pages(tmp_path, database_uri):
    clone = fresh_clone(tmp_path / "clone")
    wheels = tmp_path / "wheels"
    # offline, with this environment's setuptools and Babel (the build requirements)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(clone)])
    [wheel] = wheels.glob("calendrier-*.whl")
    site = tmp_path / "site"
    run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = database_uri if PG else f"sqlite:///{tmp_path / 'installed.db'}"
    env = app_env(uri) | {"PYTHONPATH": str(site)}
    located = [sys.executable, "-c", "import calendrier, wsgi; print(calendrier.__file__)"]
    assert run(located, cwd=elsewhere, env=env).strip() == str(site / "calendrier" / "__init__.py")
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=elsewhere, env=env)

    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"],
        cwd=elsewhere,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        status, _headers, body = get(port, "/")
        page = body.decode()
        assert status == 200
        assert '<html lang="fr">' in page
        assert "À l'affiche" in page
        status, _headers, body = get(port, "/manage/login")
        assert status == 200 and "Mot de passe" in body.decode()
        status, _headers, body = get(port, "/?lang=en")
        assert '<html lang="en">' in body.decode() and "À l'affiche" not in body.decode()
        assert get(port, "/vendor/fonts/atkinson-hyperlegible-400-normal.woff2")[0] == 200
        assert get(port, "/static/css/app.css")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


PG = os.environ.get("CALENDRIER_TEST_DATABASE_URL", "")


@pytest.mark.config(LANGUAGES=["fr", "en", "de"])
def test_a_language_without_its_catalogue_is_english_and_says_so(client, make):
    """Asked in German, which has no catalogue: English text, so lang="en", pages and emails."""
    page = client.get("/?lang=de").get_data(as_text=True)
    assert '<html lang="en">' in page and "What's on" in page
    french = client.get("/?lang=fr").get_data(as_text=True)
    assert '<html lang="fr">' in french and "À l'affiche" in french

    occurrence = make.occurrence()
    request = rules.BookingRequest(name="Ana", email="ana@example.org", seats=1, locale="fr")
    booking = rules.book(occurrence.id, request).booking
    booking.locale = "de"  # as if German had been offered when the booking was made
    db.session.commit()
    rules.resend_booking_link(booking.id)
    rows = db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id))
    first, second = (outbox.render(row) for row in rows)  # as the worker renders them
    assert '<html lang="fr">' in first.html and "Réservation" in first.subject
    assert '<html lang="en">' in second.html and "Your booking" in second.subject
