"""Settings of the benchmark servers: the bundled project's, with a bucket, callback secrets and
none of the limits a benchmark trips (nothing from the test suite: benchmarks stand alone)."""

from config.settings import *  # noqa: F403

SECRET_KEY = "bench-secret-key-not-for-production-use"
# Users are created by the thousand before measuring; the hash is never checked in a request.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
# No console handler for asyncimg: a log line per request is not what is measured.
LOGGING = {"version": 1, "disable_existing_loggers": False}
ROOT_URLCONF = "bench.urls"

ASYNC_IMAGE_UPLOAD_BUCKET = "asyncimg-bench"
ASYNC_IMAGE_UPLOAD_REGION = "us-east-1"
ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ["bench-callback-secret"]
ASYNC_IMAGE_UPLOAD_CALLBACK_URL = "http://127.0.0.1:8000/async_image/callback/"
ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (10**9, 3600)
ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 10**9
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
MEDIA_ROOT = DATA_DIR / "bench-media"  # noqa: F405
