"""The OpenAPI document: valid OpenAPI 3, readable as a page, and true to the API.

schemathesis generates requests from the document (valid and invalid ones) for
every operation and checks each answer: never a server error, and never a
status, header, content type or body the document does not announce.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask_babel import refresh
from openapi_spec_validator import validate
from werkzeug.serving import WSGIRequestHandler, make_server

from calendrier.accounts import issue_api_token
from calendrier.api.common import BOOKING_REFERENCE, BOOKING_TOKEN, EVENT_SLUG, OCCURRENCE_ID
from calendrier.extensions import db
from calendrier.models import Booking, Occurrence
from calendrier.timeutil import utcnow

from .test_api import API, person

OPENAPI = f"{API}/openapi.json"


def test_document_is_valid_openapi_3_and_names_every_endpoint(client):
    response = client.get(OPENAPI)
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert {
        ("GET", "/api/v1/events/{slug}"),
        ("GET", "/api/v1/occurrences/{occurrence_id}"),
        ("POST", "/api/v1/occurrences/{occurrence_id}/bookings"),
        ("GET", "/api/v1/bookings/{token}"),
        ("DELETE", "/api/v1/bookings/{token}"),
        ("PATCH", "/api/v1/occurrences/{occurrence_id}"),
        ("GET", "/api/v1/occurrences/{occurrence_id}/attendees"),
        ("POST", "/api/v1/bookings/{reference}/check-in"),
        ("POST", "/api/v1/bookings/{reference}/approve"),
        ("POST", "/api/v1/bookings/{reference}/reject"),
    } <= operations
    patch = spec["paths"]["/api/v1/occurrences/{occurrence_id}"]["patch"]
    assert patch["security"] == [{"bearerAuth": []}]
    assert "401" in patch["responses"] and "403" in patch["responses"]


def test_document_says_too_many_seats_is_a_422_on_the_field(client):
    spec = client.get(OPENAPI).get_json()
    responses = spec["paths"]["/api/v1/occurrences/{occurrence_id}/bookings"]["post"]["responses"]
    assert "max_seats_per_booking" in responses["422"]["description"]
    assert "too_many_seats" not in str(spec)


def test_human_readable_page_of_the_document(client):
    page = client.get(f"{API}/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<code>POST /api/v1/occurrences/{occurrence_id}/bookings</code>" in html
    assert "Idempotency-Key" in html
    assert 'href="/api/v1/openapi.json"' in html
    assert "<script" not in html  # rendered here: nothing from a CDN, nothing to run
    refresh()  # the test's app context outlives requests: forget the language chosen
    english = client.get(f"{API}/docs?lang=en").get_data(as_text=True)
    assert "JSON API" in english


@pytest.fixture
def api_world(app, make):
    """A little programme for the generated requests to find.

    The document's examples name these: occurrence 1, the event
    ``visite-du-studio``, the booking ``K7QX-3MPA`` and its token.
    """
    organisation = make.organisation()
    event = make.event(organisation=organisation, slug=EVENT_SLUG["example"])
    occurrences = [
        make.occurrence(event=event, capacity=5, waitlist=True),
        make.occurrence(event=event, requires_approval=True),
        make.occurrence(event=event, starts_at=utcnow() - timedelta(days=2)),
        make.occurrence(),  # another organisation's
    ]
    ids = [o.id for o in occurrences]
    if ids[0] != OCCURRENCE_ID["example"]:  # PostgreSQL sequences go on after a clean-up
        db.session.expunge(occurrences[0])
        db.session.execute(
            db.update(Occurrence).where(Occurrence.id == ids[0]).values(id=OCCURRENCE_ID["example"])
        )
        db.session.commit()
        ids[0] = OCCURRENCE_ID["example"]
    client = app.test_client()
    for n, occurrence_id in enumerate(ids[:2]):
        client.post(
            f"{API}/occurrences/{occurrence_id}/bookings",
            json=person(email=f"p{n}@example.org"),
        )
    pending = db.session.scalar(db.select(Booking).where(Booking.occurrence_id == ids[1]))
    pending.reference = BOOKING_REFERENCE["example"]
    pending.token = BOOKING_TOKEN["example"]
    user = make.user(organisation=organisation)
    token = issue_api_token(user)
    db.session.commit()
    return token


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture
def live_api(app, api_world):
    """The app served on loopback, in a thread, for the schemathesis command."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_api_answers_as_its_document_says(live_api, api_world, tmp_path):
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        f"--config-file={Path(__file__).parent / 'schemathesis.toml'}",
        "run",
        f"{live_api}{OPENAPI}",
        "--checks=all",
        "--max-examples=25",
        "--seed=20261121",
        "--workers=1",
        "--generation-database=none",
        "--suppress-health-check=all",
        "--request-timeout=20",
        "--no-color",
        "--max-failures=20",
        f"--header=Authorization: Bearer {api_world}",
        f"--report-dir={tmp_path}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
