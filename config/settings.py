"""Settings for fengqiao: one module, driven by environment variables.

With no variables at all the site runs locally: DEBUG on, SQLite in var/, a broker on the
filesystem that needs no server. `DJANGO_PRODUCTION=true` turns DEBUG off and asks for a real
SECRET_KEY; the hardening switches below turn on HTTPS-only behaviour.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FENGQIAO_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

TESTING = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")

PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)

_DEV_SECRET = "django-insecure-fengqiao-development-key-do-not-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_PRODUCTION is on")
    SECRET_KEY = _DEV_SECRET
    if not TESTING:
        sys.stderr.write("warning: DJANGO_SECRET_KEY is not set: using the development key\n")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS hardening: on by default in production (`check --deploy` passes with nothing
# silenced), off locally. Each switch can be turned off by name, e.g.
# DJANGO_SECURE_SSL_REDIRECT=false behind a proxy that already redirects to HTTPS.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mptt",
    "leaflet",
    "django_htmx",
    "django_celery_beat",
    # Before grids: grids.admin replaces the admin of axes' access attempts.
    "axes",
    "grids",
    "grievances",
    "notifications",
    "dispatch",
    "mediation",
    "duplicates",
    "desk",
    "evaluation",
    "pwa",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "grids.middleware.RefuseNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "grids.middleware.PasswordChangeRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a sign-in refused by a lockout into its 429 page (grids.lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = env_str("DJANGO_ROOT_URLCONF", "config.urls")
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "grids.context_processors.shell",
                "notifications.services.unread_count",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------
# SQLite waits for a writer instead of failing with "database is locked": IMMEDIATE
# transactions take the write lock up front, and WAL lets readers go on meanwhile.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "fengqiao.sqlite3")}
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {**SQLITE_OPTIONS, **_db.get("OPTIONS", {})}
    _db["CONN_MAX_AGE"] = 0
    # A file-based test database, so that a Celery worker in another process can share it;
    # one per test run, so that two runs on one machine do not write the same file.
    _db.setdefault("TEST", {})["NAME"] = env_str(
        "FENGQIAO_TEST_DB", str(VAR_DIR / f"test_fengqiao_{os.getpid()}.sqlite3")
    )
else:
    _db["CONN_HEALTH_CHECKS"] = True
    # One test database per test run, as for SQLite.
    _db.setdefault("TEST", {}).setdefault("NAME", f"test_{_db['NAME']}_{os.getpid()}")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Fails soft (grids/cache.py): while Redis is stopped or hung, each process serves the
    # cache, the rate limits and the throttles from its own memory.
    CACHES = {
        "default": {
            "BACKEND": "grids.cache.FailSoftRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "fengqiao"),
            "OPTIONS": {
                "socket_connect_timeout": env_float("CACHE_TIMEOUT_SECONDS", 0.2),
                "socket_timeout": env_float("CACHE_TIMEOUT_SECONDS", 0.2),
                "retry": env_float("CACHE_RETRY_SECONDS", 5.0),
            },
        }
    }
else:
    # Shared by web, worker and beat on one machine without a server.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # Fail fast when Redis is away: the request goes on, the outbox keeps the work.
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
else:
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 120)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish must not hang a web request when the broker is down: the outbox and the
# sweeper carry the work later.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_TIMEZONE = "Asia/Shanghai"
# The outbox relay: each process wakes it at most once per window (seconds), and stops
# trying for a while after the broker failed (grievances/outbox.py).
OUTBOX_KICK_WINDOW = env_float("OUTBOX_KICK_WINDOW", 0.1)
OUTBOX_BROKER_BACKOFF = env_float("OUTBOX_BROKER_BACKOFF", 15.0)
# How long a request waits for a broker that does not answer before the outbox backs off.
OUTBOX_PUBLISH_TIMEOUT = env_float("OUTBOX_PUBLISH_TIMEOUT", 0.5)
# A report is written by one statement prepared once per PostgreSQL connection
# (grievances/newcase.py); off behind a pooler that shares sessions (PgBouncer's
# transaction mode).
NEWCASE_PREPARED = env_bool("NEWCASE_PREPARED", True)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How often beat runs the sweeps (seconds); tests with a real beat make it short.
SWEEP_SECONDS = env_float("FENGQIAO_SWEEP_SECONDS", 60.0)
CELERY_BEAT_SCHEDULE: dict = {
    # The sweeper: hands over whatever the outbox still holds (a publish that failed, a
    # worker that died mid-task). This is what guarantees progress.
    "relay-outbox": {"task": "grievances.tasks.relay_outbox", "schedule": SWEEP_SECONDS},
    # Missed report-in and handling deadlines: supervise once per threshold, escalate later.
    "sla-sweep": {"task": "dispatch.tasks.sweep_sla", "schedule": SWEEP_SECONDS},
    # Email and SMS deliveries, with retries; puts back deliveries stuck in "sending".
    "deliver-notifications": {
        "task": "notifications.tasks.deliver_notifications",
        "schedule": SWEEP_SECONDS,
    },
}
CELERY_BEAT_SCHEDULE.update(
    {
        # Parties that did not choose in time: the centre's assignment by dispute type.
        "mediation-assign-overdue-choices": {
            "task": "mediation.tasks.assign_overdue_choices",
            "schedule": SWEEP_SECONDS,
        },
        # The figures' daily cells: what changed in the last minute, and a nightly wide pass.
        "refresh-figures": {
            "task": "evaluation.tasks.refresh_figures",
            "schedule": SWEEP_SECONDS,
        },
        "refresh-figures-nightly": {
            "task": "evaluation.tasks.refresh_figures_wide",
            "schedule": crontab(hour=3, minute=17),
        },
        "sweep-exports": {
            "task": "evaluation.tasks.sweep_exports",
            "schedule": SWEEP_SECONDS,
        },
        # Successful sign-ins are kept as long as the account slow-down looks back.
        "trim-access-logs": {
            "task": "grids.tasks.trim_access_logs",
            "schedule": crontab(hour=4, minute=7),
        },
        # Photos held for a report sent back with an error: gone after a day (grids.held).
        "sweep-held-uploads": {
            "task": "grids.tasks.sweep_held_uploads",
            "schedule": crontab(minute=23),
        },
        # Agreement terms falling due today: remind the mediator (08:30 Beijing time).
        "mediation-remind-due-terms": {
            "task": "mediation.tasks.remind_due_terms",
            "schedule": crontab(hour=8, minute=30),
        },
    }
)
# Return visits: the share of satisfied, non-escalated cases called back (the rest always are).
RETURN_VISIT_SAMPLE = env_float("RETURN_VISIT_SAMPLE", 0.2)
# The red/black list: weights of the composite score (shown on the page) and list length.
RANKING_WEIGHTS = {"response": 0.3, "on_time": 0.3, "resolution": 0.2, "satisfaction": 0.2}
RANKING_SIZE = env_int("RANKING_SIZE", 5)
# Exports up to this many rows run in the request; larger ones in a worker with progress.
EXPORT_INLINE_MAX = env_int("EXPORT_INLINE_MAX", 2000)
# How late (in working hours past a missed deadline) a case escalates to the centre above.
SLA_ESCALATE_AFTER_WORKING_HOURS = env_float("SLA_ESCALATE_AFTER_WORKING_HOURS", 7)
# Public address of the site, for links in e-mail and SMS.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
# Where text messages go: the console by default; an SMS gateway's backend in production.
SMS_BACKEND = env_str("SMS_BACKEND", "grievances.sms.ConsoleBackend")
# Every SMS starts with the platform's signature (the gateway's registered sign).
SMS_SIGNATURE = env_str("SMS_SIGNATURE", "【枫桥】")
# The SMS gateway's inbound hook (/api/v1/sms/inbound/) answers only with this token;
# empty: the hook is off.
SMS_INBOUND_TOKEN = env_str("SMS_INBOUND_TOKEN", "")
# Complainants' messages wait outside these hours (Beijing time; empty: none), except for
# urgent safety cases.
NOTIFY_QUIET_HOURS = env_str("NOTIFY_QUIET_HOURS", "21:00-08:00")
# Mediation: wrong signing codes a party may type in a day (over all their codes), and
# personal links that do not verify per client address per hour, before either pauses.
MEDIATION_CODE_WRONG_PER_DAY = env_int("MEDIATION_CODE_WRONG_PER_DAY", 10)
MEDIATION_LINK_MISSES_PER_HOUR = env_int("MEDIATION_LINK_MISSES_PER_HOUR", 30)

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "grids.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in guessing slowed down (grids/lockout.py, django-axes with its database handler).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Wrong passwords in a row that lock one (username, address) pair.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
# The first lockout of a pair; each further one lasts twice as long, up to the maximum.
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
LOGIN_LOCKOUT_MAX_MINUTES = env_int("LOGIN_LOCKOUT_MAX_MINUTES", 24 * 60)
# Wrong passwords for one account from all addresses in a window: past it, the account is
# slowed down (sign-ins to it from new addresses refused) for one window.
LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("LOGIN_ACCOUNT_FAILURE_LIMIT", 20)
LOGIN_ACCOUNT_WINDOW_MINUTES = env_int("LOGIN_ACCOUNT_WINDOW_MINUTES", 15)
# An address the account signed in from within these days is not slowed down with it.
LOGIN_KNOWN_ADDRESS_DAYS = env_int("LOGIN_KNOWN_ADDRESS_DAYS", 30)
# Password reset requests per hour, per e-mail address asked for and per client address.
PASSWORD_RESET_PER_EMAIL = env_int("PASSWORD_RESET_PER_EMAIL", 5)
PASSWORD_RESET_PER_ADDRESS = env_int("PASSWORD_RESET_PER_ADDRESS", 20)
AXES_HANDLER = "grids.lockout.LockoutHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = "grids.lockout.cool_off"
AXES_LOCKOUT_CALLABLE = "grids.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "grids.lockout.client_ip"
# A successful sign-in clears the pair's earlier failures.
AXES_RESET_ON_SUCCESS = True
# Attempts while locked are refused without being recorded: a lockout ends when announced.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "fengqiao@localhost")

# --- Internationalisation ----------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static and media -------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs collectstatic; with DEBUG on, pages render from a fresh clone.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Uploaded photos on S3-compatible storage (MinIO, Aliyun OSS, Tencent COS…) when a bucket is
# named; needs `pip install "django-storages[s3]>=1.14,<2"`. Objects stay private: photos
# are only ever served through the scoped view.
if env_str("S3_BUCKET"):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "addressing_style": env_str("S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            "location": env_str("S3_PREFIX", "media"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            "object_parameters": {"CacheControl": "private, max-age=3600"},
        },
    }

# --- API --------------------------------------------------------------------------------
# What one API request may carry (grids/api_input.py): a page of at most this many rows
# (a larger limit or page_size is cut to it), a JSON body of at most this many bytes and
# levels of nesting (larger or deeper ones answer 400; photos come as multipart).
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 200)
API_MAX_JSON_BYTES = env_int("API_MAX_JSON_BYTES", 1024 * 1024)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)
# Complainants on one case: a group case (群体) of a few dozen people fits; more is a 400.
MAX_COMPLAINANTS = env_int("MAX_COMPLAINANTS", 100)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "grids.api_input.LimitOffsetPages",
    "PAGE_SIZE": 50,
    # JSON bodies bounded in size and depth; forms and photos as DRF parses them.
    "DEFAULT_PARSER_CLASSES": [
        "grids.api_input.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The client's address for throttles and sign-in lockouts: the connection's, or behind
    # the TLS proxy the one it appends to X-Forwarded-For (never a header the client wrote).
    "NUM_PROXIES": 1 if env_bool("DJANGO_BEHIND_TLS_PROXY", False) else 0,
    "DEFAULT_THROTTLE_RATES": {
        "public_create": env_str("THROTTLE_PUBLIC_CREATE", "20/hour"),
        "tracking": env_str("THROTTLE_TRACKING", "60/hour"),
        # Opening /r/<token> rating links, per client address.
        "rating_link": env_str("THROTTLE_RATING_LINK", "60/hour"),
        # Nearby open cases at a pin (API and the report page), per client address.
        "nearby": env_str("THROTTLE_NEARBY", "120/hour"),
        # Joins of a nearby case (这就是我要反映的) sent without an account, per client address.
        "join": env_str("THROTTLE_JOIN", "10/hour"),
        # A caller's earlier cases by their phone (the desk's panel, ?phone= of the API),
        # per user: what typing at the desk needs, not a directory of numbers.
        "caller_history": env_str("THROTTLE_CALLER_HISTORY", "300/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "fengqiao API",
    "DESCRIPTION": "Grid-based grievance handling: regions, cases, dispatch, mediation, figures.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "UrgencyEnum": "grievances.models.Urgency",
        "RegionLevelEnum": "grids.models.Level",
        "GridKindEnum": "grids.models.GridKind",
        "CaseKindEnum": "grievances.models.Kind",
        "MediationOrgKindEnum": "mediation.models.OrgKind",
        "MediationCaseStatusEnum": "mediation.models.CaseStatus",
        "ExportKindEnum": "evaluation.models.Export.Kind",
        "HandlingLevelEnum": "grievances.models.HandlingLevel",
        # Village, township or county: a routing rule's level and a category's default.
        "HandlingLevelChoiceEnum": "dispatch.models.HandlingLevelChoice",
        "RejectReasonEnum": "grievances.models.RejectReason",
        # The case's states keep their name beside the joins' states.
        "StateEnum": "grievances.models.State",
        "JoinStateEnum": "duplicates.models.Join.State",
    },
}

# --- Maps -------------------------------------------------------------------------------
MAP_TILE_URL = env_str("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (29.23, 91.77),
    "DEFAULT_ZOOM": 8,
    "TILES": [("map", MAP_TILE_URL, {"attribution": MAP_TILE_ATTRIBUTION})],
    "RESET_VIEW": False,
}

# --- Content Security Policy -----------------------------------------------------------------
# django-csp sends the header on every response, in DEBUG as in production (Django's own
# debug pages for 404 and 500 go without it). Scripts come from this site only, and an inline
# <script> runs only with the request's nonce (`request.csp_nonce`, `{{ CSP_NONCE }}` in
# templates): an injected script or event handler does not run. Inline style attributes stay
# allowed (ECharts' tooltips and Leaflet's markers write them); <style> blocks do not.
# The map tiles' host follows MAP_TILE_URL; CSP_EXTRA_IMG_SRC adds more image sources
# (comma-separated, e.g. a second tile layer).
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE  # noqa: E402

from config.csp import extra_sources, tile_source  # noqa: E402

_csp_img_src = [SELF, "data:", "blob:"]
if tile_source(MAP_TILE_URL):
    _csp_img_src.append(tile_source(MAP_TILE_URL))
_csp_img_src += [
    s
    for s in extra_sources("CSP_EXTRA_IMG_SRC", env_list("CSP_EXTRA_IMG_SRC", []))
    if s not in _csp_img_src
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-elem": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": _csp_img_src,
        "font-src": [SELF],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Right after SecurityMiddleware, so that it also sees the responses of every other one.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "config.csp_fast.CachedPolicyMiddleware",
)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("csp.context_processors.nonce")
# Swagger UI would show a badge from validator.swagger.io (an image from another site) on
# any host but localhost.
SPECTACULAR_SETTINGS.setdefault("SWAGGER_UI_SETTINGS", {"deepLinking": True})["validatorUrl"] = None

# --- Working time ------------------------------------------------------------------------
# Working hours of a working day (Beijing time); deadlines count working time.
WORKING_HOURS = [("08:30", "12:00"), ("14:30", "18:00")]

# --- Regions ----------------------------------------------------------------------------
# How often (seconds) a process asks the database whether boundaries changed before it
# locates a point; 0 asks every time.
LOCATE_INDEX_CHECK_SECONDS = env_float("LOCATE_INDEX_CHECK_SECONDS", 2.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # 4xx responses and 503s are one line each (config/logs.py).
    "filters": {"one_line_client_errors": {"()": "config.logs.OneLineClientErrors"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["one_line_client_errors"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Django's own handlers for these would print the traceback around our filter.
        "django.request": {"handlers": ["console"], "propagate": False},
        "django.security": {"handlers": ["console"], "propagate": False},
        "django.server": {"handlers": ["console"], "propagate": False},
    },
}

if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    LOCATE_INDEX_CHECK_SECONDS = 0
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Publishes from tests stay in memory; tests with a real worker set their own broker.
    CELERY_BROKER_URL = env_str("FENGQIAO_TEST_BROKER_URL", "memory://")
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
