"""The one settings module of the Approvals Portal.

Every value comes from the environment (or an optional `.env` file); `.env.example` lists each
variable with its default. With nothing set, the portal runs on the embedded defaults: SQLite,
an in-process channel layer, a SQLite-backed Celery broker and file-based email, all under
`var/`. With DATABASE_URL and REDIS_URL it runs on PostgreSQL and Redis. Nothing here runs only
in production.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
import structlog
from celery.schedules import schedule
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

from portal import config
from processes.actionlinks.logredact import redact_link_secrets
from processes.tracing import trace_ids_add

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")


# An empty variable counts as unset, so a copied .env.example never overrides a derived default.
def env_str(name: str, default: str) -> str:
    return env.str(name, default="") or default


def env_flag(name: str, default: bool) -> bool:
    return env.bool(name) if env.str(name, default="") else default


def env_int(name: str, default: int) -> int:
    return env.int(name) if env.str(name, default="") else default


def env_list(name: str, default: list[str]) -> list[str]:
    return env.list(name, default=[]) or default


VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# ---------------------------------------------------------------- CORE
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env_flag("DEBUG", False)
SECRET_KEY = config.secret_key(
    env_str("SECRET_KEY", "django-insecure-dev-only-key-never-use-in-production" if DEBUG else ""),
    debug=DEBUG,
)
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
# Absolute links in emails. `check --deploy` warns while it is left at a loopback or http address.
# Unset, it is where `make run` serves (WEB_PORT): the demo's fake carrier posts its callbacks there.
PORTAL_BASE_URL = config.base_url(
    "PORTAL_BASE_URL", env_str("PORTAL_BASE_URL", f"http://127.0.0.1:{env_int('WEB_PORT', 8000)}")
)
ALLOWED_HOSTS = config.allowed_hosts(
    env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else []), debug=DEBUG
)
# https://docs.djangoproject.com/en/5.2/ref/settings/#csrf-trusted-origins
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PORTAL_BASE_URL])

INSTALLED_APPS = [
    "daphne",  # `runserver` speaks websockets; must precede django.contrib.staticfiles
    "servestatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "channels",
    "django_structlog",
    "axes",
    "viewflow",
    "ninja",  # the API docs page's Swagger UI files, served from our static files
    "viewflow.workflow",
    "processes",  # the core: it knows no process (processes/registry.py)
    # The process plug-ins: each registers its descriptor (processes/<name>/descriptor.py).
    "processes.purchase",
    "processes.orders",
    "processes.catalog",
    "portal",  # the project: its commands (bootstrap, preflight, banner)
]
# More apps to install (comma-separated), after the built-in ones: the test suite installs its
# test-only process plug-ins so (tests/plugins/, set in pyproject's pytest env). Default: none.
INSTALLED_APPS += env_list("PORTAL_EXTRA_APPS", [])

MIDDLEWARE = [
    # First: it times and counts every request, whatever the others answer (ADR 0018).
    "processes.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.staticfiles.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common (Django's rule): the cookie and Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's own language (their profile) over the cookie and the browser's.
    "processes.languages.middleware.UserLanguageMiddleware",
    # Deny by default: every view needs a login unless marked @login_not_required (probes, login).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "processes.middleware.CorrelationMiddleware",
    "processes.middleware.FlowLockBusyMiddleware",
    "processes.tasklist.middleware.TaskUnavailableMiddleware",
    # viewflow appends these two in ViewflowConfig.ready() unless listed; listed here so that
    # AxesMiddleware stays last, as django-axes requires.
    "viewflow.middleware.SiteMiddleware",
    "viewflow.middleware.HotwireTurboMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
# Requests a web process runs at once, each on a thread of its pool (portal/http.py, ADR 0029).
WEB_THREADS = env_int("WEB_THREADS", 32)
if WEB_THREADS < 1:
    raise config.ConfigError(f"WEB_THREADS must be 1 or more; got {WEB_THREADS}")
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",  # LANGUAGE_CODE: <html lang> (viewflow)
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.product",
            ],
        },
    },
]

# ---------------------------------------------------------------- DATABASE
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
DATABASE_ENGINE = DATABASES["default"]["ENGINE"]
if DATABASE_ENGINE == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN,
    # so a transaction never fails half-way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
elif DATABASE_ENGINE.startswith("django.db.backends.postgresql"):
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5)
    # psycopg's connection pool (per process): a websocket consumer's reads borrow a connection
    # instead of opening one each time. 0 keeps Django's default (a connection per request).
    if env_int("DATABASE_POOL_MAX_SIZE", 0) > 0:
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 0),
        }
else:
    raise config.ConfigError(f"DATABASE_URL must be sqlite:// or postgres://, got engine {DATABASE_ENGINE}")
# Each request is one transaction: a half-done approval never reaches the database.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------- REDIS, CACHE, CHANNELS
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    config.redis_url("REDIS_URL", REDIS_URL)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Sessions stay in the database (not `cached_db`): read through the cache, every open
    # websocket held its own Redis cache client, 13 kB more per connection (docs/benchmarks.md).
    # https://github.com/django/channels_redis#configuration
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 defaults: a pool fails beyond 100 connections (a burst of sockets joining
            # their groups needs more), and a 5 s socket timeout, the same as channels_redis's
            # 5 s BZPOPMIN, so a busy process times out reading its own receive and the socket dies.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 2000),
                        "socket_timeout": 30,
                    }
                ],
                "capacity": 500,
                "expiry": 60,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Embedded mode: the layer lives inside the web process; the database stays the source
    # of truth and consumers poll it (docs/decisions/0001-embedded-defaults.md).
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Live notifications: every websocket also reads its user's new notifications this often (s).
# The embedded in-memory layer cannot hear the worker, so it looks every second; with Redis,
# wake-ups arrive at once and the poll is only a safety net (docs/decisions/0006).
NOTIFICATIONS_POLL_SECONDS = float(env_str("NOTIFICATIONS_POLL_SECONDS", "30" if REDIS_URL else "1"))
# A socket's catch-up (`?after=<id>`) sends at most this many of the missed notifications, the
# newest, and none older than NOTIFICATIONS_CATCHUP_DAYS; the client hears that it missed more
# (older ones stay in the notification center).
NOTIFICATIONS_CATCHUP_MAX = env_int("NOTIFICATIONS_CATCHUP_MAX", 50)
NOTIFICATIONS_CATCHUP_DAYS = env_int("NOTIFICATIONS_CATCHUP_DAYS", 7)

# ---------------------------------------------------------------- CELERY
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = env_str(
    "CELERY_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    config.redis_url("CELERY_BROKER_URL", CELERY_BROKER_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = float(env_str("CELERY_BROKER_CONNECTION_TIMEOUT", "4"))
# Publishing while the broker is down fails fast; the stuck-job sweep re-sends from the database.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 2}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Longer than the longest job, or a running job's message is delivered a second time.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
# (The sqla transport hands every other option to SQLAlchemy's create_engine, so it gets none.)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True  # outcomes live in our tables, not a result backend
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-job leaves the message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # logging comes from LOGGING below (JSON)
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # viewflow's database timers (escalation boundaries); precision equals this interval.
    "fire-due-timers": {
        "task": "processes.tasks.timers_fire_due",
        "schedule": schedule(1.0),
        "options": {"expires": 5},
    },
    # Jobs whose broker message was lost (broker down at commit time, or dropped).
    "sweep-stuck-jobs": {
        "task": "processes.tasks.jobs_sweep_stuck",
        "schedule": schedule(float(env_str("JOB_SWEEP_INTERVAL", "15"))),
        "options": {"expires": 10},
    },
    # Emails whose delivery failed or never happened (processes/mail/): retried with backoff.
    "retry-emails": {
        "task": "processes.tasks.mails_retry_due",
        "schedule": schedule(float(env_str("EMAIL_SWEEP_INTERVAL", "5"))),
        "options": {"expires": 10},
    },
    # Messages for wait nodes: kept ones handed to waits a busy lock delayed, expired, pruned.
    "sweep-messages": {
        "task": "processes.tasks.messages_sweep",
        "schedule": schedule(float(env_str("MESSAGE_SWEEP_INTERVAL", "30"))),
        "options": {"expires": 25},
    },
    # Webhook deliveries that are due (processes/webhooks/): retries, and lost first attempts.
    "retry-webhooks": {
        "task": "processes.tasks.webhooks_retry_due",
        "schedule": schedule(float(env_str("WEBHOOK_SWEEP_INTERVAL", "5"))),
        "options": {"expires": 10},
    },
    # Idempotency-Keys past API_IDEMPOTENCY_TTL (processes/api/idempotency.py).
    "prune-idempotency-keys": {
        "task": "processes.tasks.idempotency_records_prune",
        "schedule": schedule(float(env_str("API_IDEMPOTENCY_PRUNE_INTERVAL", "600"))),
        "options": {"expires": 300},
    },
    # Out-of-office substitutes (processes/absences/): tasks an absent user still holds go to
    # their substitute; an absence that starts now hands them over at once, this catches the rest.
    "sweep-absences": {
        "task": "processes.tasks.absences_sweep",
        "schedule": schedule(float(env_str("ABSENCE_SWEEP_INTERVAL", "60"))),
        "options": {"expires": 50},
    },
    "housekeeping": {
        "task": "processes.tasks.housekeeping",
        "schedule": schedule(3600.0),
        "options": {"expires": 600},
    },
}
# Timer sweep (escalation): the sweep sends due timers to the workers, at least this many per
# message (a process's due timers always travel together; 1 spreads them over every worker);
# a timer sent is not sent again for TIMER_RESEND_SECONDS (unless its lock was busy); a sweep
# that died keeps the others out for at most TIMER_SWEEP_GUARD_SECONDS.
TIMER_BATCH_SIZE = env_int("TIMER_BATCH_SIZE", 1)
TIMER_RESEND_SECONDS = env_int("TIMER_RESEND_SECONDS", 15)
TIMER_SWEEP_GUARD_SECONDS = env_int("TIMER_SWEEP_GUARD_SECONDS", 10)
# A job still SCHEDULED this long after its message was due is re-sent by the sweep; so is a
# STARTED job whose attempt outlived its time limit by this long (its worker is gone).
JOB_STUCK_AFTER_SECONDS = env_int("JOB_STUCK_AFTER_SECONDS", 60)

# The operations dashboard (processes/operations/, ADR 0020): a running process with no
# transition for STUCK_AFTER_MINUTES that waits on no person, timer or message is stuck; an open
# task is at risk in the last SLA_AT_RISK_PERCENT of its SLA, and never more than
# SLA_AT_RISK_HOURS before it is due.
STUCK_AFTER_MINUTES = env_int("STUCK_AFTER_MINUTES", 60)
SLA_AT_RISK_HOURS = env_int("SLA_AT_RISK_HOURS", 4)
SLA_AT_RISK_PERCENT = env_int("SLA_AT_RISK_PERCENT", 20)
if STUCK_AFTER_MINUTES < 1 or SLA_AT_RISK_HOURS < 0 or not 0 < SLA_AT_RISK_PERCENT <= 100:
    raise config.ConfigError(
        "STUCK_AFTER_MINUTES must be at least 1, SLA_AT_RISK_HOURS at least 0 and SLA_AT_RISK_PERCENT"
        f" 1 to 100; got {STUCK_AFTER_MINUTES}, {SLA_AT_RISK_HOURS}, {SLA_AT_RISK_PERCENT}"
    )

# Messages for wait nodes (POST /api/v1/messages/, processes/messages/): one that arrives before
# its step waits is kept this long (seconds); a message id is remembered at least this long
# after it came (replays are refused: more than the signatures' 5-minute tolerance).
API_MESSAGE_TTL = env_int("API_MESSAGE_TTL", 24 * 3600)
API_MESSAGE_REPLAY_WINDOW = env_int("API_MESSAGE_REPLAY_WINDOW", 3600)
# The fake carrier (processes/connectors/): it posts a signed "shipment.delivered" callback to
# PORTAL_BASE_URL this many seconds after a shipment is booked, as the API client named
# CARRIER_CLIENT_NAME with the token CARRIER_API_TOKEN (or the one `demo_data` wrote to
# var/carrier-token). An order waits ORDER_DELIVERY_TIMEOUT seconds before a person chases it.
CARRIER_DELIVERY_DELAY = env_int("CARRIER_DELIVERY_DELAY", 20)
CARRIER_CLIENT_NAME = env_str("CARRIER_CLIENT_NAME", "carrier")
CARRIER_API_TOKEN = env_str("CARRIER_API_TOKEN", "")
ORDER_DELIVERY_TIMEOUT = env_int("ORDER_DELIVERY_TIMEOUT", 120)
# Time limit of one job attempt, for nodes that set none (seconds).
JOB_DEFAULT_TIME_LIMIT = env_int("JOB_DEFAULT_TIME_LIMIT", 120)
# A job due at once after a job's commit runs in the same worker process, after it, while its
# own limits end within this many seconds past the first job's (ADR 0025); 0: every job is
# published. Each attempt keeps its own limits; this only bounds how long one message runs.
JOB_CHAIN_SECONDS = env_int("JOB_CHAIN_SECONDS", 600)
if JOB_CHAIN_SECONDS < 0:
    raise config.ConfigError(f"JOB_CHAIN_SECONDS must be 0 or more; got {JOB_CHAIN_SECONDS}")

# ---------------------------------------------------------------- EMAIL
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
EMAIL_URL = env_str("EMAIL_URL", "")
if EMAIL_URL:
    try:  # smtp://, smtp+tls://, smtp+ssl://, consolemail://, filemail://, memorymail://
        vars().update(env.email_url_config(EMAIL_URL))
    except Exception as exc:  # an unknown scheme or a bad port: one line naming the variable
        raise config.ConfigError(
            f"EMAIL_URL is malformed ({exc}): expected smtp://user:password@host:587"
        ) from None
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
# The outbox (processes/mail/): attempts before an email is given up (and audited), the first
# retry's delay (each next one waits 3 times longer, at most an hour), and how long sent rows stay.
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 8)
EMAIL_RETRY_BASE_SECONDS = env_int("EMAIL_RETRY_BASE_SECONDS", 10)
EMAIL_KEEP_DAYS = env_int("EMAIL_KEEP_DAYS", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Approvals Portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# ---------------------------------------------------------------- WEBHOOKS OUT (processes/webhooks/)
# https://www.standardwebhooks.com/ - the schedule is in docs/architecture.md ("Webhooks out").
# Whether a webhook may go to loopback, private, link-local or other non-public addresses (the
# SSRF guard). Default: off, on with DEBUG (`make run`'s demo); the tests turn it on.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_flag("WEBHOOK_ALLOW_PRIVATE_NETWORKS", DEBUG)
# Seconds a receiver has to connect and answer each read.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# The first retry's delay; each next one waits 4 times longer (±20 % jitter), at most
# WEBHOOK_RETRY_MAX_SECONDS; after WEBHOOK_MAX_ATTEMPTS attempts (about 3 days) it is failed.
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 12 * 3600)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12)
# Delivered rows are forgotten after this many days (failed ones stay, for the admin).
WEBHOOK_KEEP_DAYS = env_int("WEBHOOK_KEEP_DAYS", 30)
# The demo's receiver (`manage.py webhook_receiver`, started by `make run`) listens on this port
# of 127.0.0.1, and the demo data subscribes the `shop` client there.
WEBHOOK_RECEIVER_PORT = env_int("WEBHOOK_RECEIVER_PORT", 8765)

# ---------------------------------------------------------------- EMAIL ACTION LINKS
# How long an Approve/Reject link in an escalation email works (docs/architecture.md).
ACTION_LINK_TTL_HOURS = env_int("ACTION_LINK_TTL_HOURS", 72)

# ---------------------------------------------------------------- metrics (processes/metrics.py)
# The bearer token Prometheus sends to /metrics; empty: only unproxied loopback callers get them.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# prometheus-client's multi-process mode (ADR 0018): every process of this machine (web nodes,
# Celery workers and their pool) writes its counters in this directory and /metrics sums them.
# Empty: each process counts alone (the tests). portal/devstack.py, portal/cluster.py and the
# test stack set it to $PORTAL_VAR_DIR/metrics and empty it before they start the processes.
# https://prometheus.github.io/client_python/multiprocess/
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:  # prometheus-client reads the environment when first imported
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# The scrape's probe of the broker's queues gives up after this many seconds (portal_broker_up 0).
METRICS_BROKER_TIMEOUT = float(env_str("METRICS_BROKER_TIMEOUT", "0.25"))
# Celery queues measured besides the default one (comma-separated names).
METRICS_QUEUES = env_list("METRICS_QUEUES", [])
# How often each Celery worker stamps portal_worker_heartbeat_timestamp_seconds.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 15)
# Expired tokens are deleted this many days after they expired (housekeeping).
ACTION_LINK_KEEP_DAYS = env_int("ACTION_LINK_KEEP_DAYS", 30)
# Requests to /links/ per client (IPv4 address or IPv6 /64) and per token within the window
# (seconds); then a 429 page.
ACTION_LINK_RATE_LIMIT_PER_IP = env_int("ACTION_LINK_RATE_LIMIT_PER_IP", 30)
ACTION_LINK_RATE_LIMIT_PER_TOKEN = env_int("ACTION_LINK_RATE_LIMIT_PER_TOKEN", 10)
ACTION_LINK_RATE_LIMIT_WINDOW = env_int("ACTION_LINK_RATE_LIMIT_WINDOW", 60)

# ---------------------------------------------------------------- AUTH
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
PASSWORD_HASHERS = env_list("PASSWORD_HASHERS", ["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
# django-axes first: it refuses a locked-out client before any password is checked.
# PermissionsBackend logs nobody in; it reads a user's permissions in one query where
# ModelBackend reads two, and ModelBackend answers from the same cache after it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "processes.auth.PermissionsBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# ---------------------------------------------------------------- LOGIN THROTTLING
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# Covers every login that goes through authenticate(request=...): /accounts/login/ and
# /admin/login/. AXES_FAILURE_LIMIT wrong passwords for one username from one client lock that
# pair out for AXES_COOLOFF_MINUTES (a 429 page). Per username AND client: locking a username
# everywhere would let anyone lock a colleague out; per client alone would let one office
# behind a NAT lock everyone out. A client is its IPv4 address or its IPv6 /64
# (processes/clients.py), taken from REMOTE_ADDR only, never from a header the client sends.
AXES_ENABLED = env_flag("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful login forgives earlier typos
AXES_CLIENT_IP_CALLABLE = "processes.clients.login_client_address"
AXES_LOCKOUT_CALLABLE = "portal.views.login_locked"  # a 429 page that says for how long
AXES_VERBOSE = False  # our own log lines are JSON; axes' are plain text

# ---------------------------------------------------------------- SECURITY
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_flag("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_flag("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_SAMESITE = "Lax"
# Django's database sessions, read with a statement written once (portal/sessions.py).
SESSION_ENGINE = "portal.sessions"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_flag("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that overwrites X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy (django-csp 4.0) on every response: scripts only from our own static
# files (an inline one needs the request's nonce, {{ request.csp_nonce }}), no plugins, no
# framing, forms post only here. Inline *styles* stay allowed: viewflow's Material components
# set style attributes. The websocket (static/portal/live.js) is same-origin; 'self' covers ws(s)
# in current browsers, and the site's own ws(s) origin is listed for older ones.
# https://django-csp.readthedocs.io/en/latest/configuration.html
_base = urlsplit(PORTAL_BASE_URL)
_ws_origin = f"{'wss' if _base.scheme == 'https' else 'ws'}://{_base.netloc}"
_csp_directives = {
    "default-src": [SELF],
    "script-src": [SELF, NONCE],
    "connect-src": [SELF, _ws_origin],
    "img-src": [SELF, "data:"],
    "style-src": [SELF, UNSAFE_INLINE],
    "font-src": [SELF],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}
if env_str("CSP_REPORT_URI", ""):
    _csp_directives["report-uri"] = [env_str("CSP_REPORT_URI", "")]
# CSP_REPORT_ONLY=1: violations are reported (browser console, CSP_REPORT_URI), nothing is blocked.
if env_flag("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the cluster
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])
if DATABASE_ENGINE == "django.db.backends.sqlite3":
    # The task list indexes INCLUDE the filtered columns on PostgreSQL (migration 0035); SQLite keeps
    # their key columns, as designed, and Django says so on every command.
    SILENCED_SYSTEM_CHECKS.append("models.W040")

# ---------------------------------------------------------------- I18N
# https://docs.djangoproject.com/en/5.2/topics/i18n/translation/
# The portal's languages (ADR 0021). A user's choice on the profile page wins; without one,
# LocaleMiddleware follows the language cookie, then the browser's Accept-Language, then
# LANGUAGE_CODE. Dates and numbers follow the active language (Django 5 always localizes);
# amounts with a currency go through the `money` filter (processes/templatetags/portal_l10n.py).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# ---------------------------------------------------------------- STATIC FILES
# https://archmonger.github.io/ServeStatic/latest/django/
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed file names (far-future caching) need `collectstatic`; `make run` does it.
STATIC_MANIFEST = env_flag("STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Serve straight from the app directories instead of STATIC_ROOT (development and tests).
SERVESTATIC_USE_FINDERS = env_flag("STATIC_USE_FINDERS", DEBUG)
# Look every request's path up on disk (a thread hop each), so a file edited while the server
# runs is served at once: development only. Otherwise the files are listed once, at start.
SERVESTATIC_AUTOREFRESH = env_flag("STATIC_AUTOREFRESH", DEBUG)

# ---------------------------------------------------------------- ATTACHMENTS
# Files attached to processes live here, under random names, outside STATIC_ROOT and MEDIA_ROOT;
# only the attachment view serves them, after a permission check.
ATTACHMENTS_ROOT = Path(env_str("ATTACHMENTS_ROOT", str(VAR_DIR / "private" / "attachments")))
ATTACHMENTS_MAX_FILE_SIZE = env_int("ATTACHMENTS_MAX_FILE_SIZE", 10 * 1024 * 1024)  # bytes per file
ATTACHMENTS_MAX_FILES = env_int("ATTACHMENTS_MAX_FILES", 5)  # per form
# By extension; each file's leading bytes must match its extension (processes/attachments/checks.py).
ATTACHMENTS_ALLOWED_TYPES = env_list(
    "ATTACHMENTS_ALLOWED_TYPES",
    ["pdf", "png", "jpg", "jpeg", "gif", "txt", "csv", "docx", "xlsx", "odt", "ods"],
)
# Request bodies (portal/bodylimit.py, before Django reads them): requests with a logged-in
# session may send forms with every attachment, others (login, email links) only small forms.
REQUEST_MAX_BODY_BYTES = env_int(
    "REQUEST_MAX_BODY_BYTES", ATTACHMENTS_MAX_FILE_SIZE * ATTACHMENTS_MAX_FILES + 1024 * 1024
)
REQUEST_MAX_ANON_BODY_BYTES = env_int("REQUEST_MAX_ANON_BODY_BYTES", 64 * 1024)
# https://docs.djangoproject.com/en/5.2/ref/settings/#data-upload-max-memory-size
# Non-file form data per request (files are capped above); forms here are short.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)
# A few more than ATTACHMENTS_MAX_FILES, so one too many still gets the form's own message.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", ATTACHMENTS_MAX_FILES + 5)
# Files without a row (a request that failed after writing them) are deleted by housekeeping
# once older than this; younger ones may belong to a transaction still running.
ATTACHMENTS_ORPHAN_GRACE_SECONDS = env_int("ATTACHMENTS_ORPHAN_GRACE_SECONDS", 3600)

# ---------------------------------------------------------------- API WRITES (processes/api/)
# How long an Idempotency-Key and its response are kept (seconds; draft-ietf-httpapi-idempotency-
# key-header): a retry within this time replays the first response. Beat prunes older keys.
API_IDEMPOTENCY_TTL = env_int("API_IDEMPOTENCY_TTL", 24 * 3600)
# Beat's prune of expired keys runs every API_IDEMPOTENCY_PRUNE_INTERVAL seconds (CELERY_BEAT_SCHEDULE).
# Requests per caller (API client or person) per window of API_RATE_WINDOW seconds; 0: no limit.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 600)
API_RATE_WINDOW = env_int("API_RATE_WINDOW", 60)
# Refused bearer tokens per address (IPv4, or IPv6 /64) per window before its tokens get a 429.
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", 20)
# Request bodies under /api/ (portal/bodylimit.py), whoever sends them: JSON, no files.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024)

# ---------------------------------------------------------------- VIEWFLOW
VIEWFLOW = {"AUTOREGISTER": True}

# ---------------------------------------------------------------- TRACES
# OpenTelemetry (portal/tracing.py, ADR 0019): off unless an OTLP/HTTP endpoint is given, e.g.
# http://collector:4318 (spans go to its /v1/traces). The exporter reads the other standard
# OTEL_EXPORTER_OTLP_* variables (headers, timeout) and the SDK OTEL_TRACES_SAMPLER itself.
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "")
if OTEL_EXPORTER_OTLP_ENDPOINT:
    config.base_url("OTEL_EXPORTER_OTLP_ENDPOINT", OTEL_EXPORTER_OTLP_ENDPOINT)
# Empty: portal-web, portal-worker or portal-beat, after the process's role.
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "")
# Instrumentations to leave off, e.g. "psycopg,redis" (fewer spans per request, less CPU).
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS = config.choices(
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
    env_list("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", []),
    ("django", "celery", "psycopg", "redis", "urllib"),
)

# ---------------------------------------------------------------- LOGGING
# JSON lines everywhere (web, worker, beat). structlog's contextvars carry the correlation id
# of the process a line is about, also into stdlib loggers (viewflow, celery, django).
LOG_FORMAT = env_str("LOG_FORMAT", "json")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
if LOG_FORMAT not in ("json", "console"):
    raise config.ConfigError(f"LOG_FORMAT must be json or console, got {LOG_FORMAT!r}")
_pre_chain = [
    structlog.contextvars.merge_contextvars,
    trace_ids_add,  # trace_id and span_id beside the correlation id while a span is current
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_link_secrets,  # email link secrets are in request paths
                structlog.processors.JSONRenderer()
                if LOG_FORMAT == "json"
                else structlog.dev.ConsoleRenderer(colors=False),
            ],
            "foreign_pre_chain": _pre_chain,
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_structlog": {"level": LOG_LEVEL},
        # The timer sweep runs every second: per-task lines from Celery would drown everything
        # else. Jobs log their own job.* lines with the process's correlation id.
        "celery.beat": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "django_structlog.celery.receivers": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}
structlog.configure(
    processors=[
        # First: an event below LOG_LEVEL costs nothing more (the approval path logs a dozen).
        structlog.stdlib.filter_by_level,
        structlog.contextvars.merge_contextvars,
        trace_ids_add,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.UnicodeDecoder(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# The request's log lines name its peer (REMOTE_ADDR), bound by processes.clients: ipware would
# believe an X-Forwarded-For the client wrote, where every other client check believes no header.
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
