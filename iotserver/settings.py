"""iotserver settings: everything comes from the environment (see the README's table).

Every default is embedded and local (SQLite, local-memory cache, a broker on localhost), so
``make run`` works on a bare machine; with ``DEBUG=0`` nothing is generated and missing
secrets stop the process at start with a message naming the variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from iotserver import keys
from iotserver.env import (
    env_bool,
    env_choice,
    env_file,
    env_int,
    env_list,
    env_str,
    env_url,
    env_url_list,
    url_without_userinfo,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DEV_SECRETS_DIR = BASE_DIR / ".devsecrets"

DEBUG = env_bool("DEBUG", True)
IOTSERVER_ROLE = env_choice("IOTSERVER_ROLE", "all", ("all", "auth", "telemetry"))
SERVES_AUTH = IOTSERVER_ROLE in ("all", "auth")
SERVES_TELEMETRY = IOTSERVER_ROLE in ("all", "telemetry")

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG=0")
    SECRET_KEY = keys.dev_secret_key(DEV_SECRETS_DIR)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "accounts",
    "telemetry",
    "ingest",
    "dashboard",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
if not SERVES_AUTH:
    # The telemetry role answers bearer-token JSON only: no session cookie to read, no user
    # row to load, no flash messages. It serves no admin either, whose checks ask for these.
    MIDDLEWARE = [
        m
        for m in MIDDLEWARE
        if m.rsplit(".", 1)[-1]
        not in {"SessionMiddleware", "AuthenticationMiddleware", "MessageMiddleware"}
    ]
    SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

ROOT_URLCONF = "iotserver.urls"
WSGI_APPLICATION = "iotserver.wsgi.application"
ASGI_APPLICATION = "iotserver.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "iotserver" / "templates"],
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

# --- Databases -------------------------------------------------------------------------
DATABASE_URL = env_url(
    "DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}", ("sqlite", "postgres", "postgresql")
)
TELEMETRY_DATABASE_URL = env_url(
    "TELEMETRY_DATABASE_URL", None, ("sqlite", "postgres", "postgresql")
)


def _database(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"].endswith("sqlite3"):
        config["CONN_MAX_AGE"] = 0
        # WAL lets the ingester write while the web process reads; IMMEDIATE transactions
        # take the write lock up front, so concurrent writers wait (up to the timeout)
        # instead of failing with "database is locked" when a read upgrades to a write.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        }
    return config


DATABASES = {"default": _database(DATABASE_URL)}
if TELEMETRY_DATABASE_URL and TELEMETRY_DATABASE_URL != DATABASE_URL:
    DATABASES["telemetry"] = _database(TELEMETRY_DATABASE_URL)
DATABASE_ROUTERS = ["telemetry.routers.TelemetryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Telemetry storage -----------------------------------------------------------------
TELEMETRY_BACKEND = env_choice("TELEMETRY_BACKEND", "sql", ("sql", "mongo"))
MONGO_URL = env_url("MONGO_URL", None, ("mongodb", "mongodb+srv"))
if TELEMETRY_BACKEND == "mongo" and not MONGO_URL:
    raise ImproperlyConfigured("MONGO_URL: required when TELEMETRY_BACKEND=mongo")
TELEMETRY_PAGE_MAX = env_int("TELEMETRY_PAGE_MAX", 1000, minimum=1)
TELEMETRY_CSV_MAX_ROWS = env_int("TELEMETRY_CSV_MAX_ROWS", 1_000_000, minimum=1)
TELEMETRY_AGG_MAX_ROWS = env_int("TELEMETRY_AGG_MAX_ROWS", 5_000_000, minimum=1)
# Buckets one aggregate request may produce (raw and rollup buckets alike).
TELEMETRY_AGG_MAX_BUCKETS = env_int("TELEMETRY_AGG_MAX_BUCKETS", 10_000, minimum=1)
TELEMETRY_RANGE_MAX_ROWS = env_int("TELEMETRY_RANGE_MAX_ROWS", 100_000, minimum=1)
# Latest values and device owners are cached this long. With Redis the write path keeps
# them fresh, so a long TTL is safe; the local-memory cache is per process, so it is short.
TELEMETRY_CACHE_SECONDS = env_int(
    "TELEMETRY_CACHE_SECONDS", 3600 if env_str("REDIS_URL") else 5, minimum=0
)

# --- MQTT ------------------------------------------------------------------------------
MQTT_URL = env_url("MQTT_URL", "mqtt://127.0.0.1:1883", ("mqtt", "mqtts"))
# /system/status probes the dependencies at most this often per process.
SYSTEM_STATUS_CACHE_SECONDS = env_int("SYSTEM_STATUS_CACHE_SECONDS", 5, minimum=0)
# What devices are told to connect to (POST /devices, the Devices page); never credentials.
MQTT_PUBLIC_URL = env_url("MQTT_PUBLIC_URL", None, ("mqtt", "mqtts")) or url_without_userinfo(
    MQTT_URL
)
# CA bundle that signs the broker's certificate for mqtts:// (unset: the system's CAs).
MQTT_CA_FILE = env_file("MQTT_CA_FILE")
# Ingester accounts (user:password of each URL) that mqtt_auth_sync lets read every topic.
MQTT_INGEST_URLS = env_url_list("MQTT_INGEST_URLS", ("mqtt", "mqtts")) or [MQTT_URL]
MQTT_INTERNAL_USERNAMES = sorted(
    {unquote(user) for user in (urlsplit(url).username for url in MQTT_INGEST_URLS) if user}
)
# mqtt_auth_sync --watch: how often it compares the registry with the files it wrote, and
# which broker it makes reload them (SIGHUP to the pid in this file; unset: none).
MQTT_AUTH_SYNC_INTERVAL_SECONDS = env_int("MQTT_AUTH_SYNC_INTERVAL_SECONDS", 1, minimum=1)
MQTT_BROKER_PID_FILE = env_str("MQTT_BROKER_PID_FILE", "") or None

# --- Ingest (ingest_mqtt; command-line options override these) -------------------------
INGEST_CLIENT_ID = env_str("INGEST_CLIENT_ID", "iotserver-ingest")
INGEST_TOPIC_FILTER = env_str("INGEST_TOPIC_FILTER", "#")
INGEST_SHARED_GROUP = env_str("INGEST_SHARED_GROUP", "") or None
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 1000, minimum=1)
INGEST_MAX_WAIT_MS = env_int("INGEST_MAX_WAIT_MS", 200, minimum=1)
INGEST_WRITERS = env_int("INGEST_WRITERS", 1, minimum=0)
INGEST_MAX_PAYLOAD_BYTES = env_int("INGEST_MAX_PAYLOAD_BYTES", 65536, minimum=1)
INGEST_DEAD_LETTER_MAX_BYTES = env_int("INGEST_DEAD_LETTER_MAX_BYTES", 4096, minimum=0)
INGEST_SESSION_EXPIRY_SECONDS = env_int("INGEST_SESSION_EXPIRY_SECONDS", 7 * 24 * 3600, minimum=60)
INGEST_RECEIVE_MAXIMUM = env_int("INGEST_RECEIVE_MAXIMUM", 10000, minimum=1)
INGEST_METRICS_PORT = env_int("INGEST_METRICS_PORT", 0, minimum=0)
INGEST_MQTT_PROTOCOL = env_choice("INGEST_MQTT_PROTOCOL", "5", ("5", "3.1.1"))
INGEST_LOG_INTERVAL_SECONDS = env_int("INGEST_LOG_INTERVAL_SECONDS", 60, minimum=1)
# mqtt_auth_sync writes these for Mosquitto's password_file / acl_file (unset: pass options).
MQTT_PASSWORD_FILE = env_str("MQTT_PASSWORD_FILE", "") or None
MQTT_ACL_FILE = env_str("MQTT_ACL_FILE", "") or None

# --- Cache -----------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", None, ("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "iotserver",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a worker killed mid-task: the task runs again
CELERY_RESULT_EXPIRES = 3600
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Telemetry maintenance: rollups, retention, device liveness (telemetry.tasks) -------
# 0 keeps data forever. Raw readings can expire long before rollups: charts over months
# read rollups.
TELEMETRY_RAW_RETENTION_DAYS = env_int("TELEMETRY_RAW_RETENTION_DAYS", 0, minimum=0)
TELEMETRY_ROLLUP_RETENTION_DAYS = env_int("TELEMETRY_ROLLUP_RETENTION_DAYS", 0, minimum=0)
TELEMETRY_DEAD_LETTER_RETENTION_DAYS = env_int(
    "TELEMETRY_DEAD_LETTER_RETENTION_DAYS", 30, minimum=0
)
TELEMETRY_RETENTION_BATCH_SIZE = env_int("TELEMETRY_RETENTION_BATCH_SIZE", 5000, minimum=1)
TELEMETRY_AGG_USE_ROLLUPS = env_bool("TELEMETRY_AGG_USE_ROLLUPS", True)
TELEMETRY_ROLLUP_INTERVAL_SECONDS = env_int("TELEMETRY_ROLLUP_INTERVAL_SECONDS", 60, minimum=5)
TELEMETRY_RETENTION_INTERVAL_SECONDS = env_int(
    "TELEMETRY_RETENTION_INTERVAL_SECONDS", 3600, minimum=60
)
DEVICE_OFFLINE_AFTER_SECONDS = env_int("DEVICE_OFFLINE_AFTER_SECONDS", 300, minimum=1)
DEVICE_LIVENESS_INTERVAL_SECONDS = env_int("DEVICE_LIVENESS_INTERVAL_SECONDS", 30, minimum=5)
CELERY_BEAT_SCHEDULE: dict = {
    "telemetry-rollup-refresh": {
        "task": "telemetry.rollup_refresh",
        "schedule": float(TELEMETRY_ROLLUP_INTERVAL_SECONDS),
        "options": {"expires": float(TELEMETRY_ROLLUP_INTERVAL_SECONDS)},
    },
    "telemetry-retention-enforce": {
        "task": "telemetry.retention_enforce",
        "schedule": float(TELEMETRY_RETENTION_INTERVAL_SECONDS),
        "options": {"expires": float(TELEMETRY_RETENTION_INTERVAL_SECONDS)},
    },
    "telemetry-device-offline-mark": {
        "task": "telemetry.device_offline_mark",
        "schedule": float(DEVICE_LIVENESS_INTERVAL_SECONDS),
        "options": {"expires": float(DEVICE_LIVENESS_INTERVAL_SECONDS)},
    },
}

# --- Account events (accounts.outbox -> Celery -> telemetry.account_events) -------------
# What happens to a deleted account's readings and rollups: purge (deleted in batches, the
# device names free for anyone) or keep (for staff only; the names stay reserved).
ACCOUNT_DELETE_DATA = env_choice("ACCOUNT_DELETE_DATA", "purge", ("purge", "keep"))
# The relay also runs right after each change's commit; this pass catches up on the rest.
ACCOUNT_EVENT_RELAY_SECONDS = env_int("ACCOUNT_EVENT_RELAY_SECONDS", 2, minimum=1)
CELERY_BEAT_SCHEDULE["accounts-outbox-relay"] = {
    "task": "accounts.outbox_relay",
    "schedule": float(ACCOUNT_EVENT_RELAY_SECONDS),
    "options": {"expires": float(ACCOUNT_EVENT_RELAY_SECONDS)},
}

# --- Accounts and JWT ------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

JWT_ISSUER = env_str("JWT_ISSUER", "iotserver")
JWT_AUDIENCE = env_str("JWT_AUDIENCE", "iotserver")
JWT_PRIVATE_KEY_FILE = env_file("JWT_PRIVATE_KEY_FILE")
JWT_PUBLIC_KEY_FILE = env_file("JWT_PUBLIC_KEY_FILE")
if DEBUG and not JWT_PUBLIC_KEY_FILE and not JWT_PRIVATE_KEY_FILE:
    _private, _public = keys.dev_key_pair(DEV_SECRETS_DIR)
    JWT_PRIVATE_KEY_FILE, JWT_PUBLIC_KEY_FILE = str(_private), str(_public)
if SERVES_AUTH and not JWT_PRIVATE_KEY_FILE:
    raise ImproperlyConfigured(
        f"JWT_PRIVATE_KEY_FILE: required for IOTSERVER_ROLE={IOTSERVER_ROLE} (it signs tokens)"
    )
if not JWT_PUBLIC_KEY_FILE:
    raise ImproperlyConfigured("JWT_PUBLIC_KEY_FILE: required (every role verifies tokens)")
JWT_ACCESS_MINUTES = env_int("JWT_ACCESS_MINUTES", 15, minimum=1)
JWT_REFRESH_HOURS = env_int("JWT_REFRESH_HOURS", 24, minimum=1)
# Absolute end of a refresh token chain (a login and every rotation after it): no rotated
# token outlives it, however often it is refreshed (accounts.models.RefreshChain).
JWT_SESSION_MAX_DAYS = env_int("JWT_SESSION_MAX_DAYS", 30, minimum=1)

SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    # The telemetry role holds the public key only: it can verify, never mint.
    "SIGNING_KEY": Path(JWT_PRIVATE_KEY_FILE).read_text() if SERVES_AUTH else "",
    "VERIFYING_KEY": Path(JWT_PUBLIC_KEY_FILE).read_text(),
    "ISSUER": JWT_ISSUER,
    "AUDIENCE": JWT_AUDIENCE,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=JWT_REFRESH_HOURS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
    "LEEWAY": 0,
}

# --- Email (password reset) ------------------------------------------------------------
# Console backend unless EMAIL_HOST is set: the email, reset token included, goes to the
# process output, which is fine for development only.
EMAIL_HOST = env_str("EMAIL_HOST", "") or ""
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10  # seconds; Django's default waits for ever on a silent server
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "iotserver <noreply@localhost>")
# Base of the link in the reset email (uid and token follow in the #fragment, which browsers
# never send to a server or its logs); a path is completed with the request's host.
PASSWORD_RESET_URL = env_str("PASSWORD_RESET_URL", "/reset-password") or "/reset-password"
if not PASSWORD_RESET_URL.startswith(("/", "https://", "http://")):
    raise ImproperlyConfigured(
        f"PASSWORD_RESET_URL: expected a path (/reset-password) or an http(s) URL, "
        f"got {PASSWORD_RESET_URL!r}"
    )

# --- REST framework --------------------------------------------------------------------
NUM_PROXIES = env_int("NUM_PROXIES", 0, minimum=0)
# API clients send `Authorization: Bearer` (checked first, so its 401 is what they see). A
# person in the browsable API logs in at /api-auth/login/: the roles with the user table keep
# a Django session; every role with telemetry accepts the access token that login sets in
# this cookie, for the browsable HTML renderer only (iotserver.authentication).
BROWSABLE_API_TOKEN_COOKIE = "iot_access"
_AUTHENTICATION_CLASSES = ["iotserver.authentication.VerifiedOnceJWTAuthentication"]
if SERVES_AUTH:
    _AUTHENTICATION_CLASSES.append("accounts.authentication.BrowsableAPISessionAuthentication")
if SERVES_TELEMETRY:
    _AUTHENTICATION_CLASSES.append("iotserver.authentication.BrowsableAPICookieAuthentication")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": _AUTHENTICATION_CLASSES,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["iotserver.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "iotserver.schema.AutoSchema",
    "EXCEPTION_HANDLER": "iotserver.errors.api_exception_handler",
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "login_ip": env_str("THROTTLE_LOGIN_IP", "30/min"),
        "login_email": env_str("THROTTLE_LOGIN_EMAIL", "5/min"),
        "register_ip": env_str("THROTTLE_REGISTER_IP", "10/min"),
    },
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "iotserver API",
    "DESCRIPTION": "IoT telemetry: JWT accounts, devices and sensor readings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are validated whole (each view's serializer states what it needs).
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": "",
}

# --- HTTP and security -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
APPEND_SLASH = False

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Dashboard (web pages of the `all` role) -----------------------------------------
# uPlot comes from npm (`npm ci`, package-lock.json); its dist folder is served under this
# prefix. A missing folder is reported by the dashboard.W001 system check.
STATICFILES_DIRS = [("vendor/uplot", BASE_DIR / "node_modules" / "uplot" / "dist")]

# --- Logging ---------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
