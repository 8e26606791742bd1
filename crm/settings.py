"""Settings for the CRM: one module, every deployment value read from the environment.

Without ``DATABASE_URL`` the CRM runs on its *embedded default*: a project-local PostgreSQL and
Redis under ``.data/`` (started by ``make run`` / ``make test``), DEBUG on, demo logins allowed.
With ``DATABASE_URL`` set it is a deployment: DEBUG off unless asked, ``SECRET_KEY`` required,
HTTPS-only cookies. ``docs/configuration.md`` lists every variable.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import holidays
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from crm.directory import ldap_settings
from crm.env import Env, redis_for_celery

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
RUN_DIR = DATA_DIR / "run"

env = Env()

# The embedded default: no database configured means the project-local services under .data/.
EMBEDDED = not env.is_set("DATABASE_URL")

DEBUG = env.bool("DEBUG", default=EMBEDDED)


def _embedded_secret_key() -> str:
    """A key kept in .data/ so sessions survive restarts of the embedded default."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = (
    env.str("SECRET_KEY") if not EMBEDDED else env.str("SECRET_KEY", "") or (_embedded_secret_key())
)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if EMBEDDED else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "crm",
    "citizens",
    "cases",
    "campaigns",
    "sales",
    "reports",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
]

MIDDLEWARE = [
    "crm.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "crm.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm.middleware.IdleSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, so that its lockout answer is what a locked-out login gets.
    "axes.middleware.AxesMiddleware",
]
if env.bool("BENCH_HEADERS", default=False):
    # Benchmarks read server time and SQL query counts from response headers.
    MIDDLEWARE.insert(1, "crm.middleware.BenchHeadersMiddleware")

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.site",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
EMBEDDED_DATABASE = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "crm",
    "USER": "crm",
    "HOST": str(RUN_DIR),
    "PORT": "5432",
}
DATABASES = {"default": env.database("DATABASE_URL", EMBEDDED_DATABASE)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"] = {  # keeps the URL's own options (?sslmode=require ...)
    **DATABASES["default"].get("OPTIONS", {}),
    "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", 5),
}
# Concurrent test runs against one server each need a database of their own.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", "") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The audit trail's events that are not part of a change (reads, denials, logins) are sent on a
# connection of their own while the view goes on, and waited for before the response leaves
# (crm.audit); off, written in the request's own connection before the view goes on.
AUDIT_WRITE_EARLY = env.bool("AUDIT_WRITE_EARLY", default=True)

# --- Redis: broker, cache ---------------------------------------------------------------------
REDIS_URL = env.redis_url("REDIS_URL", f"unix://{RUN_DIR / 'redis.sock'}?db=0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "crm"),
        "TIMEOUT": 300,
    }
}

CELERY_BROKER_URL = redis_for_celery(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", "crm")
# Control commands (the /health/ ping) reach only the workers of this queue, not those of another
# installation or test run sharing the Redis.
CELERY_CONTROL_EXCHANGE = CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# An import whose worker died (a SIGKILLed worker's message only comes back after the broker's
# visibility timeout) is queued again once it shows no progress for IMPORT_STALE_MINUTES.
# Document jobs (reports.jobs) whose worker died are queued again (DOCUMENT_JOB_STALE_MINUTES).
CELERY_BEAT_SCHEDULE["recover-document-jobs"] = {
    "task": "reports.tasks.recover_document_jobs",
    "schedule": 120.0,
}
CELERY_BEAT_SCHEDULE["resume-stale-imports"] = {
    "task": "citizens.tasks.resume_stale_imports",
    "schedule": 120.0,
}
# The duplicate scan of people (citizens.dedupe), every night at 02:30 UTC.
CELERY_BEAT_SCHEDULE["find-duplicates"] = {
    "task": "citizens.tasks.find_duplicates",
    "schedule": crontab(hour=2, minute=30),
}
# Cases (docs/cases.md): receipts whose task was lost are queued again every minute; reminders of
# cases due soon and overdue, once per case and state, every hour of the working day (UTC hours:
# 07:05-20:05 in Madrid in winter); the clock of cases whose citizen did not reply within their
# term runs again every night, after midnight in Spain.
CELERY_BEAT_SCHEDULE["sweep-receipts"] = {
    "task": "cases.tasks.sweep_receipts",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["send-deadline-notices"] = {
    "task": "cases.tasks.send_deadline_notices",
    "schedule": crontab(hour="6-19", minute=5),
}
CELERY_BEAT_SCHEDULE["apply-retention"] = {
    "task": "crm.tasks.apply_retention",
    "schedule": crontab(hour=3, minute=30),
}
CELERY_BEAT_SCHEDULE["resume-unanswered-cases"] = {
    "task": "cases.tasks.resume_unanswered_cases",
    "schedule": crontab(hour=0, minute=15),
}
# Field work (docs/sales.md): the reminders of tasks that are due, each emailed once.
CELERY_BEAT_SCHEDULE["send-task-reminders"] = {
    "task": "sales.tasks.send_task_reminders",
    "schedule": 60.0,
}
# Report builder (docs/reports.md "Report builder"): scheduled reports, each emailed once per
# period (day, ISO week, month), checked every hour.
CELERY_BEAT_SCHEDULE["send-scheduled-reports"] = {
    "task": "reports.tasks.send_scheduled_reports",
    "schedule": crontab(minute=7),
}
# Reports dashboard (docs/reports.md "Dashboard"): people by municipality, a pass over the whole
# register, computed again every four minutes of the working day (UTC: 07-21 in Madrid in
# winter) before its cache entry expires, so that no page load waits for it.
CELERY_BEAT_SCHEDULE["refresh-dashboard-people"] = {
    "task": "reports.dashboard_tasks.refresh_people_figures",
    "schedule": crontab(minute="*/4", hour="6-19"),
}
# Campaigns (docs/campaigns.md "Sending"): rows held by dead senders are taken back, and running
# campaigns with messages due (retries, a lost task) get their senders again.
CELERY_BEAT_SCHEDULE["campaigns-sending-tick"] = {
    "task": "campaigns.tasks.sending_tick",
    "schedule": 30.0,
}

# --- Email --------------------------------------------------------------------------------
# The embedded default sends through a local SMTP catcher that `make run` starts; it keeps every
# message as a file in .data/mail/ (a Maildir any mail client can open).
_email = env.email("EMAIL_URL", f"smtp://127.0.0.1:{env.int('MAILCATCHER_PORT', 1025)}")
_email_backend = _email.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": {}}}
if _email_backend.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": _email["EMAIL_HOST"],
        "port": _email.get("EMAIL_PORT") or 25,
        "username": _email.get("EMAIL_HOST_USER", ""),
        "password": _email.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": bool(_email.get("EMAIL_USE_TLS")),
        "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
        "timeout": env.int("EMAIL_TIMEOUT", 30, minimum=1),
    }
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "CRM <no-reply@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
MAIL_DIR = DATA_DIR / "mail"

# --- Campaign email (campaigns.sending, docs/campaigns.md "Sending") ---------------------------
# Messages per second of a campaign that does not set its own rate, shared by its senders.
CAMPAIGN_SEND_RATE = env.int("CAMPAIGN_SEND_RATE", 50, minimum=1, maximum=10_000)
# Sender tasks working on one campaign at once (each with its own SMTP connection).
CAMPAIGN_SENDERS = env.int("CAMPAIGN_SENDERS", 2, minimum=1, maximum=64)
# The mailer (a key of MAILERS) campaign email goes through.
CAMPAIGN_MAILER = env.str("CAMPAIGN_MAILER", "default")
CAMPAIGN_FROM_EMAIL = env.str("CAMPAIGN_FROM_EMAIL", DEFAULT_FROM_EMAIL)
# Envelope sender for bounces, e.g. "bounces@example.org": each message goes out as
# "bounces+<delivery>.<signature>@example.org" (VERP), so a bounce names its delivery. Empty:
# the From address.
CAMPAIGN_BOUNCE_ADDRESS = env.str("CAMPAIGN_BOUNCE_ADDRESS", "")
# Attempts of a message before a transient failure becomes final.
CAMPAIGN_MAX_ATTEMPTS = env.int("CAMPAIGN_MAX_ATTEMPTS", 6, minimum=1, maximum=50)
# A row claimed by a sender that shows no life for this long is taken back (its worker died).
CAMPAIGN_CLAIM_TIMEOUT = env.int("CAMPAIGN_CLAIM_TIMEOUT", 600, minimum=120)

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses to authenticate while an account or an address is locked out.
    "axes.backends.AxesStandaloneBackend",
    "crm.backends.LocalBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# A directory (OpenLDAP or Active Directory) is used when AUTH_LDAP_SERVER_URI is set. Its
# AUTH_LDAP_* settings and LDAP_ROLE_MAP / LDAP_UNIT_MAP / LDAP_UNIT_ATTRIBUTE (re-applied at every
# login) are read by crm.directory.ldap_settings; docs/ldap.md describes them.
_directory = ldap_settings(env)
globals().update(_directory)
if _directory["AUTH_LDAP_SERVER_URI"]:
    AUTHENTICATION_BACKENDS.insert(1, "crm.directory.DirectoryBackend")

# Login protection (django-axes): after LOGIN_FAILURE_LIMIT failures an account, and separately
# an address, is locked for LOGIN_LOCKOUT_MINUTES. Every failure and lockout is audited.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "crm.audit.client_ip"
AXES_VERBOSE = False

# Demo logins (user per role, password "demo") exist only on the embedded default.
DEMO_LOGINS = EMBEDDED

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "es"
LANGUAGES = [("es", _("Spanish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.time_zone("TIME_ZONE", "Europe/Madrid")
# Legal deadlines count business days (crm.calendar, docs/deadlines.md): weekends, national
# holidays, those of the body's autonomous community and of its municipality (entered as
# LocalHoliday in the administration) do not count.
HOLIDAYS_SUBDIVISION = env.choice(
    "HOLIDAYS_SUBDIVISION", "MD", holidays.country_holidays("ES").subdivisions
)
BODY_MUNICIPALITY = env.str("BODY_MUNICIPALITY", "")
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / ".data" / "static")))
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Third-party front-end libraries come from npm at install time (package.json + lock).
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(DATA_DIR / "media")))
BACKUP_DIR = Path(env.str("BACKUP_DIR", str(DATA_DIR / "backups")))
MEDIA_URL = "/media/"
# Imports of people and organisations (citizens.imports); their files live in MEDIA_ROOT/private/,
# which is never served.
IMPORT_MAX_FILE_SIZE = env.int("IMPORT_MAX_FILE_MB", 50, minimum=1) * 1024 * 1024
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", 1000, minimum=1, maximum=10000)
IMPORT_STALE_MINUTES = env.int("IMPORT_STALE_MINUTES", 10, minimum=1)
# Document jobs (reports.jobs): a run that shows no progress for DOCUMENT_JOB_STALE_MINUTES (its
# worker died) is queued again, up to DOCUMENT_JOB_MAX_ATTEMPTS runs in all; then it fails.
DOCUMENT_JOB_STALE_MINUTES = env.int("DOCUMENT_JOB_STALE_MINUTES", 5, minimum=1)
DOCUMENT_JOB_MAX_ATTEMPTS = env.int("DOCUMENT_JOB_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# Processes that lay out one long PDF table at once (reports.tabular_pdf): the web process or
# worker making it, and PDF_PROCESSES - 1 helpers, each with about 200 MB of its own.
PDF_PROCESSES = env.int("PDF_PROCESSES", min(2, len(os.sched_getaffinity(0))), minimum=1, maximum=8)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Deployments run collectstatic and serve hashed, compressed files; the embedded default
        # serves straight from the source folders.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if EMBEDDED
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = EMBEDDED
if EMBEDDED:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it, even when empty

# --- Forms ----------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security -------------------------------------------------------------------------------
HTTPS = env.bool("HTTPS", default=not EMBEDDED)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading commits the whole registrable domain to HTTPS: its owner decides, not this app.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind our own reverse proxy: trust its X-Forwarded-Proto and X-Forwarded-For.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", 30 * 60, minimum=60)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# --- Logging ------------------------------------------------------------------------------
LOG_FORMAT = env.choice("LOG_FORMAT", "text" if EMBEDDED else "json", ("text", "json"))
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "crm.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Failed logins and lockouts are in the audit trail; axes' own lines repeat them.
        "axes": {"level": "WARNING"},
        # WeasyPrint reports each step of every PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Public site (sede electrónica): anti-abuse and attachments --------------------------------
# The public forms (cases.public_views) take files checked by their content (cases.uploads): at
# most SEDE_UPLOAD_MAX_FILES per filing, each up to SEDE_UPLOAD_MAX_FILE_MB and all together up
# to SEDE_UPLOAD_MAX_TOTAL_MB.
SEDE_UPLOAD_MAX_FILES = env.int("SEDE_UPLOAD_MAX_FILES", 5, minimum=1, maximum=20)
SEDE_UPLOAD_MAX_FILE_SIZE = (
    env.int("SEDE_UPLOAD_MAX_FILE_MB", 10, minimum=1, maximum=100) * 1024 * 1024
)
SEDE_UPLOAD_MAX_TOTAL_SIZE = (
    env.int("SEDE_UPLOAD_MAX_TOTAL_MB", 20, minimum=1, maximum=200) * 1024 * 1024
)
# A form sent sooner than this after it was shown is refused (people take longer than robots).
SEDE_MIN_FILL_SECONDS = env.int("SEDE_MIN_FILL_SECONDS", 4, minimum=0, maximum=600)
# Filings (and replies) per client address in a window of minutes; over it, a 429 page.
SEDE_FILING_LIMIT = env.int("SEDE_FILING_LIMIT", 10, minimum=1)
SEDE_FILING_WINDOW_MINUTES = env.int("SEDE_FILING_WINDOW_MINUTES", 60, minimum=1)
# Attempts to open a case's tracking page (registry number and secret) per client address.
SEDE_TRACKING_LIMIT = env.int("SEDE_TRACKING_LIMIT", 20, minimum=1)
SEDE_TRACKING_WINDOW_MINUTES = env.int("SEDE_TRACKING_WINDOW_MINUTES", 10, minimum=1)

# --- Data protection ---------------------------------------------------------------------------
# Erased people's data is blocked (kept apart) for this many years before it may be destroyed.
BLOCKED_DATA_KEEP_YEARS = env.int("BLOCKED_DATA_KEEP_YEARS", 5, minimum=1, maximum=30)
# Retention (crm.retention; docs/security.md): what the nightly job ends, and after how long.
RETENTION_AUDIT_YEARS = env.int("RETENTION_AUDIT_YEARS", 5, minimum=2, maximum=50)
RETENTION_CLOSED_CASES_YEARS = env.int("RETENTION_CLOSED_CASES_YEARS", 5, minimum=1, maximum=50)
RETENTION_IMPORT_DAYS = env.int("RETENTION_IMPORT_DAYS", 30, minimum=1, maximum=3650)
# Days after a finished or cancelled campaign's last day that its deliveries name their person
# and address (campaigns.retention; two years: docs/security.md says why).
RETENTION_CAMPAIGN_DELIVERIES_DAYS = env.int(
    "RETENTION_CAMPAIGN_DELIVERIES_DAYS", 730, minimum=1, maximum=3650
)
RETENTION_DOCUMENT_JOBS_DAYS = env.int("RETENTION_DOCUMENT_JOBS_DAYS", 7, minimum=1, maximum=365)

# --- Reports -----------------------------------------------------------------------------------
# How long the dashboard keeps its figures in the cache (reports.dashboard): never more than five
# minutes (issue #8); 0 computes them on every page load.
REPORTS_DASHBOARD_CACHE_SECONDS = env.int(
    "REPORTS_DASHBOARD_CACHE_SECONDS", 300, minimum=0, maximum=300
)

# --- The body that runs this CRM --------------------------------------------------------------
BODY_NAME = env.str("BODY_NAME", "Ayuntamiento de Ejemplo")
# The body's base currency (ISO 4217): totals and the forecast are given in it (sales.currency).
BASE_CURRENCY = env.str("BASE_CURRENCY", "EUR").upper()
if len(BASE_CURRENCY) != 3 or not BASE_CURRENCY.isalpha():
    raise ImproperlyConfigured(
        f"BASE_CURRENCY must be an ISO 4217 code such as EUR, got {BASE_CURRENCY!r}."
    )
SITE_NAME = env.str("SITE_NAME", "CRM Público")
# The public site's address (sede electrónica), as citizens reach it: issued documents print it,
# with their verification code and in their QR code (crm.documents). No trailing slash.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_public_site = urlsplit(PUBLIC_BASE_URL)
if _public_site.scheme not in {"http", "https"} or not _public_site.hostname:
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL must be an absolute URL such as 'https://sede.example.org', "
        f"got {PUBLIC_BASE_URL!r}."
    )
