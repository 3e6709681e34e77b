"""Settings of the bundled project, from the environment (12-factor).

Embedded defaults run the demo with nothing installed: SQLite under ``var/``, the in-memory
channel layer. Set ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (channels-redis) in production.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ASYNCIMG_DATA_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# The fallback key only serves local runs; `manage.py check --deploy` flags it in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-local-demo-key-change-me")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "asyncimg",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Under ASGI every request runs its ORM code in a thread of its own, so persistent
    # connections (CONN_MAX_AGE) are never reused: without a pool each request would pay a new
    # PostgreSQL connection (~40 % of a mutation's CPU, measured by bench/presign.py).
    # Each connection the pool hands out is checked by the backend, which replaces all the
    # pool's dead connections at the first one found (config/postgresql/base.py), instead of
    # psycopg_pool's check with its backoff.
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "20"))}
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Concurrent writers (ASGI threads, the worker's callbacks) without "database is locked";
    # synchronous=NORMAL is safe with WAL (a power cut may lose the last commits, never corrupt).
    # The same as config.embedded.tune_sqlite gives projects that set neither.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    # Pub/sub flavour: one PUBLISH per group message whatever the number of subscribers; see
    # docs/realtime.md for why, and how clients recover from lost messages.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"asyncimg": {"handlers": ["console"], "level": "INFO"}},
}

# --- django-async-image-upload -----------------------------------------------------------------
ASYNC_IMAGE_UPLOAD_BUCKET = os.environ.get("ASYNC_IMAGE_UPLOAD_BUCKET")
ASYNC_IMAGE_UPLOAD_ENDPOINT_URL = os.environ.get("ASYNC_IMAGE_UPLOAD_ENDPOINT_URL")
ASYNC_IMAGE_UPLOAD_REGION = os.environ.get("ASYNC_IMAGE_UPLOAD_REGION", "us-east-1")
ASYNC_IMAGE_UPLOAD_MEDIA_URL = os.environ.get("ASYNC_IMAGE_UPLOAD_MEDIA_URL")
ASYNC_IMAGE_UPLOAD_QUEUE_URL = os.environ.get("ASYNC_IMAGE_UPLOAD_QUEUE_URL")
ASYNC_IMAGE_UPLOAD_CALLBACK_URL = os.environ.get("ASYNC_IMAGE_UPLOAD_CALLBACK_URL")
ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = env_list("ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS")
ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = env_bool("ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS", False)
ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT = int(
    os.environ.get("ASYNC_IMAGE_UPLOAD_PROCESSING_TIMEOUT", 900)
)
ASYNC_IMAGE_UPLOAD_GRAPHIQL = env_bool("ASYNC_IMAGE_UPLOAD_GRAPHIQL", DEBUG)
ASYNC_IMAGE_UPLOAD_GRAPHQL_INTROSPECTION = env_bool(
    "ASYNC_IMAGE_UPLOAD_GRAPHQL_INTROSPECTION", DEBUG
)
ASYNC_IMAGE_UPLOAD_WEBSOCKET_ALLOWED_ORIGINS = (
    env_list("ASYNC_IMAGE_UPLOAD_WEBSOCKET_ALLOWED_ORIGINS") or None
)
# Prometheus metrics at /async_image/metrics/ for `Authorization: Bearer <token>` or staff users.
ASYNC_IMAGE_UPLOAD_METRICS = env_bool("ASYNC_IMAGE_UPLOAD_METRICS", False)
ASYNC_IMAGE_UPLOAD_METRICS_TOKEN = os.environ.get("ASYNC_IMAGE_UPLOAD_METRICS_TOKEN")
ASYNC_IMAGE_UPLOAD_TRACING = env_bool("ASYNC_IMAGE_UPLOAD_TRACING", False)
PROCESSED_IMAGE_MODEL = "asyncimg.ProcessedImage"
