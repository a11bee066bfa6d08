"""calendrier: an event calendar and booking service for cultural and training venues."""

from pathlib import Path

from flask import Flask

from .config import configure
from .extensions import babel, csrf, db, limiter, login_manager, mail, migrate
from .resources import resource_dir


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder="static",
    )
    configure(app, test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    mail.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from . import accounts, cache, database, i18n, web  # noqa: F401 - accounts: the user loader

    # Each module that writes a kind of email registers its renderer when imported.
    from .domain import newsletter, notifications, outbox, training_mail  # noqa: F401

    database.init_app(app)
    cache.init_app(app)
    outbox.init_app(app)  # delivery right after the commit, when configured
    i18n.init_app(app, babel)
    web.init_app(app)
    web.limit_writes_only(app, limiter)

    from .api import init_app as init_api
    from .cli import register_commands
    from .feeds.views import bp as feeds_bp
    from .manage.views import bp as manage_bp
    from .outreach.views import bp as outreach_bp
    from .public.site import bp as site_bp
    from .public.views import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(site_bp)
    app.register_blueprint(feeds_bp)
    app.register_blueprint(manage_bp, url_prefix="/manage")
    app.register_blueprint(outreach_bp)
    init_api(app)
    register_commands(app)
    return app
