"""The production mail set-up: a submission server with TLS and a login (README, port 587).

A real aiosmtpd server on loopback, with a certificate made for the test by ``openssl``:
the worker talks TLS (STARTTLS, or TLS from the first byte on port 465), checks the
server's certificate before it logs in, and an email that cannot go is kept, never lost.
"""

from __future__ import annotations

import ssl
import subprocess

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import OutboxMessage

from .smtp import SMTPServer, point_mail_at

LOGIN, PASSWORD = "agenda@example.org", "s3cret-of-the-cluster"


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (the server's name as the app knows it)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


class Logins:
    """The server's side of AUTH: accepts LOGIN/PASSWORD only, and keeps every attempt."""

    def __init__(self):
        self.tried: list[tuple[bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.tried.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (LOGIN.encode(), PASSWORD.encode())
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def submission_server(context, logins, implicit_tls=False) -> SMTPServer:
    """STARTTLS, then a login (AUTH PLAIN: smtplib would try a refused password once per
    mechanism offered), required before any mail; or TLS from the first byte, without
    AUTH (aiosmtpd offers it only after STARTTLS)."""
    if implicit_tls:
        return SMTPServer(ssl_context=context).start()
    return SMTPServer(
        tls_context=context,
        require_starttls=True,
        authenticator=logins,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN"],
    ).start()


def configure(app, server, cert, *, ssl_from_start=False, password=PASSWORD):
    """The app's mail set-up for ``server``: the README's (STARTTLS and a login), or TLS
    from the first byte; ``cert``: the authority it trusts (None: the system's)."""
    point_mail_at(app, server.port)
    state = app.extensions["mail"]
    state.use_tls, state.use_ssl = not ssl_from_start, ssl_from_start
    state.username, state.password = (None, None) if ssl_from_start else (LOGIN, password)
    app.config["MAIL_CA_FILE"] = str(cert) if cert else ""


def one_booking(make) -> None:
    """A booking, whose confirmation waits in the outbox."""
    occurrence = make.occurrence(capacity=5)
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=1))
    db.session.commit()


def rows() -> list[tuple[str, str]]:
    """Each email's status and error (read in a transaction of its own)."""
    query = select(OutboxMessage.status, OutboxMessage.last_error).order_by(OutboxMessage.id)
    found = db.session.execute(query).all()
    db.session.commit()
    return [(status, error or "") for status, error in found]


@pytest.mark.parametrize("ssl_from_start", [False, True], ids=["starttls-587", "tls-465"])
def test_a_confirmation_goes_through_a_submission_server_with_tls_and_a_login(
    app, make, certificate, ssl_from_start
):
    cert, context = certificate
    logins = Logins()
    server = submission_server(context, logins, implicit_tls=ssl_from_start)
    try:
        configure(app, server, cert, ssl_from_start=ssl_from_start)
        one_booking(make)
        report = outbox.deliver()
    finally:
        server.stop()
    assert report.sent == 1, rows()
    assert logins.tried == ([] if ssl_from_start else [(LOGIN.encode(), PASSWORD.encode())])
    [message] = server.messages
    assert message["To"] == "ana@example.org"
    assert rows() == [("sent", "")]


def test_a_wrong_password_keeps_the_email_until_the_set_up_is_mended(app, make, certificate):
    cert, context = certificate
    logins = Logins()
    server = submission_server(context, logins)
    try:
        configure(app, server, cert, password="an-old-password")
        one_booking(make)
        report = outbox.deliver()
        assert report.sent == 0 and report.failed == 1
        [(status, error)] = rows()
        assert status == "failed" and "535" in error, (
            error
        )  # the server's answer, for `mail status`
        assert server.messages == []
        # the password mended, `mail retry` sends it, once
        configure(app, server, cert)
        assert outbox.retry_failed() == 1
        assert outbox.deliver().sent == 1
    finally:
        server.stop()
    assert len(server.messages) == 1
    assert logins.tried == [
        (LOGIN.encode(), b"an-old-password"),
        (LOGIN.encode(), PASSWORD.encode()),
    ]


@pytest.mark.parametrize("ssl_from_start", [False, True], ids=["starttls-587", "tls-465"])
def test_a_server_whose_certificate_is_not_trusted_never_gets_the_password(
    app, make, certificate, ssl_from_start, runner
):
    _cert, context = certificate
    logins = Logins()
    server = submission_server(context, logins, implicit_tls=ssl_from_start)
    try:
        # no MAIL_CA_FILE: the system's authorities, which never signed this certificate
        configure(app, server, None, ssl_from_start=ssl_from_start)
        one_booking(make)
        report = outbox.deliver()
    finally:
        server.stop()
    assert report.sent == 0 and report.failed == 1
    assert logins.tried == []  # nothing said to a server that could be anyone
    [(status, error)] = rows()
    assert status == "queued" and "CERTIFICATE_VERIFY_FAILED" in error  # tried again later
    assert server.messages == []
    # what the operator reads
    said = runner.invoke(args=["mail", "status"]).output
    assert "queued: 1" in said and "1 waiting to retry" in said
    assert "last error: SSLCertVerificationError" in said and "CERTIFICATE_VERIFY_FAILED" in said


def test_a_server_that_wants_tls_refuses_a_worker_set_up_without_it(app, make, certificate):
    cert, context = certificate
    logins = Logins()
    server = submission_server(context, logins)
    try:
        configure(app, server, cert)
        app.extensions["mail"].use_tls = False
        one_booking(make)
        report = outbox.deliver()
    finally:
        server.stop()
    assert report.sent == 0
    assert logins.tried == []
    [(status, error)] = rows()
    assert status in ("queued", "failed") and error
    assert server.messages == []
