"""The WSGI application as `python -m integration_portal.web` (granian) serves it: warmed
before its first request, and without the process's environment in request.META."""

from integration_portal.web import without_process_environment
from integration_portal.wsgi import application as django_application
from integration_portal.wsgi import warm

warm()
application = without_process_environment(django_application)
