"""bench/settings.py plus the two peers, set up as their documentation says: S3 through
django-storages (moto server at ``BENCH_S3_ENDPOINT``) for django-s3-file-field, and one
``S3DIRECT_DESTINATIONS`` entry that requires a logged-in user for django-s3direct."""

import os

from django.conf import global_settings

from bench.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework", "s3_file_field", "s3direct", "bench.peers"]  # noqa: F405
ROOT_URLCONF = "bench.peers.urls"
# Its system check uploads a test object: the benchmark's servers start with --no-checks anyway.
SILENCED_SYSTEM_CHECKS = ["s3_file_field.E002"]

PEERS_BUCKET = "bench-peers"
AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID", "testing")
AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
AWS_STORAGE_BUCKET_NAME = PEERS_BUCKET
AWS_S3_REGION_NAME = "us-east-1"
AWS_S3_ENDPOINT_URL = os.environ.get("BENCH_S3_ENDPOINT", "http://127.0.0.1:9")
STORAGES = {
    **global_settings.STORAGES,
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": PEERS_BUCKET,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "region_name": "us-east-1",
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
        },
    },
}
S3DIRECT_DESTINATIONS = {
    "photos": {
        "key": "uploads/photos",
        "auth": lambda user: user.is_authenticated,
        "allowed": ["image/jpeg", "image/png", "image/webp", "image/gif"],
        "content_length_range": (1, 10 * 1024 * 1024),
    }
}
