import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")

application = get_wsgi_application()


def warm() -> None:
    """Ready a web process before its first request: the URLconf imported and the database pool
    opened on first use made that request take about 270 ms. Each server calls it in each of its
    processes (gunicorn.conf.py, integration_portal.served)."""
    from django.db import connection
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    try:
        connection.ensure_connection()
    except Exception:  # noqa: S110 - the database may be down; /readyz and the 503 path say so
        pass
    finally:
        connection.close()  # back to this process's pool
