"""pretix's own settings, with mail dropped instead of sent: run by pretix's python only.

Without celery, pretix runs its tasks in the request (CELERY_TASK_ALWAYS_EAGER): the
confirmation email would be sent over SMTP inside the checkout. calendrier only queues its
email in the outbox and a separate worker sends it, so here pretix renders its email but
hands it to Django's dummy backend.
"""

from pretix.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
