"""`python -m integration_portal.web`: the portal's web server, granian, on the settings below
(from the environment, and `.env` as the settings read it).

granian reads and answers HTTP in Rust, outside the interpreter, and holds clients that are slow
to send their headers there; Django runs on WEB_THREADS threads in each of WEB_WORKERS processes
(a request's body is read on Django's thread: the proxy in front buffers slow bodies).
Under the bench's load it costs the web tier a seventh to a third less CPU an event than gunicorn
(README, "Performance"). `gunicorn integration_portal.wsgi:application` with gunicorn.conf.py
still serves the same application, for those whose scripts run it.

- WEB_BIND: host:port to listen on (127.0.0.1:8000).
- WEB_WORKERS: processes (2); WEB_THREADS: Django's threads in each (2).
- WEB_GRACEFUL_TIMEOUT: seconds a stopping process may take to finish its requests (30).
- WEB_HEADER_TIMEOUT: seconds a client may take to send its request's headers (10).
"""

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import environ

ROOT = Path(__file__).resolve().parent.parent
TARGET = "integration_portal.served:application"


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {value!r}") from None
    if number < 1:
        raise SystemExit(f"{name} must be 1 or more, got {number}")
    return number


def _bind() -> tuple[str, int]:
    value = os.environ.get("WEB_BIND", "127.0.0.1:8000")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"WEB_BIND must be host:port, such as 0.0.0.0:8000, got {value!r}")
    return host.strip("[]"), int(port)


def _check_settings() -> None:
    """Load the settings and the apps here, before any process is started: a missing secret or
    a bad setting stops the server with its message, where granian would start process after
    process that each fail the same way."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_portal.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"the portal cannot start: {exc}") from None


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    environ.Env.read_env(ROOT / ".env")
    host, port = _bind()
    workers, threads = _int("WEB_WORKERS", 2), _int("WEB_THREADS", 2)
    _check_settings()
    Granian(
        TARGET,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        runtime_threads=1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=_int("WEB_HEADER_TIMEOUT", 10) * 1000),
        respawn_failed_workers=True,
        workers_kill_timeout=_int("WEB_GRACEFUL_TIMEOUT", 30),
    ).serve()


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# What granian sets for every request itself: never the process's. (CONTENT_TYPE, CONTENT_LENGTH
# and REMOTE_PORT it sets only sometimes, so a process variable of that name is taken out.)
CGI = frozenset(
    {"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"}
    | {"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR"}
)


def without_process_environment(app: WSGIApp) -> WSGIApp:
    """granian starts each request's environ from the process's environment variables: without
    this, request.META would carry DATABASE_URL, keys and all to whatever reads or reports it,
    and a variable named like a header (HTTP_PROXY) would pass for one the client sent. What the
    request itself brings replaces those values, and is kept (unless it equals the process's).

    Made when the served module is imported, which granian does just before it copies the
    environment, with nothing in between: the same variables, taken once, before any request."""
    process = {key: value for key, value in os.environ.items() if key not in CGI}

    def served(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in process.keys() & environ.keys():
            if environ[key] == process[key]:
                del environ[key]
        return app(environ, start_response)

    return served


if __name__ == "__main__":
    main()
