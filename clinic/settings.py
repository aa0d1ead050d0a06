"""Clinic Meet settings, read from the environment (12-factor, after cookiecutter-django).

With nothing set the app runs on its embedded defaults: a SQLite file and Channels' in-memory
layer. Production sets DATABASE_URL (PostgreSQL) and REDIS_URL (channels-redis and the cache),
so several Daphne processes share one database and one room state.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from clinic.environment import (
    checkout_recordings_key,
    checkout_secret_key,
    env_bool,
    env_choices,
    env_decimal,
    env_int,
    env_list,
    env_origins,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core ------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", default=False)

# SECRET_KEY signs sessions and JWTs. With DEBUG on and no SECRET_KEY set, each checkout makes
# a random key of its own on first run and keeps it in an ignored file: a key published in the
# repository would let anyone who reaches a development server forge any user's token.
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: with DEBUG off Clinic Meet refuses to start without it. Set "
            "SECRET_KEY to a long random value (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = checkout_secret_key(
        Path(env_str("SECRET_KEY_FILE", str(BASE_DIR / "var" / "secret_key")))
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",  # first, so `runserver` serves ASGI (HTTP + WebSocket)
    # Django's admin with the clinic's site: signed in through the portal's two steps.
    "visits.admin_site.ClinicAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # refresh tokens rotate; logout revokes
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our own static files
    "clinic",
    "axes",  # sign-in lockout; before visits, whose post_migrate grants staff its permissions
    # Second factor: TOTP apps, and static devices for the recovery codes. Before visits, whose
    # admin replaces their device admins.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "visits",
    "rooms",
    "rooms.recordings",
    "rooms.transcripts",
    "django_tasks",
    "django_tasks_db",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above WhiteNoise and the NUL guard, so static files and early refusals get them too (a
    # worker's script is governed by its own answer's policy).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise (static files stay cacheable), above everything that reads the request.
    "clinic.middleware.NeverCacheMiddleware",
    "clinic.middleware.RejectNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Which device, if any, verified this session; then the second-factor gate (enrol first).
    "django_otp.middleware.OTPMiddleware",
    "visits.mfa_gate.MfaGateMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication: a page's refusal is logged with who was refused.
    "clinic.middleware.RefusalsMiddleware",
    # After sessions, authentication and messages: it signs out and says why.
    "visits.idle_logoff.IdleLogoffMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lockout page
]

ROOT_URLCONF = "clinic.urls"
ASGI_APPLICATION = "clinic.asgi.application"
WSGI_APPLICATION = None

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

# --- Data ------------------------------------------------------------------------------------

DATABASE_URL = env_url("DATABASE_URL", None, schemes={"postgres", "postgresql", "pgsql", "sqlite"})
# Every SQLite database gets these, whether SQLITE_PATH or a sqlite:// DATABASE_URL names it.
# IMMEDIATE takes the write lock when a transaction starts, so the booking check-then-insert
# cannot interleave: a deferred transaction that has read and then writes is refused at once
# with "database is locked" (SQLITE_BUSY that the busy timeout never retries), a 500. WAL lets
# readers run beside the writer.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI each request runs in a fresh thread, so persistent connections are never
        # reused and pile up; a process-wide pool is the way to reuse them (Django 5.1+).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            "max_size": env_int("DB_POOL_MAX_SIZE", 10, minimum=1),
            "timeout": env_int("DB_POOL_TIMEOUT_SECONDS", 10, minimum=1),
        }
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {
            **SQLITE_OPTIONS,
            **DATABASES["default"].get("OPTIONS", {}),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "visits.User"

REDIS_URL = env_url("REDIS_URL", None, schemes={"redis", "rediss", "unix"})
# With Redis, channels-redis's pub/sub layer by default: one PUBLISH per message, pushed to the
# receiving process, where the core layer's lists cost eight round trips per message, one
# message at a time per process (bench/signaling.py; docs/scaling.md). Pub/sub keeps nothing
# for a process reconnecting to Redis: rooms notice what they missed (rooms.services'
# room version). "core" keeps the list-based layer (messages wait up to a minute in Redis).
CHANNEL_LAYER_KINDS = ("pubsub", "core")
CHANNEL_LAYER = env_str("CHANNEL_LAYER", "pubsub")
if CHANNEL_LAYER not in CHANNEL_LAYER_KINDS:
    raise ImproperlyConfigured(
        f"CHANNEL_LAYER must be one of {', '.join(CHANNEL_LAYER_KINDS)}, got {CHANNEL_LAYER!r}."
    )
if REDIS_URL:
    CHANNEL_LAYER_KEY_PREFIX = env_str("CHANNEL_LAYER_KEY_PREFIX", "clinicmeet:asgi")
    if CHANNEL_LAYER == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                    "prefix": CHANNEL_LAYER_KEY_PREFIX,
                },
            }
        }
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                # Room-state bursts (everyone's state after each change) need more than 100
                # slots. redis-py 8 times reads out after 5 s, exactly as long as channels-redis
                # blocks waiting for a message: give the socket room, or quiet rooms crash.
                "CONFIG": {
                    # redis-py's pool refuses (rather than waits) past max_connections, 100 by
                    # default: too few for a process relaying hundreds of rooms.
                    "hosts": [
                        {"address": REDIS_URL, "socket_timeout": 15, "max_connections": 1000}
                    ],
                    "capacity": 1000,
                    # Its keys apart from the cache's and the room state's in a shared Redis.
                    "prefix": CHANNEL_LAYER_KEY_PREFIX,
                },
            }
        }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "clinicmeet:cache"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Accounts --------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60, minimum=60)
# Automatic logoff (visits/idle_logoff.py): a portal or admin session with no activity this
# long is signed out; signed-in pages warn a minute before. A decimal is allowed (0.5 is 30 s),
# which the browser tests use; below 0.1 (6 s) the warning could not be read.
SESSION_IDLE_MINUTES = env_decimal("SESSION_IDLE_MINUTES", 15, minimum=0.1)

# Sign-in lockout (django-axes) on every entry point: portal, admin and the API's token.
# Axes' backend comes first, so a locked sign-in is refused before any password is hashed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "visits.lockout.LockoutHandler"
# Failures counted per username (whether or not it exists, so a lockout tells nothing) and
# per client address; either reaching its limit locks, even the right password.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("LOGIN_LOCKOUT_FAILURES_PER_ACCOUNT", 5, minimum=1)
LOGIN_LOCKOUT_FAILURES_PER_ADDRESS = env_int("LOGIN_LOCKOUT_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Every attempt during a lockout restarts it, so "try again in N minutes" holds from any attempt.
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# A successful sign-in forgives that account's own earlier mistakes (see LockoutHandler).
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "visits.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "visits.views.login.locked_out"
AXES_VERBOSE = False

# Multi-factor sign-in (django-otp): the roles that must have a second factor (TOTP, with
# recovery codes). Empty turns the requirement off; anyone who has enrolled still uses theirs.
# The role values of visits.models.Role (settings load before the models; a test compares).
ROLES = ("patient", "doctor", "admin")
MFA_REQUIRED_ROLES = env_choices("MFA_REQUIRED_ROLES", ["doctor", "admin"], choices=ROLES)
OTP_TOTP_ISSUER = "Clinic Meet"  # the name an authenticator app shows
# Nobody reads a TOTP secret or its QR code in the admin: only the person enrolling sees it.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# How long the code step waits for the code after the right password.
MFA_CODE_STEP_SECONDS = 5 * 60
# Guessing codes is bounded by the sign-in lockout, which counts each wrong code; django-otp's
# own growing delay would also refuse the right code typed a second after a typo.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
MFA_RECOVERY_CODES = 10

# --- REST API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's; a view may have the user's profile loaded in the same query.
        "visits.apis.authentication.ProfileJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the portal's own pages
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["clinic.parsers.JSONParser"],  # deep nesting and NUL: 400
    "DEFAULT_PAGINATION_CLASS": "clinic.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.exception_handler.api_exception_handler",
    # Client addresses (throttling, sign-in lockout): 0 trusts no X-Forwarded-For (no proxy).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env_int("JWT_REFRESH_HOURS", 24, minimum=1)),
    "UPDATE_LAST_LOGIN": True,
    "TOKEN_OBTAIN_SERIALIZER": "visits.apis.auth.RoleTokenObtainPairSerializer",
    # Each refresh hands out a new refresh token and retires the old one (a replay is refused).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a digest of the password hash: a new password voids every earlier token.
    "CHECK_REVOKE_TOKEN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic Meet API",
    "DESCRIPTION": (
        "Book and manage video visits. Authenticate with POST /api/auth/token/ and send "
        "`Authorization: Bearer <access>`. Times are ISO 8601 with a UTC offset; a doctor's "
        "slots are given in the doctor's time zone."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The page's script comes from /api/docs/?script (SpectacularSwaggerSplitView), not inline.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AppointmentStatusEnum": "visits.models.AppointmentStatus",
        "SimulcastOrderingEnum": "rooms.calls.apis.SIMULCAST_ORDERINGS",
    },
}

# --- Time and language -----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by WhiteNoise, also under Daphne) ----------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# In development WhiteNoise serves straight from the source folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security (production defaults; `manage.py check --deploy` is clean with DEBUG off) ------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Health probes come from inside the network over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that overwrites this header; otherwise clients could forge HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): nothing but the site's own files runs or loads. No
# inline script or style anywhere (the room page's config is a JSON data block); a template
# that ever needs an inline script gives it nonce="{{ request.csp_nonce }}". WebSockets to the
# site itself are 'self' (CSP Level 3, as Chromium, Firefox and Safari do). blob: media is a
# recording played from memory; no WASM runs (the MLS bundle is plain JavaScript).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "font-src": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}
# Powerful features off everywhere; the room page alone may use the camera, the microphone,
# screen capture and the speaker picker (rooms.views.room, ROOM_PERMISSIONS_POLICY).
PERMISSIONS_POLICY = {
    "camera": [],
    "microphone": [],
    "display-capture": [],
    "speaker-selection": [],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "serial": [],
    "hid": [],
    "midi": [],
    "browsing-topics": [],
}
ROOM_PERMISSIONS_POLICY = PERMISSIONS_POLICY | {
    "camera": "self",
    "microphone": "self",
    "display-capture": "self",
    "speaker-selection": "self",
}

# --- Video (Cloudflare Calls SFU when configured, peer-to-peer otherwise) --------------------

CALLS_APP_ID = env_str("CALLS_APP_ID", "")
CALLS_APP_SECRET = env_str("CALLS_APP_SECRET", "")
if bool(CALLS_APP_ID) != bool(CALLS_APP_SECRET):
    raise ImproperlyConfigured(
        "CALLS_APP_ID and CALLS_APP_SECRET go together: set both for Cloudflare Calls, or "
        "neither for peer-to-peer video."
    )
CALLS_API_URL = env_url(
    "CALLS_API_URL", "https://rtc.live.cloudflare.com/v1", schemes={"http", "https"}
).rstrip("/")
CALLS_CONNECT_TIMEOUT_SECONDS = env_int("CALLS_CONNECT_TIMEOUT_SECONDS", 3, minimum=1)
CALLS_READ_TIMEOUT_SECONDS = env_int("CALLS_READ_TIMEOUT_SECONDS", 10, minimum=1)
# Calls sessions one person may hold in one visit room: a page uses two (push and pull), and a
# reload makes two more before the old page's are closed.
CALLS_MAX_SESSIONS_PER_PARTICIPANT = env_int("CALLS_MAX_SESSIONS_PER_PARTICIPANT", 4, minimum=2)
# Cloudflare TURN: with a key, browsers get short-lived TURN credentials; else the STUN list.
TURN_KEY_ID = env_str("TURN_KEY_ID", "")
TURN_KEY_API_TOKEN = env_str("TURN_KEY_API_TOKEN", "")
TURN_CREDENTIAL_TTL_SECONDS = env_int("TURN_CREDENTIAL_TTL_SECONDS", 86_400, minimum=600)
ICE_SERVERS = env_list("ICE_SERVERS", ["stun:stun.cloudflare.com:3478"])
# End-to-end encryption of the visit's media (MLS in the browsers; docs/e2ee.md): "off",
# "optional" (the doctor turns it on for a visit) or "required" (no call starts without it).
E2EE_MODES = ("off", "optional", "required")
E2EE = env_str("E2EE", "optional")
if E2EE not in E2EE_MODES:
    raise ImproperlyConfigured(f"E2EE must be one of {', '.join(E2EE_MODES)}, got {E2EE!r}.")
MAX_WEBCAM_BITRATE = env_int("MAX_WEBCAM_BITRATE", 1_200_000, minimum=1)
MAX_WEBCAM_FRAMERATE = env_int("MAX_WEBCAM_FRAMERATE", 24, minimum=1)
MAX_WEBCAM_QUALITY_LEVEL = env_int("MAX_WEBCAM_QUALITY_LEVEL", 1080, minimum=1)

# --- Visit rooms -----------------------------------------------------------------------------

# Room state keys in Redis (when REDIS_URL is set); a distinct prefix lets deployments share one.
ROOM_STATE_KEY_PREFIX = env_str("ROOM_STATE_KEY_PREFIX", "clinicmeet:room:")
# Redis connections per process for the room state (a pool that makes bursts wait, not fail).
ROOM_STATE_REDIS_CONNECTIONS = env_int("ROOM_STATE_REDIS_CONNECTIONS", 50, minimum=1)
# A participant silent this long (no frame, no ping) is dropped from the room.
ROOM_SILENCE_TIMEOUT_SECONDS = env_int("ROOM_SILENCE_TIMEOUT_SECONDS", 30, minimum=2)

# --- Recordings (rooms/recordings, docs/recordings.md) ---------------------------------------

# Uploaded files live here, and no URL serves this folder: recordings are played only through
# their API, which checks who asks and decrypts.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# An S3-compatible store in production: storages.backends.s3.S3Storage (the `s3` extra),
# configured by django-storages' own AWS_* settings.
RECORDINGS_STORAGE_BACKEND = env_str(
    "RECORDINGS_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
)
STORAGES["recordings"] = {
    "BACKEND": RECORDINGS_STORAGE_BACKEND,
    "OPTIONS": (
        {"location": str(MEDIA_ROOT / "recordings"), "base_url": None}
        if RECORDINGS_STORAGE_BACKEND.endswith("FileSystemStorage")
        else {"default_acl": "private", "querystring_auth": True}
    ),
}
# django-storages reads these from settings (docs/recordings.md); boto3 takes the credentials
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) from the environment itself.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None  # for a non-AWS S3 store
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
# The key recordings are encrypted with (32 bytes, URL-safe base64). Without it and with DEBUG
# off nobody can record; with DEBUG on each checkout makes one in an ignored file.
RECORDINGS_KEY = env_str("RECORDINGS_KEY", "")
if not RECORDINGS_KEY and DEBUG:
    RECORDINGS_KEY = checkout_recordings_key(
        Path(env_str("RECORDINGS_KEY_FILE", str(BASE_DIR / "var" / "recordings_key")))
    )
RECORDING_RETENTION_DAYS = env_int("RECORDING_RETENTION_DAYS", 7 * 365, minimum=1)
RECORDING_CHUNK_MAX_BYTES = env_int("RECORDING_CHUNK_MAX_BYTES", 8 * 1024 * 1024, minimum=1024)
# After a stop, chunks still buffered in the doctor's browser may arrive this long; then the
# worker finalises with what it has.
RECORDING_UPLOAD_GRACE_SECONDS = env_int("RECORDING_UPLOAD_GRACE_SECONDS", 30, minimum=0)
# A recording that is on but gets no chunk this long (the doctor's browser is gone) is stopped.
RECORDING_IDLE_SECONDS = env_int("RECORDING_IDLE_SECONDS", 120, minimum=5)

# The task queue: in the database (django-tasks-db), run by `manage.py recordings_worker`.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Transcription and the AI scribe (rooms/transcripts, docs/transcripts.md) ----------------

# Which speech recognition engine transcribes: "local" (offline, the model inside a Python
# package) or "openai-realtime" (OpenAI's Realtime API; OPENAI_API_KEY is then required).
TRANSCRIPTION_ENGINES = ("local", "openai-realtime")
TRANSCRIPTION_ENGINE = env_str("TRANSCRIPTION_ENGINE", "local")
if TRANSCRIPTION_ENGINE not in TRANSCRIPTION_ENGINES:
    raise ImproperlyConfigured(
        f"TRANSCRIPTION_ENGINE must be one of {', '.join(TRANSCRIPTION_ENGINES)}, "
        f"got {TRANSCRIPTION_ENGINE!r}."
    )
# Engine processes per server process (each holds its model); streams are spread over them.
TRANSCRIPTION_WORKERS = env_int("TRANSCRIPTION_WORKERS", 1, minimum=1)
# Audio a stream may have sent and not yet had recognised before the server refuses more: the
# doctor's page holds the rest (and says "transcript delayed").
TRANSCRIPTION_MAX_BACKLOG_SECONDS = env_int("TRANSCRIPTION_MAX_BACKLOG_SECONDS", 20, minimum=2)
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "https://api.openai.com/v1", schemes={"http", "https"})
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
OPENAI_REALTIME_TRANSCRIPTION_MODEL = env_str(
    "OPENAI_REALTIME_TRANSCRIPTION_MODEL", "gpt-4o-transcribe"
)
OPENAI_FILE_TRANSCRIPTION_MODEL = env_str("OPENAI_FILE_TRANSCRIPTION_MODEL", "gpt-4o-transcribe")
# The draft note's LLM, any server speaking OpenAI's Chat Completions API (OpenAI, llama.cpp,
# vLLM, Ollama). Unset: no "Draft note" button, and the API answers 409.
LLM_BASE_URL = env_url("LLM_BASE_URL", None, schemes={"http", "https"})
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
LLM_API_KEY = env_str("LLM_API_KEY", "")
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 120, minimum=1)

# --- Serving (python -m clinic.server: Daphne with these limits) -----------------------------

# A request must arrive whole this fast (slow clients otherwise hold connections for minutes);
# a keep-alive connection with nothing to do closes after the idle timeout.
HTTP_REQUEST_TIMEOUT_SECONDS = env_int("HTTP_REQUEST_TIMEOUT_SECONDS", 30, minimum=1)
HTTP_IDLE_TIMEOUT_SECONDS = env_int("HTTP_IDLE_TIMEOUT_SECONDS", 20, minimum=1)
# The application must start its answer within this (Daphne answers 503 otherwise); above the
# Calls proxy's worst case (3 attempts of a 3 s connect + 10 s read timeout).
HTTP_RESPONSE_TIMEOUT_SECONDS = env_int("HTTP_RESPONSE_TIMEOUT_SECONDS", 60, minimum=1)
WEBSOCKET_CONNECT_TIMEOUT_SECONDS = env_int("WEBSOCKET_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
WEBSOCKET_PING_INTERVAL_SECONDS = env_int("WEBSOCKET_PING_INTERVAL_SECONDS", 20, minimum=1)
WEBSOCKET_PING_TIMEOUT_SECONDS = env_int("WEBSOCKET_PING_TIMEOUT_SECONDS", 30, minimum=1)

# --- Logging ---------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
