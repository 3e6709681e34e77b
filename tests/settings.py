"""Test settings: the bundled project's, with a test bucket and callback secrets.

``DATABASE_URL`` selects the database (PostgreSQL in CI); ``REDIS_URL`` is used by the tests that
ask for the Redis channel layer, while the default layer stays in memory for unit tests.
"""

import os

from config.settings import *  # noqa: F403

SECRET_KEY = "tests-secret-key-long-enough-for-hs256-jwt-signing"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Live servers of a test may be pointed at the test's own bucket through the environment.
ASYNC_IMAGE_UPLOAD_BUCKET = os.environ.get("ASYNCIMG_TEST_BUCKET", "asyncimg-test")
ASYNC_IMAGE_UPLOAD_REGION = "us-east-1"
ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = ["test-callback-secret"]
ASYNC_IMAGE_UPLOAD_CALLBACK_URL = "http://127.0.0.1:8000/async_image/callback/"
ASYNC_IMAGE_UPLOAD_GRAPHIQL = True
# Bearer tokens signed by tests/tokens.py (also for the live servers and the JS client tests).
ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "tests.tokens.authenticate"
ASYNC_IMAGE_UPLOAD_GRAPHQL_INTROSPECTION = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Short websocket timers for the live-server test of pings and the connection_init deadline.
ASYNC_IMAGE_UPLOAD_CONNECTION_INIT_TIMEOUT = float(os.environ.get("ASYNCIMG_TEST_INIT_TIMEOUT", 10))
ASYNC_IMAGE_UPLOAD_KEEPALIVE_INTERVAL = float(os.environ.get("ASYNCIMG_TEST_KEEPALIVE", 15))

# Live-server tests run uvicorn processes against the test database and a real Redis layer.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATA_DIR.mkdir(parents=True, exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
if os.environ.get("ASYNCIMG_TEST_REDIS_LAYER"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [os.environ["ASYNCIMG_TEST_REDIS_LAYER"]]},
        }
    }
