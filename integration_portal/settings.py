"""All settings; the environment is read here and nowhere else (see .env.example)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

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


DEV_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 - local only: `check --deploy` refuses it
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
# The image (and so every compose container) sets REQUIRE_SECRETS=true: no process starts without
# DJANGO_SECRET_KEY and FIELD_ENCRYPTION_KEY of its own, so no container signs with the published
# development key or makes an encryption key of its own that the others cannot read. `make run`
# leaves it off and keeps the embedded defaults.
REQUIRE_SECRETS = env.bool("REQUIRE_SECRETS", default=False)
if REQUIRE_SECRETS and SECRET_KEY in ("", DEV_SECRET_KEY):
    raise environ.ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a secret of your own (REQUIRE_SECRETS is on); make one with "
        'python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# --- HTTPS: DJANGO_HTTPS=true in production (`check --deploy` then passes): http is redirected to
# https, cookies are sent over https only, and browsers are told to use nothing else (HSTS).
# Off by default: `make run` serves plain http on localhost.
HTTPS = env.bool("DJANGO_HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
# Probes and scrapes come over plain http from inside the network (the probes are answered
# before SecurityMiddleware anyway; a redirect would not protect a token already sent).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Behind a TLS-terminating proxy: the header it sets to "https" on https requests, e.g.
# X-Forwarded-Proto. Set it only when the proxy always sets or strips that header.
_proxy_ssl_header = env.str("DJANGO_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
# Origins (scheme://host[:port]) allowed to post forms besides the admin's own address.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("DJANGO_SESSION_COOKIE_AGE", default=8 * 3600)  # an admin session: a working day

# Prometheus counters of every process (gunicorn and Celery workers) meet in one directory, which
# must be set before prometheus_client is imported; settings load first in every process.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# /metrics: a bearer token when set, else only callers from these networks.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])

INSTALLED_APPS = [
    "integration_portal.apps.PortalAdminConfig",  # django.contrib.admin with the portal's site (its first page)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app: no CDN
    "axes",  # admin login throttling
    "integration_portal.apps.PortalConfig",  # the deployment checks
    "mindbox_integration",
    "notifications",
]

MIDDLEWARE = [
    "integration_portal.probes.ProbeMiddleware",  # /healthz, /readyz: before host checks and sessions
    "integration_portal.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "notifications.api.middleware.InboundMiddleware",  # UIS's events: none of the middleware below
    "whitenoise.middleware.WhiteNoiseMiddleware",  # the admin's static files, without a separate server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "integration_portal.csp.AdminContentSecurityPolicyMiddleware",  # no inline scripts or styles
    "axes.middleware.AxesMiddleware",  # turns a locked-out login into the lockout page
]

ROOT_URLCONF = "integration_portal.urls"
# Where a login goes when its `next=` is refused (another site) or absent: the admin, the portal's
# only pages (Django's default, /accounts/profile/, is no page here).
LOGIN_REDIRECT_URL = "admin:index"
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
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A pool of connections per process, shared by the worker's threads: opening a connection per
    # request or task (Django's default, and Celery closes it after every task) cost more than the
    # event's own queries. A connection idle for DB_POOL_CHECK_SECONDS is checked before it is
    # handed out, so a restarted database costs no request (integration_portal/postgres/).
    # DB_POOL_MAX_SIZE covers the worker's threads, which hold one each while they send.
    DATABASES["default"]["ENGINE"] = "integration_portal.postgres"
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DB_POOL_MAX_SIZE", default=40),
        # Seconds to wait for a connection: with the database down, UIS gets its 503 after this.
        "timeout": env.float("DB_POOL_TIMEOUT", default=3.0),
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # checked by our backend, now and then
DB_POOL_CHECK_SECONDS = env.float("DB_POOL_CHECK_SECONDS", default=1.0)
if DB_POOL_CHECK_SECONDS < 0:
    raise environ.ImproperlyConfigured("DB_POOL_CHECK_SECONDS must be 0 or more")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Admin login throttling (django-axes; attempts kept in the database): one username from one
# address is locked out after AXES_FAILURE_LIMIT failed logins within the cool-off time, for
# AXES_COOLOFF_MINUTES after the last attempt; a successful login resets the count.
# `manage.py axes_reset_username <username>` (or the admin's access attempts) unlocks earlier.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
_cooloff_minutes = env.int("AXES_COOLOFF_MINUTES", default=15)
if AXES_FAILURE_LIMIT < 1 or _cooloff_minutes < 1:
    raise environ.ImproperlyConfigured("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be positive")
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "integration_portal.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "integration_portal.security.client_ip"
# Proxies in front of the app that append the caller's address to X-Forwarded-For (0: none, the
# caller is REMOTE_ADDR). The login lock-out, /metrics' networks and the site script's per-address
# rate limit read the caller by it (security.client_ip). Too low, every caller has a proxy's
# address (`check --deploy` refuses that behind a TLS proxy); too high, callers pick their address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise environ.ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 (no proxy) or the number of proxies")

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
# Three queues, so that neither a backlog of retries nor a mass resend holds up fresh events: a
# worker takes from each in turn. WORKER_QUEUES names the ones a worker serves (all by default;
# e.g. a worker of its own for `retries`). Beat's tasks (sweeping, pruning) have a fourth, so
# a surge of fresh events does not delay the sweeper either.
QUEUE_FIRST_ATTEMPTS, QUEUE_RETRIES, QUEUE_REPLAYS = "deliveries", "retries", "replays"
QUEUE_MAINTENANCE = "maintenance"
ALL_QUEUES = [QUEUE_FIRST_ATTEMPTS, QUEUE_RETRIES, QUEUE_REPLAYS, QUEUE_MAINTENANCE]
CELERY_TASK_DEFAULT_QUEUE = QUEUE_FIRST_ATTEMPTS
CELERY_TASK_QUEUES = [Queue(name) for name in env.list("WORKER_QUEUES", default=ALL_QUEUES)]
CELERY_TASK_ROUTES = {
    "notifications.tasks.sweep_due_deliveries": {"queue": QUEUE_MAINTENANCE},
    "notifications.tasks.prune_old_records": {"queue": QUEUE_MAINTENANCE},
    "notifications.tasks.reconcile_accounts": {"queue": QUEUE_MAINTENANCE},
    "notifications.tasks.check_alerts": {"queue": QUEUE_MAINTENANCE},
    "notifications.tasks.roll_up_hourly_stats": {"queue": QUEUE_MAINTENANCE},
    "notifications.tasks.resume_stalled_bulk_jobs": {"queue": QUEUE_MAINTENANCE},
    # A manager's bulk resend: behind no fresh event, and not in the sweeper's way.
    "notifications.tasks.run_bulk_job": {"queue": QUEUE_REPLAYS},
}
# Sending is waiting on Mindbox, so the worker runs a pool of threads (measured against prefork
# and larger pools with `make bench`; the README's Performance section has the figures).
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="threads")
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=32)
CELERY_TIMEZONE = TIME_ZONE
# Seconds between runs of the hourly roll-up: how stale the charts' current hour may be.
STATS_ROLLUP_INTERVAL = env.float("STATS_ROLLUP_INTERVAL", default=300.0)
# Seconds between beat's checks that mail managers once per change of state: paused, failing,
# recovered (notifications.alerts).
ALERT_CHECK_INTERVAL = env.float("ALERT_CHECK_INTERVAL", default=60.0)
# The roll-up's and the alert check's runs expire by the time the next is due: those queued while
# no worker took them (an outage) are dropped rather than all run one after another.
CELERY_BEAT_SCHEDULE = {
    "sweep-due-deliveries": {
        "task": "notifications.tasks.sweep_due_deliveries",
        "schedule": env.float("DELIVERY_SWEEP_INTERVAL", default=30.0),
    },
    "prune-old-records": {
        "task": "notifications.tasks.prune_old_records",
        "schedule": 3600.0,
    },
    # The hourly counts the integration pages' charts read (notifications.rollup).
    "roll-up-hourly-stats": {
        "task": "notifications.tasks.roll_up_hourly_stats",
        "schedule": STATS_ROLLUP_INTERVAL,
        "options": {"expires": STATS_ROLLUP_INTERVAL},
    },
    # Reconciliation through UIS's Data API (UIS_RECONCILE_INTERVAL is set further down).
    "reconcile-uis": {
        "task": "notifications.tasks.reconcile_accounts",
        "schedule": env.float("UIS_RECONCILE_INTERVAL", default=300.0),
    },
    # Trouble mails to managers (notifications.alerts).
    "check-alerts": {
        "task": "notifications.tasks.check_alerts",
        "schedule": ALERT_CHECK_INTERVAL,
        "options": {"expires": ALERT_CHECK_INTERVAL},
    },
    # Bulk jobs a killed worker left running (BULK_JOB_STALL_SECONDS, below).
    "resume-stalled-bulk-jobs": {
        "task": "notifications.tasks.resume_stalled_bulk_jobs",
        "schedule": 60.0,
    },
}
# Bulk resends and re-renders (notifications.bulk_jobs): deliveries per chunk (one transaction,
# one progress step, one look at the cancel flag), and how long a job may show no progress
# before it is queued again (its worker was killed, or its message never reached the broker).
BULK_JOB_CHUNK_SIZE = env.int("BULK_JOB_CHUNK_SIZE", default=500)
BULK_JOB_STALL_SECONDS = env.int("BULK_JOB_STALL_SECONDS", default=300)
if BULK_JOB_CHUNK_SIZE < 1 or BULK_JOB_STALL_SECONDS < 1:
    raise environ.ImproperlyConfigured("BULK_JOB_CHUNK_SIZE and BULK_JOB_STALL_SECONDS must be positive")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Beat's scheduler: "file" keeps the schedule in a local file (one beat only); "redis" keeps it in
# Redis (celery-redbeat) behind a lock, so a second beat can stand by and take over when the first
# dies (README, "Beat without a single point of failure"). Both write a heartbeat every tick.
BEAT_SCHEDULER = env.str("BEAT_SCHEDULER", default="file")
if BEAT_SCHEDULER not in ("file", "redis"):
    raise environ.ImproperlyConfigured(f"BEAT_SCHEDULER must be file or redis, got {BEAT_SCHEDULER!r}")
if BEAT_SCHEDULER == "redis" and not REDIS_URL:
    raise environ.ImproperlyConfigured("BEAT_SCHEDULER=redis needs REDIS_URL")
CELERY_BEAT_SCHEDULER = {
    "file": "integration_portal.schedulers:FileScheduler",
    "redis": "integration_portal.locked_scheduler:RedisScheduler",
}[BEAT_SCHEDULER]
# Beat wakes at least this often (seconds), and writes its heartbeat each time.
CELERY_BEAT_MAX_LOOP_INTERVAL = env.float("BEAT_MAX_INTERVAL", default=10.0)
# redbeat: the lock the scheduling beat renews every tick; a standby takes over this many seconds
# after the holder stopped renewing it (it asks every BEAT_MAX_INTERVAL).
CELERY_REDBEAT_REDIS_URL = REDIS_URL
CELERY_REDBEAT_REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_REDBEAT_KEY_PREFIX = "portal:redbeat:"
CELERY_REDBEAT_LOCK_KEY = "portal:redbeat:lock"
CELERY_REDBEAT_LOCK_TIMEOUT = env.float("BEAT_LOCK_TIMEOUT", default=60.0)
# A heartbeat older than this is stale: `manage.py beat_health` fails and /readyz says so.
BEAT_HEARTBEAT_MAX_AGE = env.float("BEAT_HEARTBEAT_MAX_AGE", default=120.0)
if CELERY_BEAT_MAX_LOOP_INTERVAL <= 0 or CELERY_REDBEAT_LOCK_TIMEOUT <= CELERY_BEAT_MAX_LOOP_INTERVAL:
    raise environ.ImproperlyConfigured("BEAT_MAX_INTERVAL must be positive and BEAT_LOCK_TIMEOUT longer than it")
if BEAT_HEARTBEAT_MAX_AGE <= CELERY_BEAT_MAX_LOOP_INTERVAL:
    raise environ.ImproperlyConfigured("BEAT_HEARTBEAT_MAX_AGE must be longer than BEAT_MAX_INTERVAL")

# --- Inbound (UIS) and outbound (Mindbox)
INBOUND_MAX_BODY_BYTES = 64 * 1024
# A parsed body's keys (nested objects' too) and nesting (the object is one level); over them, 400.
# Both parsing and cleaning recurse once per level, so the depth stays far below Python's limit.
INBOUND_MAX_KEYS = env.int("INBOUND_MAX_KEYS", default=500)
INBOUND_MAX_DEPTH = env.int("INBOUND_MAX_DEPTH", default=5)
if INBOUND_MAX_KEYS < 1 or not 1 <= INBOUND_MAX_DEPTH <= 100:
    raise environ.ImproperlyConfigured("INBOUND_MAX_KEYS must be positive and INBOUND_MAX_DEPTH within 1..100")
# Requests per token (unknown ones too; per address without one), shared by all web processes in
# Redis: a bucket of INBOUND_RATE_BURST refilled at INBOUND_RATE_PER_SECOND; over it, 429 with
# Retry-After. Without REDIS_URL (the embedded local set-up) there is no limit, and while Redis
# is unreachable requests go through.
INBOUND_RATE_PER_SECOND = env.float("INBOUND_RATE_PER_SECOND", default=50.0)
INBOUND_RATE_BURST = env.int("INBOUND_RATE_BURST", default=200)
if INBOUND_RATE_PER_SECOND <= 0 or INBOUND_RATE_BURST < 1:
    raise environ.ImproperlyConfigured("INBOUND_RATE_PER_SECOND must be positive and INBOUND_RATE_BURST at least 1")
# The site script's endpoint (browsers on clients' sites; a browser posts once a day): per site
# key, and per address, which an office's visitors behind one NAT share.
SITE_LINK_RATE_PER_KEY = env.float("SITE_LINK_RATE_PER_KEY", default=10.0)
SITE_LINK_BURST_PER_KEY = env.int("SITE_LINK_BURST_PER_KEY", default=100)
SITE_LINK_RATE_PER_ADDRESS = env.float("SITE_LINK_RATE_PER_ADDRESS", default=1.0)
SITE_LINK_BURST_PER_ADDRESS = env.int("SITE_LINK_BURST_PER_ADDRESS", default=20)
if (
    min(SITE_LINK_RATE_PER_KEY, SITE_LINK_RATE_PER_ADDRESS) <= 0
    or min(SITE_LINK_BURST_PER_KEY, SITE_LINK_BURST_PER_ADDRESS) < 1
):
    raise environ.ImproperlyConfigured("SITE_LINK_RATE_* must be positive and SITE_LINK_BURST_* at least 1")
MINDBOX_ALLOWED_HOSTS = env.list(
    "MINDBOX_ALLOWED_HOSTS",
    # Mindbox's API domain may differ per project (api-ru.mindbox.cloud is one): its domains'
    # subdomains are allowed; the addresses a name resolves to are checked apart (guard.py).
    default=["*.mindbox.ru", "*.mindbox.cloud", "*.maestra.io"],
)
MINDBOX_REQUIRE_HTTPS = env.bool("MINDBOX_REQUIRE_HTTPS", default=True)
# Addresses or networks (127.0.0.1, 10.0.0.0/8) an allowed Mindbox host may resolve to although they
# are private, loopback or link-local; checked before every request (SSRF guard). Empty: none.
MINDBOX_ALLOW_PRIVATE_NETWORKS = env.list("MINDBOX_ALLOW_PRIVATE_NETWORKS", default=[])
MINDBOX_CONNECT_TIMEOUT = env.float("MINDBOX_CONNECT_TIMEOUT", default=5.0)
MINDBOX_READ_TIMEOUT = env.float("MINDBOX_READ_TIMEOUT", default=15.0)
# UIS's Data API, for reconciliation (notifications.reconcile): the same outbound guard as
# Mindbox's sends, with its own hosts. The defaults are the Data API hosts UIS's, CoMagic's,
# CallGear's and Novofon's public references name (docs/uis-data-api.md).
UIS_DATA_API_ALLOWED_HOSTS = env.list(
    "UIS_DATA_API_ALLOWED_HOSTS",
    default=["dataapi.uiscom.ru", "dataapi.comagic.ru", "dataapi.callgear.com", "dataapi-jsonrpc.novofon.ru"],
)
UIS_DATA_API_REQUIRE_HTTPS = env.bool("UIS_DATA_API_REQUIRE_HTTPS", default=True)
UIS_DATA_API_ALLOW_PRIVATE_NETWORKS = env.list("UIS_DATA_API_ALLOW_PRIVATE_NETWORKS", default=[])
UIS_DATA_API_DEFAULT_URL = env.str("UIS_DATA_API_DEFAULT_URL", default="https://dataapi.uiscom.ru/v2.0")
UIS_DATA_API_CONNECT_TIMEOUT = env.float("UIS_DATA_API_CONNECT_TIMEOUT", default=5.0)
UIS_DATA_API_READ_TIMEOUT = env.float("UIS_DATA_API_READ_TIMEOUT", default=60.0)
# Rows a report call asks for (the API allows 1..10,000; each call costs one point).
UIS_DATA_API_PAGE_SIZE = env.int("UIS_DATA_API_PAGE_SIZE", default=1000)
# Percent of an account's daily Data API allowance reconciliation never spends: the account's
# own scripts and CRM use the same allowance.
UIS_DATA_API_DAY_RESERVE_PERCENT = env.float("UIS_DATA_API_DAY_RESERVE_PERCENT", default=20.0)
# How often beat reconciles every account with a token (seconds); how far each run reaches back
# before where the previous one ended; how recent a communication must not be (its notification
# may still be on its way); how far a first run reaches back.
UIS_RECONCILE_INTERVAL = env.float("UIS_RECONCILE_INTERVAL", default=300.0)
UIS_RECONCILE_OVERLAP = env.int("UIS_RECONCILE_OVERLAP", default=1800)
UIS_RECONCILE_SETTLE = env.int("UIS_RECONCILE_SETTLE", default=120)
UIS_RECONCILE_FIRST_LOOKBACK = env.int("UIS_RECONCILE_FIRST_LOOKBACK", default=3600)
if not 1 <= UIS_DATA_API_PAGE_SIZE <= 10_000 or not 0 <= UIS_DATA_API_DAY_RESERVE_PERCENT < 100:
    raise environ.ImproperlyConfigured(
        "UIS_DATA_API_PAGE_SIZE must be within 1..10000 and UIS_DATA_API_DAY_RESERVE_PERCENT within 0..99"
    )
if min(UIS_RECONCILE_INTERVAL, UIS_RECONCILE_OVERLAP, UIS_RECONCILE_SETTLE, UIS_RECONCILE_FIRST_LOOKBACK) < 0:
    raise environ.ImproperlyConfigured("UIS_RECONCILE_* must not be negative")
DELIVERY_RETRY_SCHEDULE = _seconds_list("DELIVERY_RETRY_SCHEDULE", "10,60,300,1800,7200,21600,43200,86400")
# Retries due within this many seconds ride a Celery countdown; later ones wait in the
# database for the sweeper, since long ETAs on Redis are redelivered after the visibility timeout.
DELIVERY_COUNTDOWN_MAX = env.int("DELIVERY_COUNTDOWN_MAX", default=300)
# Deliveries one task claims and sends at once (one Celery message, a few statements).
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=50)
# Milliseconds a task waits before it answers a busy queue's bell, gathering the events that
# arrive meanwhile into its batch (notifications/tasks.py); 0: answer at once.
DELIVERY_LINGER_MS = env.int("DELIVERY_LINGER_MS", default=10)
# Requests one worker process has on their way to one integration at most: a Mindbox that stops
# answering holds that many until back-off starts, not every batch. And connections kept open
# to Mindbox per worker process, all hosts together.
DELIVERY_MAX_IN_FLIGHT = env.int("DELIVERY_MAX_IN_FLIGHT", default=64)
DELIVERY_MAX_CONNECTIONS = env.int("DELIVERY_MAX_CONNECTIONS", default=256)
if DELIVERY_LINGER_MS < 0:
    raise environ.ImproperlyConfigured("DELIVERY_LINGER_MS must be 0 or more")
if min(DELIVERY_BATCH_SIZE, DELIVERY_MAX_IN_FLIGHT, DELIVERY_MAX_CONNECTIONS) < 1:
    raise environ.ImproperlyConfigured(
        "DELIVERY_BATCH_SIZE, DELIVERY_MAX_IN_FLIGHT and DELIVERY_MAX_CONNECTIONS must be positive"
    )
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
# Admin login records (django-axes: usernames, addresses, failures) and the audit log of
# configuration changes are pruned after these, by the same hourly task.
LOGIN_RECORDS_RETENTION_DAYS = env.int("LOGIN_RECORDS_RETENTION_DAYS", default=30)
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# Site visitors' deviceUUID links not posted again for this long (the script posts daily on visits).
SITE_VISITOR_RETENTION_DAYS = env.int("SITE_VISITOR_RETENTION_DAYS", default=180)
# The charts' hourly counts (notifications.rollup): kept apart from the raw rows, longer.
STATS_RETENTION_DAYS = env.int("STATS_RETENTION_DAYS", default=90)
if min(RETENTION_DAYS, LOGIN_RECORDS_RETENTION_DAYS, AUDIT_RETENTION_DAYS, SITE_VISITOR_RETENTION_DAYS) < 1:
    raise environ.ImproperlyConfigured(
        "RETENTION_DAYS, LOGIN_RECORDS_RETENTION_DAYS, AUDIT_RETENTION_DAYS and SITE_VISITOR_RETENTION_DAYS "
        "must be positive"
    )
if STATS_RETENTION_DAYS < 7:
    raise environ.ImproperlyConfigured("STATS_RETENTION_DAYS must be at least 7: the charts show a week")
if timedelta(days=LOGIN_RECORDS_RETENTION_DAYS) <= AXES_COOLOFF_TIME:
    raise environ.ImproperlyConfigured("LOGIN_RECORDS_RETENTION_DAYS must outlast AXES_COOLOFF_MINUTES")
# Mindbox secret keys are encrypted with these Fernet keys (comma-separated, newest first; add a
# new key in front to rotate, run `manage.py reencrypt_secrets`, then drop the old one). Unset,
# the local set-up makes one in var/ (a production deployment must set it: `check --deploy` says so).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
FIELD_ENCRYPTION_KEY_FROM_ENV = bool(FIELD_ENCRYPTION_KEYS)
if (HTTPS or REQUIRE_SECRETS) and not FIELD_ENCRYPTION_KEYS:
    # Every process of a deployment must hold the same key; one made per container would not be.
    raise environ.ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY must be set in production (DJANGO_HTTPS=true or REQUIRE_SECRETS=true); make one with "
        'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
    )
if not FIELD_ENCRYPTION_KEYS:
    _key_file = VAR_DIR / "field-encryption-key"
    if not _key_file.exists():
        from cryptography.fernet import Fernet

        _key_file.write_bytes(Fernet.generate_key())
        _key_file.chmod(0o600)
    FIELD_ENCRYPTION_KEYS = [_key_file.read_text().strip()]
# How long a rotated inbound token keeps working, so UIS can be re-pointed without losing events.
INBOUND_TOKEN_GRACE_HOURS = env.float("INBOUND_TOKEN_GRACE_HOURS", default=24.0)
# Public base URL shown in the admin's set-up block (the inbound URLs UIS must call).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")

# --- Trouble (the admin's first page, «Требует внимания», and the e-mails to managers)
# Unsuccessful requests to Mindbox in 24 h from which an integration is failing.
TROUBLE_FAILURES_24H = env.int("TROUBLE_FAILURES_24H", default=20)
# How long the oldest due delivery of an integration may wait before it is a backlog.
TROUBLE_BACKLOG_MINUTES = env.int("TROUBLE_BACKLOG_MINUTES", default=10)
# Silent: no event from UIS in this many minutes, although the same minutes a week earlier
# brought at least TROUBLE_SILENT_MIN_EVENTS (the account's own rhythm for that hour and weekday).
TROUBLE_SILENT_WINDOW_MINUTES = env.int("TROUBLE_SILENT_WINDOW_MINUTES", default=60)
TROUBLE_SILENT_MIN_EVENTS = env.int("TROUBLE_SILENT_MIN_EVENTS", default=10)
if min(TROUBLE_FAILURES_24H, TROUBLE_BACKLOG_MINUTES, TROUBLE_SILENT_WINDOW_MINUTES, TROUBLE_SILENT_MIN_EVENTS) < 1:
    raise environ.ImproperlyConfigured(
        "TROUBLE_FAILURES_24H, TROUBLE_BACKLOG_MINUTES, TROUBLE_SILENT_WINDOW_MINUTES and "
        "TROUBLE_SILENT_MIN_EVENTS must be positive whole numbers"
    )
# ALERT_CHECK_INTERVAL, how often beat checks every integration and mails its managers once per
# change (paused, failing, recovered), is read above with the beat schedule.
# false: no mail per change (the states are still followed), e.g. when the digest is enough.
ALERT_CHANGE_MAILS = env.bool("ALERT_CHANGE_MAILS", default=True)
# The local hour (0-23) from which each manager gets one daily digest of their accounts' trouble;
# empty: no digest.
_digest_hour = env.str("ALERT_DIGEST_HOUR", default="").strip()
if _digest_hour and not (_digest_hour.isdigit() and 0 <= int(_digest_hour) <= 23):
    raise environ.ImproperlyConfigured(f"ALERT_DIGEST_HOUR must be an hour from 0 to 23 or empty, not {_digest_hour!r}")
ALERT_DIGEST_HOUR: int | None = int(_digest_hour) if _digest_hour else None

# E-mail: EMAIL_URL as django-environ reads it, e.g. smtp+tls://user:password@smtp.example.com:587
# (smtp://, smtp+ssl://); unset, mails are written to the process's output (console backend).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)  # a dead server must not hold beat's task
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")

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
            "class": "logging.Formatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "integration_portal.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Celery's "Task … received" and "… succeeded" lines, two for every wake-up message (about a
    # hundred a second at 200 events/s), say nothing the deliveries' own lines do not; a task's
    # failure is still logged, at ERROR. CELERY_TASK_LOG_LEVEL=INFO brings them back.
    "loggers": {
        name: {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")}
        for name in ("celery.app.trace", "celery.worker.strategy")
    },
}
