"""gunicorn's settings, read from the working directory, so the production command stays
`gunicorn integration_portal.wsgi:application`. Each has an environment override; the defaults
are what `make bench` found best on a 2-core machine (README, "Performance")."""

import os
from pathlib import Path

import environ

# The settings read .env too, but only once gunicorn has read this file.
environ.Env.read_env(Path(__file__).resolve().with_name(".env"))

# Loopback unless told otherwise; the image sets GUNICORN_BIND=0.0.0.0:8000.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# gunicorn reads WEB_CONCURRENCY itself too; named here so the default is the project's.
# Three processes of two threads (gthread): on two cores, `make bench` took about 15 % more
# events a second than four sync workers, at less CPU an event (fewer processes contending for
# the cores, kept-alive connections served), and a connection that has sent nothing yet waits in
# the poller, not in a thread.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# A request waits on PostgreSQL and Redis only; one taking this long is stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Load the app once in the master: workers start fast and share its memory.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() == "true"


def post_worker_init(worker: object) -> None:
    """Warm a new worker before it takes requests (integration_portal.wsgi.warm)."""
    from integration_portal.wsgi import warm

    warm()


# No control socket (gunicorn 25.1+): the portal does not use gunicornc, and every gunicorn on a
# host would otherwise share one socket path in the user's home.
control_socket_disable = True
