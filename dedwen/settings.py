"""Settings for dedwen: one module, configured by environment variables (see docs/configuration.md)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from dedwen.env import (
    env_bool,
    env_drf_rate,
    env_float,
    env_hostports,
    env_int,
    env_list,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DEDWEN_VAR_DIR", str(BASE_DIR / "var")))

# --- Mode -------------------------------------------------------------------------------------
# DEDWEN_DEBUG=1 (the default) is the local, embedded setup; DEDWEN_DEBUG=0 is production.
DEBUG = env_bool("DEDWEN_DEBUG", True)
# Behind TLS (production): secure cookies, HSTS and an HTTPS redirect. DEDWEN_HTTPS=0 serves plain HTTP.
HTTPS = env_bool("DEDWEN_HTTPS", not DEBUG)


def _secret_key() -> str:
    """Return DEDWEN_SECRET_KEY, or in debug a key generated once into the var directory."""
    key = env_str("DEDWEN_SECRET_KEY")
    if key is not None:
        if len(key) < 50:
            raise ImproperlyConfigured("DEDWEN_SECRET_KEY must be at least 50 characters long")
        return key
    if not DEBUG:
        raise ImproperlyConfigured("DEDWEN_SECRET_KEY is required when DEDWEN_DEBUG=0")
    path = VAR_DIR / "secret_key"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="ascii") as handle:  # first process wins; the others read it
            handle.write(secrets.token_urlsafe(64))
    except FileExistsError:
        pass
    return path.read_text(encoding="ascii").strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DEDWEN_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])

# --- Applications -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "axes",
    "channels",
    "realtime",
    "accounts",
    "messaging",
    "presence",
    "operations",
]

MIDDLEWARE = [
    "realtime.middleware.JSONErrorMiddleware",  # outermost: sees every error answer the others make
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.DeviceSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "realtime.middleware.ServiceUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dedwen.urls"
ASGI_APPLICATION = "dedwen.asgi.application"

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
                "realtime.context_processors.protocol",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url is None:
    _sqlite_path = env_str("DEDWEN_SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))
    # FULL: each commit's log is on disk before the commit returns, so an acknowledged message
    # survives a power loss or an OS crash, as with PostgreSQL's default. NORMAL (durable off) syncs
    # only at checkpoints: a commit since the last one may roll back after a power loss (never
    # after a process crash).
    _sqlite_synchronous = "FULL" if env_bool("DEDWEN_SQLITE_DURABLE", True) else "NORMAL"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _sqlite_path,
            # A file (not :memory:) so that the daphne processes end-to-end tests start share it.
            "TEST": {"NAME": f"{_sqlite_path}.test"},
            # Keep the connection: opening a SQLite file per query was a fifth of the socket path's CPU.
            "CONN_MAX_AGE": None,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={_sqlite_synchronous};",
            },
        }
    }
else:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not valid: {exc}") from exc
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env_int("DEDWEN_DB_POOL_SIZE", 8, minimum=1),
            "timeout": 5,
        }
# Seconds between a serving process's checkpoints of the SQLite log, run from a thread so that commits
# seldom wait for one (dedwen/sqlite.py); 0: SQLite checkpoints inside commits, as by default.
DEDWEN_SQLITE_CHECKPOINT_EVERY = env_float("DEDWEN_SQLITE_CHECKPOINT_EVERY", 1.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer and presence ---------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
DEDWEN_REDIS_PREFIX = env_str("DEDWEN_REDIS_PREFIX", "dedwen")  # keys and channels of this deployment
# Sentinel: REDIS_URL still switches Redis on and names db/username/password; the master's address
# comes from these Sentinels (realtime/redis.py builds every client).
DEDWEN_REDIS_SENTINELS = env_hostports("DEDWEN_REDIS_SENTINELS")
DEDWEN_REDIS_MASTER = env_str("DEDWEN_REDIS_MASTER")
if bool(DEDWEN_REDIS_SENTINELS) != bool(DEDWEN_REDIS_MASTER):
    raise ImproperlyConfigured("DEDWEN_REDIS_SENTINELS and DEDWEN_REDIS_MASTER are set together or not at all")
if DEDWEN_REDIS_SENTINELS and REDIS_URL is None:
    raise ImproperlyConfigured("DEDWEN_REDIS_SENTINELS needs REDIS_URL (it names the database and password)")
if REDIS_URL is None:
    CHANNEL_LAYERS = {"default": {"BACKEND": "realtime.layers.InProcessChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub (memberships are subscriptions: no group_expiry, no capacity drops), with
            # redis-py's BlockingConnectionPool: a burst waits up to `timeout` for a connection
            # instead of raising at max_connections. Socket timeouts are explicit; none of them is a
            # blocking-pop timeout (pub/sub has none). An unreachable Redis fails fast (4503).
            "BACKEND": "realtime.layers.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": 64,
                        "timeout": 10,
                        "socket_connect_timeout": 2,
                        "socket_timeout": 15,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ],
                "prefix": DEDWEN_REDIS_PREFIX,
            },
        }
    }

# Django's cache holds the REST throttles' counters: in Redis (shared by every process) when
# REDIS_URL is set, in the process's memory otherwise. Short timeouts: a lost Redis must not hold a request.
if REDIS_URL is None:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dedwen"}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{DEDWEN_REDIS_PREFIX}:cache",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    if DEDWEN_REDIS_SENTINELS:
        CACHES["default"]["OPTIONS"]["pool_class"] = "realtime.redis.SyncMasterPool"

# --- Real-time --------------------------------------------------------------------------------
# Who a socket's token speaks for: the kernel asks this object (realtime/auth.py).
DEDWEN_SOCKET_AUTHENTICATOR = "accounts.sockets.authenticator"
DEDWEN_WS_AUTH_TIMEOUT = env_float("DEDWEN_WS_AUTH_TIMEOUT", 10.0, minimum=0.05)
DEDWEN_WS_MAX_FRAME = env_int("DEDWEN_WS_MAX_FRAME", 65536, minimum=1024)
DEDWEN_WS_RATE = env_rate("DEDWEN_WS_RATE", "60/30")
DEDWEN_WS_MAX_SOCKETS_PER_USER = env_int("DEDWEN_WS_MAX_SOCKETS_PER_USER", 20, minimum=1)
DEDWEN_WS_SEND_BUFFER = env_int("DEDWEN_WS_SEND_BUFFER", 1048576, minimum=16384)
DEDWEN_WS_DEVICE_RECHECK = env_float("DEDWEN_WS_DEVICE_RECHECK", 30.0, minimum=0.05)
DEDWEN_PRESENCE_TTL = env_float("DEDWEN_PRESENCE_TTL", 60.0, minimum=0.5)
# Seconds a user's last socket may be gone before `offline` is announced (0: at once).
DEDWEN_PRESENCE_GRACE = env_float("DEDWEN_PRESENCE_GRACE", 5.0, minimum=0.0)
DEDWEN_MESSAGE_MAX_LENGTH = env_int("DEDWEN_MESSAGE_MAX_LENGTH", 4000, minimum=1)
# Most `message.new` frames one `sync` answers before `sync.done` says `more: true`.
DEDWEN_SYNC_BATCH = env_int("DEDWEN_SYNC_BATCH", 500, minimum=1, maximum=10000)
# On SIGTERM: the window over which the sockets get `goaway` and a 4001 close (realtime/drain.py).
DEDWEN_DRAIN_SECONDS = env_float("DEDWEN_DRAIN_SECONDS", 10.0, minimum=0.0)
# Bearer token that unlocks /metrics from any address; unset: loopback only.
DEDWEN_METRICS_TOKEN = env_str("DEDWEN_METRICS_TOKEN")

# --- Authentication ---------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "inbox"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

def _jwt_signing_key() -> str:
    """Return DEDWEN_JWT_SIGNING_KEY; in production it is required, 32 bytes or more, and not the secret key."""
    key = env_str("DEDWEN_JWT_SIGNING_KEY")
    if DEBUG:
        return key or SECRET_KEY
    if key is None:
        raise ImproperlyConfigured("DEDWEN_JWT_SIGNING_KEY is required when DEDWEN_DEBUG=0")
    if len(key.encode()) < 32:
        raise ImproperlyConfigured("DEDWEN_JWT_SIGNING_KEY must be at least 32 bytes long")
    if key == SECRET_KEY:
        # One leaked key must not both forge sessions and mint tokens.
        raise ImproperlyConfigured("DEDWEN_JWT_SIGNING_KEY must differ from DEDWEN_SECRET_KEY")
    return key


ACCESS_TOKEN_LIFETIME = env_int("DEDWEN_ACCESS_TOKEN_LIFETIME", 300, minimum=1)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ACCESS_TOKEN_LIFETIME),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_int("DEDWEN_REFRESH_TOKEN_LIFETIME", 14 * 86400, minimum=60)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": _jwt_signing_key(),
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.DeviceAccessToken",),
    "TOKEN_REFRESH_SERIALIZER": "accounts.serializers.DeviceTokenRefreshSerializer",
}
# A rotated-out refresh token presented again later than this revokes its device (reuse detection);
# within it (two concurrent refreshes, a retried request) it is only refused.
DEDWEN_REFRESH_REUSE_GRACE = env_float("DEDWEN_REFRESH_REUSE_GRACE", 10.0, minimum=0.0)

# Failed logins only, within 15 minutes: 5 per (username, client IP) pair, so that nobody can lock a
# victim out from elsewhere, and 50 per client IP across usernames (accounts/throttling.py), enough for
# a shared office NAT's typos while bounding one address to 200 guesses an hour.
AXES_FAILURE_LIMIT = env_int("DEDWEN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
DEDWEN_LOGIN_IP_FAILURE_LIMIT = env_int("DEDWEN_LOGIN_IP_FAILURE_LIMIT", 50, minimum=AXES_FAILURE_LIMIT)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "accounts.throttling.lockout_response"
# Failures 1..5 answer 401 (FailureCountingHandler); from the 6th attempt on, axes' backend refuses
# before the password is checked and does not count the refusal (the window runs from the last failure).
AXES_HANDLER = "accounts.throttling.FailureCountingHandler"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False
# Reverse proxies in front of dedwen: the client's address is read that many hops back in X-Forwarded-For.
DEDWEN_PROXY_COUNT = env_int("DEDWEN_PROXY_COUNT", 0, minimum=0, maximum=10)
AXES_CLIENT_IP_CALLABLE = "accounts.services.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password", "token", "refresh"]

# --- REST -------------------------------------------------------------------------------------
# Per-user budgets of REST writes (DRF rate syntax, sliding window; messaging/throttling.py).
DEDWEN_THROTTLE_MESSAGES = env_drf_rate("DEDWEN_THROTTLE_MESSAGES", "120/min")
DEDWEN_THROTTLE_CONVERSATIONS = env_drf_rate("DEDWEN_THROTTLE_CONVERSATIONS", "60/hour")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.DeviceJWTAuthentication",
        "accounts.authentication.DeviceSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["realtime.rest.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "realtime.rest.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "dedwen API",
    "DESCRIPTION": "REST side of dedwen; every change is also pushed live over /ws/ (see docs/protocol.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
CSRF_TRUSTED_ORIGINS = env_list("DEDWEN_CSRF_TRUSTED_ORIGINS", [])
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DEDWEN_BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Static files, i18n -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: never a token or a password (see dedwen/logging.py) -----------------------------
# DEDWEN_LOG_FORMAT: `text` (one line per record) or `json` (one JSON object per line).
_LOG_FORMAT = {"text": "plain", "json": "json"}.get(env_str("DEDWEN_LOG_FORMAT", "text") or "text")
if _LOG_FORMAT is None:
    raise ImproperlyConfigured("DEDWEN_LOG_FORMAT must be `text` or `json`")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "dedwen.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"()": "dedwen.logging.RedactingFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object per line (python-json-logger): timestamp, level, logger name, message, extras.
        "json": {
            "()": "dedwen.logging.RedactingJsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": _LOG_FORMAT, "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env_str("DEDWEN_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "daphne.access": {"level": "INFO"},  # daphne's access log (realtime/server.py LoggedAccessLog)
    },
}
