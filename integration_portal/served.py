"""The WSGI application as `python -m integration_portal.web` (granian) serves it: warmed
before its first request, and without the process's environment in request.META."""

import os

from integration_portal.web import WSGIApp, without_process_environment


def _warmed() -> WSGIApp:
    """Django's application with the URLconf imported and the database pool opened, which made a
    process's first request take about 270 ms (gunicorn.conf.py does the same for gunicorn)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.urls import get_resolver

    wsgi = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018 - imports every view module
    try:
        connection.ensure_connection()
    except Exception:  # noqa: S110 - the database may be down; /readyz and the 503 path say so
        pass
    finally:
        connection.close()  # back to this process's pool
    return wsgi


application = without_process_environment(_warmed())
