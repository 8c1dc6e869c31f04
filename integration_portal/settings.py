"""All settings; the environment is read here and nowhere else (see .env.example)."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # the embedded defaults' files: SQLite database and broker
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")


def _seconds_list(name: str, default: str) -> list[int]:
    raw = env.str(name, default=default)
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError as exc:
        raise environ.ImproperlyConfigured(
            f"{name} must be a comma-separated list of whole seconds, got {raw!r}"
        ) from exc
    if not values or any(v < 0 for v in values):
        raise environ.ImproperlyConfigured(f"{name} must list at least one non-negative delay")
    return values


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# Prometheus counters of every process (gunicorn and Celery workers) meet in one directory, which
# must be set before prometheus_client is imported; settings load first in every process.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# /metrics: a bearer token when set, else only callers from these networks.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app: no CDN
    "mindbox_integration",
    "notifications",
]

MIDDLEWARE = [
    "integration_portal.probes.ProbeMiddleware",  # /healthz, /readyz: before host checks and sessions
    "integration_portal.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the admin's static files, without a separate server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "integration_portal.urls"
WSGI_APPLICATION = "integration_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded set-up runs web, worker and beat against one file: wait for locks
    # instead of failing, and take the write lock at BEGIN to avoid upgrade deadlocks.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ru"  # the admin speaks Russian to everyone; code and msgids are English
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by collectstatic in production images
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "UIS → Mindbox portal: inbound API",
    "DESCRIPTION": "Where UIS posts its HTTP notifications (calls, offline requests, taxi requests).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery: Redis when REDIS_URL is set, else an embedded broker in a SQLite file.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a crashed worker's message is redelivered; the claim makes it safe
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis: above the longest request (connect + read timeout) with a wide margin, so Redis does
# not hand an unacknowledged message to a second worker while the first still works on it.
# (kombu's SQLAlchemy transport passes these options to create_engine, so it gets none.)
# max_retries, intervals and socket timeouts: a publish gives up within seconds when Redis is
# down or frozen (by default it retries and waits for long), so the inbound endpoint still
# answers and the sweeper sends later. socket_timeout stays above the consumer's 1 s poll.
# Workers reconnect by broker_connection_max_retries, which these options do not touch.
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "visibility_timeout": 3600,
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
    if REDIS_URL
    else {}
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "sweep-due-deliveries": {
        "task": "notifications.tasks.sweep_due_deliveries",
        "schedule": env.float("DELIVERY_SWEEP_INTERVAL", default=30.0),
    },
    "prune-old-records": {
        "task": "notifications.tasks.prune_old_records",
        "schedule": 3600.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Inbound (UIS) and outbound (Mindbox)
INBOUND_MAX_BODY_BYTES = 64 * 1024
MINDBOX_ALLOWED_HOSTS = env.list(
    "MINDBOX_ALLOWED_HOSTS",
    default=["api.mindbox.ru", "api.s.mindbox.ru", "api.mindbox.cloud", "api.maestra.io"],
)
MINDBOX_REQUIRE_HTTPS = env.bool("MINDBOX_REQUIRE_HTTPS", default=True)
MINDBOX_CONNECT_TIMEOUT = env.float("MINDBOX_CONNECT_TIMEOUT", default=5.0)
MINDBOX_READ_TIMEOUT = env.float("MINDBOX_READ_TIMEOUT", default=15.0)
DELIVERY_RETRY_SCHEDULE = _seconds_list("DELIVERY_RETRY_SCHEDULE", "10,60,300,1800,7200,21600,43200,86400")
# Retries due within this many seconds ride a Celery countdown; later ones wait in the
# database for the sweeper, since long ETAs on Redis are redelivered after the visibility timeout.
DELIVERY_COUNTDOWN_MAX = env.int("DELIVERY_COUNTDOWN_MAX", default=300)
# How long a worker holds a delivery it is sending; a crashed worker's claim expires after it.
DELIVERY_CLAIM_SECONDS = env.int("DELIVERY_CLAIM_SECONDS", default=120)
# How long a queued message is trusted to arrive; after that the sweeper queues the delivery
# again (a flushed or restarted Redis, a worker killed with messages in hand).
DELIVERY_QUEUE_LEASE = env.int("DELIVERY_QUEUE_LEASE", default=120)
# 401/403 answers in a row that pause an integration's sending until a manager resumes it.
DELIVERY_PAUSE_AFTER = env.int("DELIVERY_PAUSE_AFTER", default=3)
# Temporary failures (5xx, timeouts) in a row after which an integration backs off: its
# deliveries wait, without spending attempts, for 5 s, doubling up to DELIVERY_BACKOFF_MAX.
DELIVERY_BACKOFF_AFTER = env.int("DELIVERY_BACKOFF_AFTER", default=5)
DELIVERY_BACKOFF_MAX = env.int("DELIVERY_BACKOFF_MAX", default=300)
# Events and attempts older than this are pruned (an event waits while a delivery is unfinished).
RETENTION_DAYS = env.int("RETENTION_DAYS", default=30)
# Public base URL shown in the admin's set-up block (the inbound URLs UIS must call).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")

# Logs: JSON lines with LOG_FORMAT=json (production), plain text otherwise; both carry the
# request id and mask phone numbers and e-mails. Celery logs through the same handlers.
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
if LOG_FORMAT not in ("console", "json"):
    raise environ.ImproperlyConfigured(f"LOG_FORMAT must be console or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "integration_portal.logs.ContextFilter"}},
    "formatters": {
        "console": {
            "()": "integration_portal.logs.ConsoleFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "integration_portal.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
