"""Settings of the benchmark servers: the test settings without the limits a benchmark trips."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (10**9, 3600)
ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 10**9
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
MEDIA_ROOT = DATA_DIR / "bench-media"  # noqa: F405
