"""Entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi …``."""

from calendrier import create_app

app = create_app()
