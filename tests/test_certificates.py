"""Certificates of attendance: the PDF read back with pdftotext, who may have one, the zip,
and `flask trainings certificates` emailing each one once."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile

import pytest
import qrcode
from sqlalchemy import select

from calendrier.domain import certificates, outbox, trainings
from calendrier.domain import feedback as opinions
from calendrier.domain.settings import update_settings
from calendrier.extensions import db
from calendrier.models import Event, OutboxMessage

from .test_trainings import book, five_days, log_in, move_into_the_past


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext is missing: apt-get install poppler-utils (.ci/run does)"
    done = subprocess.run(
        [pdftotext, "-layout", "-", "-"], input=data, capture_output=True, timeout=60, check=True
    )
    return " ".join(done.stdout.decode().split())


def pdf_info(data: bytes) -> str:
    done = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, timeout=60, check=True)
    return done.stdout.decode()


@pytest.fixture
def ended(make):
    """A five-day training over: Ana present at 7 half-days of 10, Bob at none."""
    occurrence = five_days(make, event=make.event(kind="training", title="Écrire pour l'œil"))
    ana = book(occurrence, name="Ana Martin")
    bob = book(occurrence, email="bob@example.org", name="Bob Durand", locale="en")
    for position in range(7):
        trainings.mark(ana.id, position)
    move_into_the_past(occurrence)
    return occurrence, ana, bob


@pytest.mark.config(SITE_NAME="Agenda de La Cartoucherie")
def test_the_certificate_states_trainee_training_dates_and_hours(client, ended):
    occurrence, ana, _bob = ended
    response = client.get(f"/bookings/{ana.token}/certificate.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Cache-Control"] == "private, no-store"
    text = pdf_text(response.data)
    assert "Attestation de présence" in text
    assert "Agenda de La Cartoucherie" in text
    assert "Ana Martin" in text and "Écrire pour l'œil" in text
    assert "24,5 heures" in text and "35 heures" in text  # 7 half-days of 3.5 hours
    assert occurrence.event.organisation.name in text
    assert "absent" in text and "présent" in text  # sitting by sitting
    info = pdf_info(response.data)
    assert "Attestation de présence" in info  # the document's title


def test_the_certificate_is_in_the_trainees_language(client, ended):
    occurrence, _ana, bob = ended
    trainings.mark(bob.id, 0, now=occurrence.sittings[0].starts_at)
    text = pdf_text(client.get(f"/bookings/{bob.token}/certificate.pdf").data)
    assert "Certificate of attendance" in text
    assert "3.5 of 35 hours planned" in text


def test_no_certificate_before_the_end_or_for_someone_never_there(client, make, ended):
    _occurrence, _ana, bob = ended
    absent = client.get(f"/bookings/{bob.token}/certificate.pdf")
    assert absent.status_code == 403
    assert "marked present" in absent.get_data(as_text=True) or "présent" in absent.get_data(
        as_text=True
    )
    coming = five_days(make)
    carla = book(coming, email="carla@example.org")
    trainings.mark(carla.id, 0)
    early = client.get(f"/bookings/{carla.token}/certificate.pdf")
    assert early.status_code == 403
    assert client.get("/bookings/" + "x" * 43 + "/certificate.pdf").status_code == 404


def test_organisers_download_one_or_all_of_their_own_only(client, make, ended):
    occurrence, ana, bob = ended
    log_in(client, make, occurrence.event.organisation)
    one = client.get(f"/manage/bookings/{ana.reference}/certificate.pdf")
    assert one.status_code == 200 and "Ana Martin" in pdf_text(one.data)
    assert client.get(f"/manage/bookings/{bob.reference}/certificate.pdf").status_code == 404
    archive = client.get(f"/manage/occurrences/{occurrence.id}/certificates.zip")
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert names == [certificates.filename(ana)]
    page = client.get(f"/manage/occurrences/{occurrence.id}/feedback").get_data(as_text=True)
    assert "Ana Martin" in page

    other = five_days(make)
    stranger = book(other, email="z@example.org")
    # another organisation's booking reference is not found, as a missing one (issue 17)
    assert client.get(f"/manage/bookings/{stranger.reference}/certificate.pdf").status_code == 404
    assert client.get(f"/manage/occurrences/{other.id}/certificates.zip").status_code == 403


def test_the_command_emails_each_certificate_once(runner, smtp, ended):
    _occurrence, ana, _bob = ended
    first = runner.invoke(args=["trainings", "certificates"])
    assert first.exit_code == 0 and "queued 1 certificate(s)" in first.output
    outbox.deliver_all()
    second = runner.invoke(args=["trainings", "certificates"])
    assert "queued 0 certificate(s)" in second.output
    outbox.deliver_all()
    sent = [m for m in smtp.messages if "attestation" in m["Subject"].lower()]
    assert [m["To"] for m in sent] == [ana.email]
    body = sent[0].get_body(("plain",)).get_content()
    assert f"/bookings/{ana.token}/certificate.pdf" in body
    kinds = db.session.scalars(select(OutboxMessage.kind)).all()
    assert kinds.count("certificate") == 1


def test_attendee_page_links_the_certificate_once_it_exists(client, ended):
    _occurrence, ana, bob = ended
    assert "certificate.pdf" in client.get(f"/bookings/{ana.token}").get_data(as_text=True)
    assert "certificate.pdf" not in client.get(f"/bookings/{bob.token}").get_data(as_text=True)


def test_the_demo_training_has_a_past_session_filled_in(runner, client):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    event = db.session.scalar(select(Event).where(Event.slug == "formation-storyboard"))
    past, coming = event.occurrences[0], event.occurrences[-1]
    assert trainings.has_ended(past) and not trainings.has_ended(coming)
    assert len(past.sittings) == len(coming.sittings) == 10
    assert trainings.hours_planned(past) == 35
    holders = certificates.holders(past)
    assert len(holders) >= 4  # everyone who came has one; the no-show has none
    assert len(holders) < len([b for b in past.bookings if b.status == "confirmed"])
    text = pdf_text(client.get(f"/bookings/{holders[0].token}/certificate.pdf").data)
    assert "Attestation de présence" in text and holders[0].name in text
    results = opinions.results(occurrence_id=past.id)
    assert results.count >= 4 and 1 <= results.average <= 5


def test_the_cluster_logo_is_drawn_with_its_alternative_text(app, client, ended, tmp_path):
    logo = io.BytesIO()
    qrcode.make("La Cartoucherie").save(logo)
    update_settings(name="Agenda de La Cartoucherie", logo=logo.getvalue())  # as an admin does
    _occurrence, ana, _bob = ended
    data = client.get(f"/bookings/{ana.token}/certificate.pdf").data
    info = pdf_info(data)
    assert "Tagged:          yes" in info  # the logo is a tagged figure
    assert b"/Alt" in data
    assert b"/Lang (fr)" in data
    images = subprocess.run(
        ["pdfimages", "-list", "-"], input=data, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    assert len(images.strip().splitlines()) >= 3  # a header, a rule, the logo
