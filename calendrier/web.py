"""What every door shares: error pages, security headers, health check, proxies."""

import contextlib
import logging

from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter

from .extensions import db

log = logging.getLogger(__name__)

# Pages load only their own stylesheet, scripts and images; nothing may frame them.
# A view that needs more (e.g. interactive API docs) sets its own header, which wins.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# Pages that show one person's data (the attendee's token pages, the organiser area,
# the API's booking resources): never kept by a shared cache, never sent as a Referer to
# another site. Same-site forms still send it: Flask-WTF checks it over https.
PRIVATE_PATHS = ("/bookings/", "/manage", "/api/v1/bookings")
HSTS = "max-age=31536000"


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_http_error(error: HTTPException):
    # Keep the error's own headers (Allow on a 405, Retry-After on a 429…).
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    if _wants_json():
        body = {
            "error": (error.name or "error").lower().replace(" ", "_"),
            "message": error.description,
        }
        return body, error.code, headers
    messages = {
        400: _("The request could not be understood. Please go back and try again."),
        403: _("You do not have access to this page."),
        404: _("This page does not exist, or no longer does."),
        405: _("This action is not allowed here."),
        413: _("What was sent is too large (at most 10 MB). Please send a smaller file."),
        429: _("Too many requests. Please wait a moment and try again."),
    }
    message = messages.get(error.code or 500, _("Something went wrong on our side."))
    return (
        render_template("errors/error.html", code=error.code, message=message),
        error.code,
        headers,
    )


def handle_server_error(error: Exception):
    db.session.rollback()
    if _wants_json():
        return {"error": "server_error", "message": "Internal server error"}, 500
    message = _("Something went wrong on our side. Nothing was saved; please try again.")
    return render_template("errors/error.html", code=500, message=message), 500


def handle_database_unavailable(error: Exception):
    """The database is restarting or unreachable: say so, and that nothing was saved.

    The transaction was rolled back by the database itself; the pool (``pool_pre_ping``)
    replaces dead connections on the next request, so the app recovers on its own.
    """
    log.warning("database unavailable: %s", error)
    with contextlib.suppress(Exception):
        db.session.rollback()
    headers = {"Retry-After": "5"}
    if _wants_json():
        return {"error": "unavailable", "message": "Service briefly unavailable"}, 503, headers
    message = _("The service is briefly unavailable. Nothing was saved; please try again.")
    return render_template("errors/error.html", code=503, message=message), 503, headers


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Content-Security-Policy", CSP),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=(), payment=()"),
)


def security_headers(app: Flask):
    """The after-request hook, with its headers chosen once for the app's configuration."""
    defaults = SECURITY_HEADERS
    if app.config["PUBLIC_URL"].startswith("https://"):
        defaults = (*defaults, ("Strict-Transport-Security", HSTS))

    def add_security_headers(response):
        headers = response.headers
        if request.path.startswith(PRIVATE_PATHS):
            headers.setdefault("Cache-Control", "private, no-store")
            headers["Referrer-Policy"] = "same-origin"
        present = {key.lower() for key in headers.keys()}  # noqa: SIM118 - Headers' own keys
        for key, value in defaults:
            if key.lower() not in present:
                headers.add(key, value)
        if "frame-ancestors 'none'" in headers["Content-Security-Policy"]:
            headers.setdefault("X-Frame-Options", "DENY")  # /embed says who may frame it
        return response

    return add_security_headers


def healthz():
    """One round trip on a pooled connection, without the ORM's session around it."""
    with db.engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer built once instead of per request."""

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = getattr(self, "_signer", None)
        if cached is None or cached[0] != key:
            cached = (key, super().get_signing_serializer(app))
            self._signer = cached
        return cached[1]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def limit_writes_only(app: Flask, limiter) -> None:
    """Every rate limit of the app is on a POST (booking, login, password reset): reading
    skips Flask-Limiter's per-request work altogether. A limit on a GET would need this."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit
    if check not in hooks:
        return

    def check_writes():
        if request.method not in SAFE_METHODS:
            return check()
        return None

    hooks[hooks.index(check)] = check_writes


def trust_proxies(app: Flask) -> None:
    """Behind N reverse proxies / load balancers, take the client address from them.

    Rate limits count per client address: without this, every request seems to come
    from the load balancer. Never set it higher than the real number of proxies, or
    clients could choose their own address with an ``X-Forwarded-For`` header.
    """
    count = int(app.config.get("TRUSTED_PROXIES") or 0)
    if count > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


class TokenConverter(BaseConverter):
    """An attendee's secret as ``secrets.token_urlsafe`` writes it."""

    regex = r"[A-Za-z0-9_-]{1,64}"


class SlugConverter(BaseConverter):
    """A slug as ``catalogue.slugify`` writes it."""

    regex = r"[a-z0-9]+(?:-[a-z0-9]+)*"


class ReferenceConverter(BaseConverter):
    """A booking reference, ABCD-EF23 (lower case too: it is read out by phone)."""

    regex = r"[A-Za-z0-9]{4}-[A-Za-z0-9]{4}"


# What a path names must have the shape of what it names: anything else is a 404 from
# the router, before it reaches SQL (PostgreSQL refuses a NUL byte even in a lookup).
CONVERTERS = {"token": TokenConverter, "slug": SlugConverter, "reference": ReferenceConverter}


def init_app(app: Flask) -> None:
    app.url_map.converters.update(CONVERTERS)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(500, handle_server_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(InterfaceError, handle_database_unavailable)
    app.after_request(security_headers(app))
    app.session_interface = SessionInterface()
    app.add_url_rule("/healthz", "healthz", healthz)
    trust_proxies(app)
