"""Settings of the processes the reliability suite starts (uvicorn servers, workers, sweeps).

The test settings, then what the suite's pipeline hands each process in its environment: the
bucket, queue and callback URL of the moto server it started (``tests.settings`` fixes a test
bucket and a callback URL that are right for the in-process tests only), and upload limits high
enough for bursts of many uploads from one address.
"""

import os

from tests.settings import *  # noqa: F403

for _name in ("BUCKET", "ENDPOINT_URL", "QUEUE_URL", "CALLBACK_URL"):
    if os.environ.get(f"ASYNC_IMAGE_UPLOAD_{_name}"):
        globals()[f"ASYNC_IMAGE_UPLOAD_{_name}"] = os.environ[f"ASYNC_IMAGE_UPLOAD_{_name}"]

ASYNC_IMAGE_UPLOAD_ALLOW_ANONYMOUS = True
ASYNC_IMAGE_UPLOAD_RATE_LIMIT = (1_000_000, 3600)
ASYNC_IMAGE_UPLOAD_ANONYMOUS_RATE_LIMIT = (1_000_000, 3600)
ASYNC_IMAGE_UPLOAD_MAX_PENDING_PER_OWNER = 1_000_000
